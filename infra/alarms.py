"""Alarms: CloudWatch alarms as code, an SNS topic per environment, email and Slack (AWS Chatbot).

Every alarm reads a metric some emitter really produces; ``MetricRef.source`` says which one:

* ``airflow``: Airflow's StatsD metrics (names from Airflow's ``metrics_template.yaml``, legacy
  names off), published by the CloudWatch agent's StatsD listener in our namespace under the
  ``airflow.`` prefix with the one dimension the agent adds, ``metric_type`` (``counter``,
  ``gauge``, ``timing``; ``omit_hostname`` drops ``host``: see ``infra.observability``);
* ``platform``: the DAG library's own StatsD metrics (``batch_platform.*``, same path);
* ``container-insights``: the agent's Container Insights metrics (``ContainerInsights``, the
  dimension sets of ``infra/data/container-insights-metric-declarations.json``);
* ``rds``: Amazon RDS's ``AWS/RDS`` metrics by ``DBInstanceIdentifier``;
* ``log-filter``: a metric filter of ours on the container logs (the cluster autoscaler's lines);
* ``patch-status``: the node patch-status tool's ``PatchLagDays`` (``stacks/patching/aws.py``:
  ``BatchPlatform/NodePatching`` by ``Stack`` and ``NodeGroup``, published daily by the workflow);
* ``hook``: ``NodeGroupUpdateFailures`` in the same namespace, which nothing publishes yet
  (docs/operations.md): the alarm waits in INSUFFICIENT_DATA, never pages.

Every alarm notifies the topic on ALARM and on OK. docs/operations.md has one runbook entry per
alarm name below. ``alarm_specs`` is pure and tested; the component only registers what it returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

AIRFLOW_STATSD_PREFIX = "airflow"
"""Airflow's [metrics] statsd_prefix (its default): the StatsD client puts it before every name."""
PLATFORM_METRIC_PREFIX = "batch_platform"
"""The DAG library's metric names (``dags/batch_platform/job_diagnosis.py``), after Airflow's prefix."""
JOB_WITHOUT_PODS_METRIC = f"{PLATFORM_METRIC_PREFIX}.job_without_pods"
JOB_FAILURE_METRIC = f"{PLATFORM_METRIC_PREFIX}.job_failed"

PATCHING_NAMESPACE = "BatchPlatform/NodePatching"
"""Node patching's namespace (``stacks.patching.aws.METRIC_NAMESPACE``; a test keeps them equal)."""
PATCH_LAG_METRIC = "PatchLagDays"
"""``patch-status --metric``: one datapoint per node group, dimensions Stack and NodeGroup."""
NODE_GROUP_UPDATE_FAILURES_METRIC = "NodeGroupUpdateFailures"
"""The hook for failed managed node group updates (dimension Stack): nothing publishes it yet."""

CLUSTER_NAMESPACE = "BatchPlatform/Cluster"
"""Metrics of our log metric filters on the container logs."""
AUTOSCALER_FAILURES_METRIC = "ClusterAutoscalerFailedScaleUps"
AUTOSCALER_CONTAINER = "cluster-autoscaler"
# The autoscaler's main loop logs every failed scale-up as "Failed to scale up: <error>"
# (kubernetes/autoscaler, core/static_autoscaler.go); Fluent Bit ships it as JSON with the
# container name under kubernetes.container_name and the line under log.
AUTOSCALER_FAILURE_PATTERN = (
    f'{{ ($.kubernetes.container_name = "{AUTOSCALER_CONTAINER}") && ($.log = "*Failed to scale up*") }}'
)

RDS_NAMESPACE = "AWS/RDS"
CONTAINER_INSIGHTS_NAMESPACE = "ContainerInsights"

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class MetricRef:
    """One CloudWatch metric: what the alarm (or the dashboard) reads."""

    source: str
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    statistic: str


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm. A single metric, or ``expression`` over ``metrics`` (ids m0, m1, ...)."""

    name: str
    """Short name, also the runbook entry's heading in docs/operations.md."""
    description: str
    metrics: Sequence[MetricRef]
    period_seconds: int
    evaluation_periods: int
    comparison: str
    threshold: float
    treat_missing_data: str
    datapoints_to_alarm: Optional[int] = None
    expression: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The alarm thresholds (the ``alarms.thresholds`` section of the typed config)."""

    heartbeat_missing_minutes: int
    import_errors: int
    task_failures_per_hour: int
    queued_without_running_minutes: int
    schedule_delay_seconds: int
    oom_killed_containers: int
    job_without_pods: int
    pods_pending_minutes: int
    failed_nodes: int
    autoscaler_failures: int
    node_group_update_failures: int
    database_cpu_percent: int
    database_free_storage_gib: int
    database_freeable_memory_mib: int
    database_connections_percent: int
    patch_lag_days: float
    """``cluster.patching.max_lag_days`` (node patching's own limit)."""


@dataclass(frozen=True, kw_only=True)
class AlarmSettings:
    """Everything the alarms depend on, as plain data."""

    prefix: str
    """Alarm name prefix, e.g. ``batch-platform-prod``."""
    cluster_name: str
    stack: str
    """The stack name: the patching metrics' ``Stack`` dimension."""
    node_groups: Sequence[str]
    """The node group roles (``system``, ``batch``): the patching metrics' ``NodeGroup`` dimension."""
    database_identifier: str
    airflow_namespace: str
    """CloudWatch namespace of the StatsD metrics (``observability.metrics_namespace``)."""
    database_pool_capacity: int
    """Server connections PgBouncer may open in total (pool sizes x replicas)."""
    thresholds: Thresholds


def airflow_metric(namespace: str, name: str, metric_type: str, statistic: str, source: str = "airflow") -> MetricRef:
    """An Airflow (or platform) StatsD metric as the CloudWatch agent publishes it."""
    return MetricRef(source, namespace, f"{AIRFLOW_STATSD_PREFIX}.{name}", {"metric_type": metric_type}, statistic)


def container_insights(cluster_name: str, name: str, statistic: str) -> MetricRef:
    return MetricRef("container-insights", CONTAINER_INSIGHTS_NAMESPACE, name, {"ClusterName": cluster_name}, statistic)


def rds(identifier: str, name: str, statistic: str) -> MetricRef:
    return MetricRef("rds", RDS_NAMESPACE, name, {"DBInstanceIdentifier": identifier}, statistic)


def patch_lag(stack: str, node_group: str) -> MetricRef:
    return MetricRef("patch-status", PATCHING_NAMESPACE, PATCH_LAG_METRIC, {"Stack": stack, "NodeGroup": node_group}, "Maximum")


def alarm_specs(s: AlarmSettings) -> list[AlarmSpec]:
    """Every alarm of one environment, in runbook order."""
    t = s.thresholds
    ns = s.airflow_namespace
    heartbeats = [
        (
            f"{component}-heartbeat-missing",
            f"{component}_heartbeat",
            f"No {label} heartbeat for {t.heartbeat_missing_minutes} minutes (no data counts as missing)",
        )
        for component, label in (
            ("scheduler", "scheduler"),
            ("triggerer", "triggerer"),
            ("dag_processor", "DAG processor"),
        )
    ]
    specs = [
        AlarmSpec(
            name=name.replace("_", "-"),
            description=text,
            metrics=[airflow_metric(ns, metric, "counter", "Sum")],
            period_seconds=60,
            evaluation_periods=t.heartbeat_missing_minutes,
            comparison="LessThanThreshold",
            threshold=1,
            treat_missing_data="breaching",
        )
        for name, metric, text in heartbeats
    ]
    specs += [
        AlarmSpec(
            name="dag-import-errors",
            description=f"{t.import_errors} or more DAG files fail to import",
            metrics=[airflow_metric(ns, "dag_processing.import_errors", "gauge", "Maximum")],
            period_seconds=300,
            evaluation_periods=1,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.import_errors,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="task-failures",
            description=f"{t.task_failures_per_hour} or more task instances failed in one hour",
            metrics=[airflow_metric(ns, "ti_failures", "counter", "Sum")],
            period_seconds=3600,
            evaluation_periods=1,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.task_failures_per_hour,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="tasks-queued-none-running",
            description=f"Tasks queued while none ran, for {t.queued_without_running_minutes} minutes",
            metrics=[
                airflow_metric(ns, "executor.queued_tasks", "gauge", "Maximum"),
                airflow_metric(ns, "executor.running_tasks", "gauge", "Maximum"),
            ],
            expression="IF(m0 > 0 AND m1 == 0, 1, 0)",
            period_seconds=60,
            evaluation_periods=t.queued_without_running_minutes,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=1,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="schedule-delay",
            # StatsD timers are in milliseconds.
            description=f"A DAG run started more than {t.schedule_delay_seconds} s after its scheduled time",
            metrics=[airflow_metric(ns, "dagrun.schedule_delay", "timing", "Maximum")],
            period_seconds=900,
            evaluation_periods=1,
            comparison="GreaterThanThreshold",
            threshold=t.schedule_delay_seconds * 1000,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="oom-killed",
            description=f"{t.oom_killed_containers} or more containers were OOM-killed",
            metrics=[container_insights(s.cluster_name, "pod_container_status_terminated_reason_oom_killed", "Maximum")],
            period_seconds=300,
            evaluation_periods=1,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.oom_killed_containers,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="job-without-pods",
            description=f"{t.job_without_pods} or more batch Jobs got no pod in ten minutes (admission, quota, ...)",
            metrics=[airflow_metric(ns, JOB_WITHOUT_PODS_METRIC, "counter", "Sum", source="platform")],
            period_seconds=600,
            evaluation_periods=1,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.job_without_pods,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="pods-pending",
            description=f"Pods pending for {t.pods_pending_minutes} minutes",
            metrics=[container_insights(s.cluster_name, "pod_status_pending", "Minimum")],
            period_seconds=60,
            evaluation_periods=t.pods_pending_minutes,
            comparison="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="nodes-not-ready",
            description=f"{t.failed_nodes} or more nodes have a failing condition (not ready, pressure) for 10 minutes",
            metrics=[container_insights(s.cluster_name, "cluster_failed_node_count", "Maximum")],
            period_seconds=300,
            evaluation_periods=2,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.failed_nodes,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="autoscaler-failures",
            description=f"The cluster autoscaler failed {t.autoscaler_failures} or more scale-ups in 15 minutes",
            metrics=[MetricRef("log-filter", CLUSTER_NAMESPACE, AUTOSCALER_FAILURES_METRIC, {}, "Sum")],
            period_seconds=900,
            evaluation_periods=1,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.autoscaler_failures,
            treat_missing_data="notBreaching",
        ),
        AlarmSpec(
            name="node-group-update-failed",
            description="A managed node group update (AMI roll) failed",
            metrics=[
                MetricRef("hook", PATCHING_NAMESPACE, NODE_GROUP_UPDATE_FAILURES_METRIC, {"Stack": s.stack}, "Sum")
            ],
            period_seconds=3600,
            evaluation_periods=1,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=t.node_group_update_failures,
            treat_missing_data="missing",
        ),
        AlarmSpec(
            name="patch-lag",
            description=f"A node group's AMI lags the newest release by more than {t.patch_lag_days:g} days",
            metrics=[patch_lag(s.stack, group) for group in s.node_groups],
            expression=f"MAX([{', '.join(f'm{i}' for i in range(len(s.node_groups)))}])",
            # patch-status publishes once a day: one datapoint per period.
            period_seconds=86400,
            evaluation_periods=1,
            comparison="GreaterThanThreshold",
            threshold=t.patch_lag_days,
            treat_missing_data="missing",
        ),
        AlarmSpec(
            name="database-cpu",
            description=f"Database CPU above {t.database_cpu_percent}% for 15 minutes",
            metrics=[rds(s.database_identifier, "CPUUtilization", "Average")],
            period_seconds=300,
            evaluation_periods=3,
            comparison="GreaterThanThreshold",
            threshold=t.database_cpu_percent,
            treat_missing_data="missing",
        ),
        AlarmSpec(
            name="database-free-storage",
            description=f"Database free storage below {t.database_free_storage_gib} GiB",
            metrics=[rds(s.database_identifier, "FreeStorageSpace", "Minimum")],
            period_seconds=300,
            evaluation_periods=1,
            comparison="LessThanThreshold",
            threshold=t.database_free_storage_gib * GIB,
            treat_missing_data="missing",
        ),
        AlarmSpec(
            name="database-freeable-memory",
            description=f"Database freeable memory below {t.database_freeable_memory_mib} MiB for 15 minutes",
            metrics=[rds(s.database_identifier, "FreeableMemory", "Minimum")],
            period_seconds=300,
            evaluation_periods=3,
            comparison="LessThanThreshold",
            threshold=t.database_freeable_memory_mib * MIB,
            treat_missing_data="missing",
        ),
        AlarmSpec(
            name="database-connections",
            description=(
                f"Database connections at {t.database_connections_percent}% of PgBouncer's "
                f"{s.database_pool_capacity} server connections"
            ),
            metrics=[rds(s.database_identifier, "DatabaseConnections", "Maximum")],
            period_seconds=300,
            evaluation_periods=2,
            comparison="GreaterThanOrEqualToThreshold",
            threshold=max(1, s.database_pool_capacity * t.database_connections_percent // 100),
            treat_missing_data="missing",
        ),
    ]
    return specs


def metric_alarm_args(spec: AlarmSpec, prefix: str) -> dict:
    """The spec in CloudWatch PutMetricAlarm's terms (the keys botocore validates), without actions."""
    args: dict = {
        "AlarmName": f"{prefix}-{spec.name}",
        "AlarmDescription": f"{spec.description}. Runbook: docs/operations.md#{spec.name}",
        "EvaluationPeriods": spec.evaluation_periods,
        "DatapointsToAlarm": spec.datapoints_to_alarm or spec.evaluation_periods,
        "ComparisonOperator": spec.comparison,
        "Threshold": float(spec.threshold),
        "TreatMissingData": spec.treat_missing_data,
    }
    dims = lambda m: [{"Name": k, "Value": v} for k, v in sorted(m.dimensions.items())]  # noqa: E731
    if spec.expression is None:
        (m,) = spec.metrics
        args.update(
            Namespace=m.namespace, MetricName=m.name, Dimensions=dims(m), Statistic=m.statistic, Period=spec.period_seconds
        )
    else:
        args["Metrics"] = [
            {
                "Id": f"m{i}",
                "MetricStat": {
                    "Metric": {"Namespace": m.namespace, "MetricName": m.name, "Dimensions": dims(m)},
                    "Period": spec.period_seconds,
                    "Stat": m.statistic,
                },
                "ReturnData": False,
            }
            for i, m in enumerate(spec.metrics)
        ] + [{"Id": "e0", "Expression": spec.expression, "Label": spec.name, "ReturnData": True}]
    return args


def topic_key_policy(partition: str, account_id: str) -> str:
    """The topic's KMS key: the account administers it; CloudWatch encrypts the alarms it publishes.
    (SNS's AWS managed key cannot be used: its policy does not let CloudWatch publish.)"""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchAlarms",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                },
            ],
        },
        sort_keys=True,
    )


def topic_policy(topic_arn: str, account_id: str) -> str:
    """Only this account's CloudWatch alarms publish to the topic."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CloudWatchAlarms",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        },
        sort_keys=True,
    )


CHATBOT_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "chatbot.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    },
    sort_keys=True,
)
# What the channel may do on behalf of its members: read the alarm it was sent (AWS Chatbot's
# "Notification permissions" template), nothing else; the guardrail caps it the same way.
CHATBOT_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"],
                "Resource": "*",
            }
        ],
    },
    sort_keys=True,
)
CHATBOT_GUARDRAIL = "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"


@dataclass(frozen=True)
class SlackChannel:
    workspace_id: str
    channel_id: str


@dataclass(frozen=True, kw_only=True)
class AlarmsArgs:
    """Inputs of the Alarms component."""

    settings: AlarmSettings
    email_addresses: Sequence[str] = ()
    """Subscribed to the topic (each address confirms once by mail)."""
    slack_channels: Sequence[SlackChannel] = ()
    """Posted to through AWS Chatbot (the workspace is authorised once in the Chatbot console)."""
    application_log_group: Optional[pulumi.Input[str]] = None
    """The container log group the autoscaler metric filter reads (from ``Observability``)."""
    tags: Mapping[str, str] = field(default_factory=dict)


class Alarms(pulumi.ComponentResource):
    """The environment's alarm topic, its subscribers and every alarm of ``alarm_specs``."""

    topic_arn: pulumi.Output[str]
    alarm_names: list[str]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: AlarmsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:Alarms", name, None, opts)
        s = args.settings
        specs = alarm_specs(s)  # pure: a bad setting fails before anything is registered
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition

        key = aws.kms.Key(
            f"{name}-topic-key",
            description=f"Encrypts the alarm topic of {s.prefix}",
            enable_key_rotation=True,
            policy=pulumi.Output.all(partition, account).apply(lambda v: topic_key_policy(v[0], v[1])),
            tags=dict(args.tags),
            opts=child,
        )
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{s.prefix}-alarms",
            kms_master_key_id=key.arn,
            tags=dict(args.tags),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, account).apply(lambda v: topic_policy(v[0], v[1])),
            opts=child,
        )
        for i, address in enumerate(args.email_addresses):
            aws.sns.TopicSubscription(
                f"{name}-email-{i}", topic=topic.arn, protocol="email", endpoint=address, opts=child
            )
        if args.slack_channels:
            role = aws.iam.Role(f"{name}-chatbot", assume_role_policy=CHATBOT_TRUST, tags=dict(args.tags), opts=child)
            aws.iam.RolePolicy(f"{name}-chatbot", role=role.id, policy=CHATBOT_POLICY, opts=child)
            for i, channel in enumerate(args.slack_channels):
                aws.chatbot.SlackChannelConfiguration(
                    f"{name}-slack-{i}",
                    configuration_name=f"{s.prefix}-alarms-{i}",
                    iam_role_arn=role.arn,
                    slack_team_id=channel.workspace_id,
                    slack_channel_id=channel.channel_id,
                    sns_topic_arns=[topic.arn],
                    guardrail_policy_arns=[CHATBOT_GUARDRAIL],
                    logging_level="ERROR",
                    tags=dict(args.tags),
                    opts=child,
                )

        if args.application_log_group is not None:
            aws.cloudwatch.LogMetricFilter(
                f"{name}-autoscaler-failures",
                log_group_name=args.application_log_group,
                pattern=AUTOSCALER_FAILURE_PATTERN,
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    namespace=CLUSTER_NAMESPACE, name=AUTOSCALER_FAILURES_METRIC, value="1", unit="Count"
                ),
                opts=child,
            )

        self.alarm_names = []
        self.alarm_arns = []
        for spec in specs:
            a = metric_alarm_args(spec, s.prefix)
            common = dict(
                name=a["AlarmName"],
                alarm_description=a["AlarmDescription"],
                evaluation_periods=a["EvaluationPeriods"],
                datapoints_to_alarm=a["DatapointsToAlarm"],
                comparison_operator=a["ComparisonOperator"],
                threshold=a["Threshold"],
                treat_missing_data=a["TreatMissingData"],
                alarm_actions=[topic.arn],
                ok_actions=[topic.arn],
                tags=dict(args.tags),
                opts=child,
            )
            if "Metrics" in a:
                queries = [
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id=q["Id"],
                        expression=q.get("Expression"),
                        label=q.get("Label"),
                        return_data=q["ReturnData"],
                        metric=(
                            aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                                namespace=q["MetricStat"]["Metric"]["Namespace"],
                                metric_name=q["MetricStat"]["Metric"]["MetricName"],
                                dimensions={d["Name"]: d["Value"] for d in q["MetricStat"]["Metric"]["Dimensions"]},
                                period=q["MetricStat"]["Period"],
                                stat=q["MetricStat"]["Stat"],
                            )
                            if "MetricStat" in q
                            else None
                        ),
                    )
                    for q in a["Metrics"]
                ]
                alarm = aws.cloudwatch.MetricAlarm(f"{name}-{spec.name}", metric_queries=queries, **common)
            else:
                alarm = aws.cloudwatch.MetricAlarm(
                    f"{name}-{spec.name}",
                    namespace=a["Namespace"],
                    metric_name=a["MetricName"],
                    dimensions={d["Name"]: d["Value"] for d in a["Dimensions"]},
                    statistic=a["Statistic"],
                    period=a["Period"],
                    **common,
                )
            self.alarm_names.append(a["AlarmName"])
            self.alarm_arns.append(alarm.arn)
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn, "alarm_names": self.alarm_names})

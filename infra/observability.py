"""Observability: the Amazon CloudWatch Observability EKS add-on, its identity and its log groups.

The add-on (``amazon-cloudwatch-observability``) runs the CloudWatch agent and Fluent Bit as
DaemonSets in its own namespace, ``amazon-cloudwatch``: they need host access (host network,
``/var/log``, the container runtime), which the ``airflow`` and ``batch-jobs`` namespaces never
grant. It gives:

* Container Insights with enhanced observability: the ``ContainerInsights`` metrics of nodes, pods
  and containers (OOM kills, pending pods, failed nodes, ...), their raw events in
  ``/aws/containerinsights/<cluster>/performance``;
* container logs of every pod, batch Jobs included, in ``/aws/containerinsights/<cluster>/application``
  (node logs in ``/host`` and ``/dataplane``);
* a StatsD listener (``:8125`` on every node) that publishes Airflow's metrics in our namespace.

The four log groups are ours, created before the add-on with the configured retention and kept on
destroy like every log group a service writes to by name (``infra.log_groups``): without them the
agent would create them with no retention. So the agent's role may write to exactly these groups,
never set a retention and never create another group. It publishes metrics only in ``ContainerInsights`` and our namespace.

The pure parts (agent configuration, add-on configuration values, IAM policy, log group names)
are module functions, checked in the tests against the agent's published JSON schema and the key
tree of the chart the add-on is built from (``infra/data``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import jsonschema

import pulumi
import pulumi_aws as aws

from infra.irsa import irsa_role
from infra.log_groups import ServiceLogGroup, service_log_groups

ADDON_NAME = "amazon-cloudwatch-observability"
ADDON_NAMESPACE = "amazon-cloudwatch"
"""Fixed by the add-on: its DaemonSets, operator and service account live here."""
AGENT_SERVICE_ACCOUNT = "cloudwatch-agent"
"""The service account of the agent and of Fluent Bit (the chart's ``cloudwatch-agent.serviceAccountName``)."""
CONTAINER_INSIGHTS_NAMESPACE = "ContainerInsights"
STATSD_PORT = 8125
AGENT_SERVICE_HOST = f"cloudwatch-agent.{ADDON_NAMESPACE}.svc.cluster.local"
"""The agent's Service, which the add-on's operator creates with a port per receiver of the agent
configuration (8125/UDP for StatsD): where Airflow sends its metrics."""

LOG_GROUP_KINDS = ("application", "dataplane", "host", "performance")
"""application: containers' stdout/stderr; dataplane: kubelet, containerd; host: the nodes' system
logs; performance: Container Insights' raw events (the metrics are extracted from them)."""

STATSD_INTERVAL_SECONDS = 60
"""Collect and aggregate each minute: one data point per metric and minute (the alarms' resolution)."""


def log_group_prefix(cluster_name: str) -> str:
    """What the names of a cluster's Container Insights log groups start with (one lookup for all)."""
    return f"/aws/containerinsights/{cluster_name}/"


def log_group_name(cluster_name: str, kind: str) -> str:
    if kind not in LOG_GROUP_KINDS:
        raise ValueError(f"unknown Container Insights log group {kind!r}: expected one of {LOG_GROUP_KINDS}")
    return f"{log_group_prefix(cluster_name)}{kind}"


def agent_configuration(metrics_namespace: str) -> dict[str, Any]:
    """The CloudWatch agent's configuration file (the add-on's ``agent.config``).

    Giving one replaces the add-on's default, so it asks again for Container Insights with enhanced
    observability (AWS docs, "Install the CloudWatch agent with the Amazon CloudWatch Observability
    EKS add-on", configuration section) and adds the StatsD listener. ``omit_hostname`` keeps the
    node's name out of the StatsD metrics' dimensions: Airflow's metrics then carry only
    ``metric_type`` and an alarm reads one series whichever node the pods run on.
    """
    return {
        "agent": {"omit_hostname": True},
        "logs": {"metrics_collected": {"kubernetes": {"enhanced_container_insights": True}}},
        "metrics": {
            "namespace": metrics_namespace,
            "metrics_collected": {
                "statsd": {
                    "service_address": f":{STATSD_PORT}",
                    "metrics_collection_interval": STATSD_INTERVAL_SECONDS,
                    "metrics_aggregation_interval": STATSD_INTERVAL_SECONDS,
                }
            },
        },
    }


def addon_configuration(metrics_namespace: str) -> dict[str, Any]:
    """The add-on's configuration values: container logs on, and our agent configuration.

    The chart's default tolerations (``operator: Exists``) stay: the DaemonSets must run on the
    tainted system and batch nodes alike, or a batch Job's logs would never be collected.
    """
    return {
        "containerLogs": {"enabled": True},
        "agent": {"config": agent_configuration(metrics_namespace)},
    }


DATA = Path(__file__).parent / "data"


@cache
def _agent_schema() -> dict[str, Any]:
    return json.loads((DATA / "cloudwatch-agent-schema.json").read_text())


@cache
def _chart_keys() -> dict[str, Any]:
    return json.loads((DATA / "cloudwatch-observability-values-keys.json").read_text())["keys"]


# Keys whose value is free-form in the chart (a whole document, a list): not walked further.
_OPAQUE_KEYS = {("agent", "config"), ("agent", "otelConfig"), ("tolerations",), ("agents",)}


def _unknown_keys(values: Mapping[str, Any], tree: Mapping[str, Any], path: tuple[str, ...]) -> list[str]:
    found = []
    for key, value in values.items():
        here = (*path, key)
        if key not in tree:
            found.append(f"{'.'.join(here)}: not a key of the add-on's chart (known here: {sorted(tree)})")
        elif here not in _OPAQUE_KEYS and isinstance(value, Mapping) and isinstance(tree[key], Mapping) and tree[key]:
            found += _unknown_keys(value, tree[key], here)
    return found


def addon_configuration_problems(values: Mapping[str, Any]) -> list[str]:
    """What is wrong with the add-on's configuration values: keys the add-on's chart does not have
    (``infra/data/cloudwatch-observability-values-keys.json``), and an ``agent.config`` the
    CloudWatch agent's own JSON schema (``infra/data/cloudwatch-agent-schema.json``) rejects.
    EKS rejects such values only when the add-on is created, after everything before it."""
    problems = _unknown_keys(values, _chart_keys(), ())
    config = (values.get("agent") or {}).get("config")
    if config is not None:
        validator = jsonschema.Draft4Validator(_agent_schema())
        for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"agent.config.{where}: {error.message}")
    return problems


def agent_policy(partition: str, region: str, account_id: str, cluster_name: str, metrics_namespace: str) -> str:
    """What the agent and Fluent Bit may do: write to our four log groups (never set their retention,
    never create another group), publish metrics in ContainerInsights and our namespace only, and read the
    EC2 metadata Container Insights decorates node metrics with."""
    groups = [
        f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group_name(cluster_name, kind)}"
        for kind in LOG_GROUP_KINDS
    ]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WriteOwnLogGroups",
                    "Effect": "Allow",
                    # CreateLogGroup on these groups only: Fluent Bit asks for its group before it
                    # sends (auto_create_group) and accepts "already exists"; the retention stays ours
                    # (no PutRetentionPolicy), and no other group can be created.
                    "Action": [
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": [f"{g}:*" for g in groups] + groups,
                },
                {
                    # DescribeLogGroups does not support resource-level permissions.
                    "Sid": "FindLogGroups",
                    "Effect": "Allow",
                    "Action": "logs:DescribeLogGroups",
                    "Resource": "*",
                },
                {
                    "Sid": "PublishMetrics",
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"cloudwatch:namespace": [CONTAINER_INSIGHTS_NAMESPACE, metrics_namespace]}
                    },
                },
                {
                    "Sid": "NodeMetadata",
                    "Effect": "Allow",
                    "Action": ["ec2:DescribeTags", "ec2:DescribeVolumes", "ec2:DescribeInstances"],
                    "Resource": "*",
                },
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True, kw_only=True)
class ObservabilityArgs:
    """Inputs of the Observability component."""

    cluster_name: str
    """Physical name of the EKS cluster (the log group names contain it)."""

    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider: the agent's role trusts its ``cloudwatch-agent`` service account."""

    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL."""

    region: str
    metrics_namespace: str
    """CloudWatch namespace of the StatsD metrics (Airflow's)."""

    retention_days: Mapping[str, int]
    """Retention per log group kind (``LOG_GROUP_KINDS``), from the typed config."""

    addon_version: Optional[str] = None
    """Add-on version; None: the default version EKS offers when the add-on is created."""

    wait_for: Sequence[pulumi.Resource] = ()
    """The node groups (the add-on's DaemonSets need nodes to become healthy)."""

    tags: Mapping[str, str] = field(default_factory=dict)


class Observability(pulumi.ComponentResource):
    """Container Insights, container logs and the StatsD listener through the EKS add-on."""

    log_group_names: dict[str, pulumi.Output[str]]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:Observability", name, None, opts)
        missing = sorted(set(LOG_GROUP_KINDS) - set(args.retention_days))
        if missing:
            raise ValueError(f"retention_days has no value for the log groups {missing}")
        configuration = addon_configuration(args.metrics_namespace)
        problems = addon_configuration_problems(configuration)
        if problems:
            raise ValueError(f"{ADDON_NAME} configuration values: " + "; ".join(problems))
        groups = service_log_groups(
            [
                ServiceLogGroup(
                    resource_name=f"{name}-{kind}",
                    name=log_group_name(args.cluster_name, kind),
                    retention_in_days=args.retention_days[kind],
                    tags={"Name": log_group_name(args.cluster_name, kind), "durable": "true", **args.tags},
                )
                for kind in LOG_GROUP_KINDS
            ],
            lookup_prefix=log_group_prefix(args.cluster_name),
            parent=self,
        )
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        policy = pulumi.Output.all(partition.partition, identity.account_id).apply(
            lambda v: agent_policy(v[0], args.region, v[1], args.cluster_name, args.metrics_namespace)
        )
        role = irsa_role(
            f"{name}-agent",
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=ADDON_NAMESPACE,
            service_account=AGENT_SERVICE_ACCOUNT,
            inline_policy=policy,
            parent=self,
        )
        aws.eks.Addon(
            f"{name}-addon",
            cluster_name=args.cluster_name,
            addon_name=ADDON_NAME,
            addon_version=args.addon_version,
            service_account_role_arn=role.arn,
            configuration_values=json.dumps(configuration, sort_keys=True),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*groups, *args.wait_for]),
        )
        self.log_group_names = {kind: group.name for kind, group in zip(LOG_GROUP_KINDS, groups)}
        self.role_arn = role.arn
        self.register_outputs({"log_group_names": self.log_group_names, "role_arn": self.role_arn})

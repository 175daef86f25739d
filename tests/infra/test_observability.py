"""The CloudWatch Observability add-on: its configuration values, its role, its log groups, in the plans."""

from __future__ import annotations

import json

import pytest

from infra.observability import (
    ADDON_NAME,
    ADDON_NAMESPACE,
    LOG_GROUP_KINDS,
    addon_configuration,
    addon_configuration_problems,
    agent_policy,
    log_group_name,
)

ADDON = "aws:eks/addon:Addon"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def test_our_configuration_values_pass_the_agents_schema_and_the_charts_keys():
    assert addon_configuration_problems(addon_configuration("BatchPlatform/Airflow")) == []


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda v: v.update(containerLog={"enabled": True}), "containerLog: not a key of the add-on's chart"),
        (lambda v: v["containerLogs"].update(enable=True), "containerLogs.enable: not a key"),
        (
            lambda v: v["agent"]["config"]["metrics"]["metrics_collected"]["statsd"].update(port=8125),
            "agent.config.metrics.metrics_collected.statsd: Additional properties are not allowed ('port'",
        ),
        (
            lambda v: v["agent"]["config"]["metrics"].update(namespace=""),
            "agent.config.metrics.namespace: ''",
        ),
        (
            lambda v: v["agent"]["config"]["metrics"]["metrics_collected"]["statsd"].update(
                metrics_aggregation_interval="60s"
            ),
            "agent.config.metrics.metrics_collected.statsd.metrics_aggregation_interval",
        ),
    ],
)
def test_a_wrong_key_or_value_is_reported_with_its_path(mutate, expected):
    values = addon_configuration("BatchPlatform/Airflow")
    mutate(values)
    problems = addon_configuration_problems(values)
    assert any(expected in p for p in problems), problems


def test_the_agent_may_write_only_to_our_groups_and_publish_only_in_two_namespaces():
    policy = json.loads(agent_policy("aws", "eu-west-1", "123456789012", "batch-platform-prod", "BatchPlatform/Airflow"))
    statements = {s["Sid"]: s for s in policy["Statement"]}
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert "logs:PutRetentionPolicy" not in actions and "logs:DeleteLogGroup" not in actions
    # CreateLogGroup (Fluent Bit asks before sending) only on our own groups.
    assert [s["Sid"] for s in policy["Statement"] if "logs:CreateLogGroup" in s["Action"]] == ["WriteOwnLogGroups"]
    groups = statements["WriteOwnLogGroups"]["Resource"]
    assert sorted(groups) == sorted(
        [f"arn:aws:logs:eu-west-1:123456789012:log-group:/aws/containerinsights/batch-platform-prod/{k}" for k in LOG_GROUP_KINDS]
        + [
            f"arn:aws:logs:eu-west-1:123456789012:log-group:/aws/containerinsights/batch-platform-prod/{k}:*"
            for k in LOG_GROUP_KINDS
        ]
    )
    assert statements["PublishMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": ["ContainerInsights", "BatchPlatform/Airflow"]}
    }


def test_every_iam_action_is_an_operation_of_its_service():
    import botocore.session

    session = botocore.session.get_session()
    prefixes = {"logs": "logs", "cloudwatch": "cloudwatch", "ec2": "ec2"}
    policy = json.loads(agent_policy("aws", "eu-west-1", "1", "c", "N"))
    for statement in policy["Statement"]:
        for action in [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]:
            service, operation = action.split(":")
            assert operation in session.get_service_model(prefixes[service]).operation_names, action


def test_unknown_log_group_kind_is_refused():
    with pytest.raises(ValueError, match="unknown Container Insights log group"):
        log_group_name("c", "audit")


@pytest.fixture(params=["dev", "prod"])
def plan(request, dev_plan, prod_plan):
    return {"dev": dev_plan, "prod": prod_plan}[request.param]


def test_the_addon_is_installed_with_its_own_role_and_our_configuration(plan):
    addon = plan.one(ADDON, f"{plan.stack}-observability-addon")
    assert addon.input("addonName") == ADDON_NAME
    assert addon.input("clusterName") == f"batch-platform-{plan.stack}"
    assert addon.input("serviceAccountRoleArn")
    assert json.loads(addon.input("configurationValues")) == addon_configuration(plan.config.observability.metrics_namespace)
    role = plan.one("aws:iam/role:Role", f"{plan.stack}-observability-agent")
    trust = json.loads(role.input("assumeRolePolicy"))
    subjects = [v for k, v in trust["Statement"][0]["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == [f"system:serviceaccount:{ADDON_NAMESPACE}:cloudwatch-agent"]
    # Never in the namespaces of Airflow or the batch Jobs: its DaemonSets need host access.
    assert ADDON_NAMESPACE not in (plan.config.airflow.namespace, plan.config.batch.namespace)


def test_the_four_log_groups_exist_before_the_addon_with_retention_and_survive_destroy(plan):
    o = plan.config.observability
    expected = {
        "application": o.application_log_retention_days,
        "performance": o.performance_log_retention_days,
        "host": o.host_log_retention_days,
        "dataplane": o.host_log_retention_days,
    }
    addon = plan.one(ADDON, f"{plan.stack}-observability-addon")
    for kind, days in expected.items():
        group = plan.one(LOG_GROUP, f"{plan.stack}-observability-{kind}")
        assert group.input("name") == f"/aws/containerinsights/batch-platform-{plan.stack}/{kind}"
        assert group.input("retentionInDays") == days
        assert group.options["retainOnDelete"] is True
        assert group.urn in addon.options["dependsOn"]


def test_prod_keeps_container_logs_a_year_and_dev_a_month(dev_plan, prod_plan):
    assert prod_plan.one(LOG_GROUP, "prod-observability-application").input("retentionInDays") == 365
    assert dev_plan.one(LOG_GROUP, "dev-observability-application").input("retentionInDays") == 30


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(plan):
    topic = plan.one("aws:sns/topic:Topic")
    alarms = plan.of_type(ALARM)
    assert len(alarms) == 18
    arn = f"arn:aws:sns:eu-west-1:123456789012:topic/batch-platform-{plan.stack}-alarms"
    assert topic.input("name") == f"batch-platform-{plan.stack}-alarms"
    assert topic.input("kmsMasterKeyId")
    for alarm in alarms:
        assert alarm.input("alarmActions") == [arn], alarm.name
        assert alarm.input("okActions") == [arn], alarm.name
        assert alarm.input("name").startswith(f"batch-platform-{plan.stack}-")


def test_thresholds_per_tier_come_from_the_stack_files(dev_plan, prod_plan):
    def threshold(plan, name):
        return plan.one(ALARM, f"{plan.stack}-alarms-{name}").input("threshold")

    assert threshold(prod_plan, "task-failures") == 5
    assert threshold(dev_plan, "task-failures") == 20
    assert prod_plan.one(ALARM, "prod-alarms-pods-pending").input("evaluationPeriods") == 15
    assert dev_plan.one(ALARM, "dev-alarms-pods-pending").input("evaluationPeriods") == 30
    assert prod_plan.one(ALARM, "prod-alarms-database-cpu").input("dimensions") == {
        "DBInstanceIdentifier": "batch-platform-prod-airflow"
    }


def test_subscribers_come_from_config(dev_plan, prod_plan):
    prod_mail = prod_plan.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert [s.input("endpoint") for s in prod_mail] == ["batch-oncall@example.com"]
    slack = prod_plan.one("aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration")
    assert (slack.input("slackTeamId"), slack.input("slackChannelId")) == ("T0123ABCDE", "C0123ABCDE")
    assert slack.input("snsTopicArns") == ["arn:aws:sns:eu-west-1:123456789012:topic/batch-platform-prod-alarms"]
    assert dev_plan.of_type("aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration") == []


def test_the_autoscaler_filter_reads_the_container_log_group(prod_plan):
    f = prod_plan.one("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    assert f.input("logGroupName") == "/aws/containerinsights/batch-platform-prod/application"
    assert f.input("metricTransformation.namespace") == "BatchPlatform/Cluster"


def test_the_dashboard_shows_the_alarms(prod_plan):
    dashboard = prod_plan.one("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dashboard.input("dashboardBody"))
    alarms = body["widgets"][0]["properties"]["alarms"]
    assert len(alarms) == 18 and all(a.startswith("arn:aws:cloudwatch:") for a in alarms), alarms[:2]
    assert prod_plan.outputs["dashboard_name"] == "batch-platform-prod"


def test_airflow_pods_may_send_statsd_to_the_agent_on_the_nodes(plan):
    """The Airflow namespace denies egress by default (infra/airflow_security.py): the metrics need
    their own rule, UDP 8125 to the nodes (the agent runs on their host network)."""
    policy = plan.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", f"{plan.stack}-airflow-networkpolicy-airflow-allow-statsd-egress")
    spec = policy.input("spec")
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Egress"]
    assert spec["egress"] == [
        {"to": [{"ipBlock": {"cidr": str(plan.config.network.vpc_cidr)}}], "ports": [{"protocol": "UDP", "port": 8125}]}
    ]

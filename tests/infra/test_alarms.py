"""Alarms and dashboard read metrics their emitters really publish, with the dimensions they publish.

The emitters' names are read from their own data, never from a list of ours:

* Airflow: the installed Airflow's metrics registry (``metrics_template.yaml``), and its real StatsD
  client sending to a local UDP socket with the [metrics] settings our chart values render;
* the CloudWatch agent: its StatsD input's rule (``metric_type`` from the StatsD type, the name
  unchanged) and its Container Insights metric declarations (``infra/data``);
* CloudWatch's PutMetricAlarm request shape from botocore's service model.
"""

from __future__ import annotations

import socket
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

import airflow
from infra.alarms import (
    AIRFLOW_STATSD_PREFIX,
    JOB_FAILURE_METRIC,
    JOB_WITHOUT_PODS_METRIC,
    AlarmSettings,
    Thresholds,
    alarm_specs,
    metric_alarm_args,
)
from infra.dashboard import DashboardSettings, dashboard_body, graphs
from infra.observability import DATA
from stacks.config import StackConfig
from stacks.config.operations import DEFAULT_METRIC_ALLOW_LIST, ThresholdsConfig

TEMPLATE = Path(airflow.__file__).parent / "_shared/observability/metrics/metrics_template.yaml"
# The CloudWatch agent's StatsD input (plugins/inputs/statsd/statsd.go, parseStatsdLine): the
# StatsD type character becomes the metric_type tag, which the agent publishes as a dimension.
AGENT_METRIC_TYPE = {"c": "counter", "g": "gauge", "ms": "timing", "h": "histogram", "s": "set"}
# Airflow's registry types -> the StatsD call the client makes.
REGISTRY_TO_STATSD = {"counter": "c", "gauge": "g", "timer": "ms"}


def airflow_registry() -> dict[str, str]:
    entries = yaml.safe_load(TEMPLATE.read_text())["metrics"]
    return {e["name"]: e["type"] for e in entries}


def container_insights_declarations() -> tuple[str, dict[str, list[frozenset[str]]]]:
    import json

    data = json.loads((DATA / "container-insights-metric-declarations.json").read_text())
    found: dict[str, list[frozenset[str]]] = {}
    for declaration in data["metric_declarations"]:
        for name in declaration["metric_name_selectors"]:
            found.setdefault(name, []).extend(frozenset(d) for d in declaration["dimensions"])
    return data["namespace"], found


def settings(**overrides) -> AlarmSettings:
    return AlarmSettings(
        prefix="batch-platform-test",
        cluster_name="batch-platform-test",
        stack="test",
        node_groups=("system", "batch"),
        database_identifier="batch-platform-test-airflow",
        airflow_namespace="BatchPlatform/Airflow",
        database_pool_capacity=100,
        thresholds=Thresholds(**ThresholdsConfig(**overrides).model_dump(), patch_lag_days=10),
    )


def all_metric_refs():
    refs = [m for spec in alarm_specs(settings()) for m in spec.metrics]
    dash = DashboardSettings(
        name="d",
        region="eu-west-1",
        cluster_name="batch-platform-test",
        stack="test",
        node_groups=("system", "batch"),
        batch_namespace="batch-jobs",
        database_identifier="batch-platform-test-airflow",
        airflow_namespace="BatchPlatform/Airflow",
    )
    refs += [m for _, metrics in graphs(dash) for m in metrics]
    return refs


class UdpCapture:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]

    def lines(self) -> list[str]:
        out = []
        while True:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return out
            out += data.decode().splitlines()


@pytest.fixture
def statsd_packets(monkeypatch, prod_plan):
    """Every metric of Airflow's registry sent through Airflow's own StatsD logger, configured with the
    [metrics] section our prod chart values render (only host and port point at a local socket)."""
    from airflow.sdk.observability.metrics.statsd_logger import get_statsd_logger

    release = prod_plan.one("kubernetes:helm.sh/v3:Release", "prod-airflow-release")
    metrics = release.input("values")["config"]["metrics"]
    capture = UdpCapture()
    for key, value in metrics.items():
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key.upper()}", str(value))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(capture.port))
    logger = get_statsd_logger()
    for name, kind in airflow_registry().items():
        if "{" in name:
            continue
        if kind == "counter":
            logger.incr(name)
        elif kind == "gauge":
            logger.gauge(name, 1)
        else:
            logger.timing(name, 5)
    # Airflow's own dual emission (new name + legacy name with the dag id inside), as the scheduler
    # calls it: Airflow 3.2.2 ignores legacy_names_on, so the allow list must stop the legacy name.
    from airflow.sdk.observability.stats import DualStatsManager, Stats

    Stats.initialize(factory=lambda: logger)
    try:
        DualStatsManager.timing("dagrun.schedule_delay", 5, tags={"dag_id": "some_dag"}, extra_tags={"dag_id": "some_dag"})
        DualStatsManager.gauge("executor.queued_tasks", 1, extra_tags={"executor_class_name": "KubernetesExecutor"})
    finally:
        Stats.initialize(factory=None)
    # The DAG library's own metrics (dags/batch_platform/job_diagnosis.py).
    logger.incr(JOB_WITHOUT_PODS_METRIC)
    logger.incr(JOB_FAILURE_METRIC)
    packets = capture.lines()
    capture.sock.close()
    parsed = {}
    for line in packets:
        name, rest = line.split(":", 1)
        parsed[name] = rest.split("|")[1]
    return parsed


def test_every_airflow_metric_alarmed_or_graphed_is_in_airflows_registry_with_its_type():
    registry = airflow_registry()
    refs = [m for m in all_metric_refs() if m.source == "airflow"]
    assert len(refs) >= 10
    for m in refs:
        assert m.name.startswith(AIRFLOW_STATSD_PREFIX + ".")
        name = m.name.removeprefix(AIRFLOW_STATSD_PREFIX + ".")
        assert name in registry, f"{name} is not an Airflow metric"
        assert m.dimensions == {"metric_type": AGENT_METRIC_TYPE[REGISTRY_TO_STATSD[registry[name]]]}, m


def test_what_airflows_statsd_client_sends_is_what_the_alarms_read(statsd_packets):
    for m in all_metric_refs():
        if m.source not in ("airflow", "platform"):
            continue
        assert m.name in statsd_packets, f"{m.name} never leaves Airflow with our [metrics] settings"
        assert {"metric_type": AGENT_METRIC_TYPE[statsd_packets[m.name]]} == dict(m.dimensions)
        assert m.namespace == "BatchPlatform/Airflow"


def test_the_allow_list_bounds_what_reaches_cloudwatch(statsd_packets):
    registry = [n for n in airflow_registry() if "{" not in n]
    assert "airflow.dagrun.schedule_delay.some_dag" not in statsd_packets
    assert "airflow.executor.queued_tasks.KubernetesExecutor" not in statsd_packets
    # Only the allowed families: far fewer custom metrics than Airflow emits.
    assert len(statsd_packets) <= 20 < len(registry)
    used = {m.name for m in all_metric_refs() if m.source in ("airflow", "platform")}
    assert used <= set(statsd_packets)


def test_default_allow_list_is_the_config_default(prod_plan):
    release = prod_plan.one("kubernetes:helm.sh/v3:Release", "prod-airflow-release")
    assert release.input("values")["config"]["metrics"]["metrics_allow_list"] == ",".join(DEFAULT_METRIC_ALLOW_LIST)


def test_container_insights_metrics_exist_with_these_dimensions():
    namespace, declared = container_insights_declarations()
    refs = [m for m in all_metric_refs() if m.source == "container-insights"]
    assert len(refs) >= 5
    for m in refs:
        assert m.namespace == namespace
        assert m.name in declared, f"Container Insights publishes no {m.name}"
        assert frozenset(m.dimensions) in declared[m.name], (m.name, sorted(m.dimensions), declared[m.name])


def test_a_dimension_set_the_agent_does_not_publish_is_caught():
    _, declared = container_insights_declarations()
    # pod_status_pending is published per cluster, per pod and per service, not per namespace.
    assert frozenset({"ClusterName", "Namespace"}) not in declared["pod_status_pending"]


def test_the_issue_s_alarms_all_exist_with_their_sources():
    names = {spec.name: {m.source for m in spec.metrics} for spec in alarm_specs(settings())}
    expected = {
        "scheduler-heartbeat-missing": {"airflow"},
        "triggerer-heartbeat-missing": {"airflow"},
        "dag-processor-heartbeat-missing": {"airflow"},
        "dag-import-errors": {"airflow"},
        "task-failures": {"airflow"},
        "tasks-queued-none-running": {"airflow"},
        "schedule-delay": {"airflow"},
        "oom-killed": {"container-insights"},
        "job-without-pods": {"platform"},
        "pods-pending": {"container-insights"},
        "nodes-not-ready": {"container-insights"},
        "autoscaler-failures": {"log-filter"},
        "node-group-update-failed": {"hook"},
        "database-cpu": {"rds"},
        "database-free-storage": {"rds"},
        "database-freeable-memory": {"rds"},
        "database-connections": {"rds"},
        "patch-lag": {"patch-status"},
    }
    assert names == expected


def test_heartbeats_breach_on_missing_data_and_others_do_not_page_on_silence():
    for spec in alarm_specs(settings()):
        if spec.name.endswith("heartbeat-missing"):
            assert spec.treat_missing_data == "breaching"
            assert spec.evaluation_periods == 5 and spec.period_seconds == 60
        else:
            assert spec.treat_missing_data in ("notBreaching", "missing")


def test_thresholds_follow_the_config():
    specs = {s.name: s for s in alarm_specs(settings(task_failures_per_hour=20, database_free_storage_gib=3))}
    assert specs["task-failures"].threshold == 20
    assert specs["database-free-storage"].threshold == 3 * 1024**3
    assert specs["database-connections"].threshold == 80  # 80 % of 100 server connections
    assert specs["schedule-delay"].threshold == 300_000  # StatsD timers are milliseconds


@pytest.mark.parametrize("prefix", ["batch-platform-dev", "batch-platform-prod"])
def test_every_alarm_is_a_valid_put_metric_alarm_request(prefix):
    model = botocore.session.get_session().get_service_model("cloudwatch")
    shape = model.operation_model("PutMetricAlarm").input_shape
    for spec in alarm_specs(settings()):
        request = metric_alarm_args(spec, prefix)
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()
        for key in ("ComparisonOperator", "Statistic"):
            if key in request:
                assert request[key] in shape.members[key].enum, (key, request[key])
        for query in request.get("Metrics", []):
            if "MetricStat" in query:
                assert query["MetricStat"]["Stat"] in shape.members["Statistic"].enum


def test_the_dashboard_has_a_widget_per_graph_and_the_alarms():
    s = DashboardSettings(
        name="d",
        region="eu-west-1",
        cluster_name="c",
        stack="test",
        node_groups=("system", "batch"),
        batch_namespace="batch-jobs",
        database_identifier="db",
        airflow_namespace="BatchPlatform/Airflow",
    )
    arns = ("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a-2", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:a-1")
    body = dashboard_body(s, {"system": "1.35.3-20260801"}, arns)
    kinds = [w["type"] for w in body["widgets"]]
    assert kinds.count("metric") == len(graphs(s))
    assert body["widgets"][0]["properties"]["alarms"] == sorted(arns)  # the widget takes ARNs
    assert "1.35.3-20260801" in body["widgets"][-1]["properties"]["markdown"]
    for widget in body["widgets"]:
        assert 0 <= widget["x"] and widget["x"] + widget["width"] <= 24


def test_config_rejects_an_allow_list_pattern_airflow_would_split():
    from pydantic import ValidationError

    from stacks.config.operations import ObservabilityConfig

    with pytest.raises(ValidationError, match="splits the allow list on commas"):
        ObservabilityConfig(metric_allow_list=["^a,b$"])
    with pytest.raises(ValidationError, match="not a regular expression"):
        ObservabilityConfig(metric_allow_list=["^(a"])


def test_the_patch_lag_alarm_reads_what_patch_status_publishes(monkeypatch):
    """patch-status --metric's own put_metric_data call (stacks/patching/aws.py), captured with
    botocore's Stubber: the alarm's namespace, name and dimension sets are those it sends."""
    from datetime import datetime, timezone

    import boto3
    from botocore.stub import ANY, Stubber

    from stacks.patching.aws import METRIC_NAME, METRIC_NAMESPACE, PatchAws

    assert (METRIC_NAMESPACE, METRIC_NAME) == ("BatchPlatform/NodePatching", "PatchLagDays")
    aws = PatchAws.__new__(PatchAws)
    aws.cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    sent = []
    with Stubber(aws.cloudwatch) as stub:
        stub.add_response("put_metric_data", {}, {"Namespace": ANY, "MetricData": ANY})
        original = aws.cloudwatch.put_metric_data

        def capture(**kwargs):
            sent.append(kwargs)
            return original(**kwargs)

        monkeypatch.setattr(aws.cloudwatch, "put_metric_data", capture)
        aws.put_lag_metric("test", {"system": 1.5, "batch": 12.0}, datetime(2026, 12, 1, tzinfo=timezone.utc))
    (call,) = sent
    published = {
        (call["Namespace"], d["MetricName"], tuple(sorted((x["Name"], x["Value"]) for x in d["Dimensions"])))
        for d in call["MetricData"]
    }
    (spec,) = [s for s in alarm_specs(settings()) if s.name == "patch-lag"]
    read = {(m.namespace, m.name, tuple(sorted(m.dimensions.items()))) for m in spec.metrics}
    assert read == published
    assert spec.threshold == 10 and spec.expression == "MAX([m0, m1])"


def test_prod_needs_someone_to_tell():
    config = StackConfig.model_validate({"tier": "prod", "region": "eu-west-1"})
    assert [p.path for p in config.alarms.problems("prod", "alarms")] == ["alarms.email_addresses"]
    assert config.alarms.problems("dev", "alarms") == []


def test_every_alarm_has_a_runbook_entry_and_a_row_in_the_table():
    from tests.airflow_env import REPO_ROOT

    text = (REPO_ROOT / "docs/operations.md").read_text()
    for spec in alarm_specs(settings()):
        assert f"\n#### {spec.name}\n" in text, f"docs/operations.md has no runbook entry for {spec.name}"
        assert f"\n| {spec.name} |" in text, f"docs/operations.md's alarm table has no row for {spec.name}"
        assert metric_alarm_args(spec, "p")["AlarmDescription"].endswith(f"docs/operations.md#{spec.name}")

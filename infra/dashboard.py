"""The environment's CloudWatch dashboard: Airflow health, batch Jobs, nodes, the database.

Built from the same ``MetricRef``s as the alarms (``infra.alarms``), so the tests check every graph
against what its emitter publishes, as they do for the alarms. The alarms are on the dashboard too
(an alarm status widget). ``dashboard_body`` is pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra.alarms import (
    JOB_FAILURE_METRIC,
    JOB_WITHOUT_PODS_METRIC,
    MetricRef,
    airflow_metric,
    container_insights,
    patch_lag,
    rds,
)

WIDTH = 12
HEIGHT = 6


@dataclass(frozen=True, kw_only=True)
class DashboardSettings:
    name: str
    region: str
    cluster_name: str
    stack: str
    node_groups: Sequence[str]
    batch_namespace: str
    database_identifier: str
    airflow_namespace: str


def graphs(s: DashboardSettings) -> list[tuple[str, list[MetricRef]]]:
    """The graphs of the dashboard: (title, metrics), row by row."""
    ns = s.airflow_namespace
    batch_pods = MetricRef(
        "container-insights",
        "ContainerInsights",
        "namespace_number_of_running_pods",
        {"ClusterName": s.cluster_name, "Namespace": s.batch_namespace},
        "Average",
    )
    return [
        (
            "Airflow heartbeats (per minute)",
            [
                airflow_metric(ns, "scheduler_heartbeat", "counter", "Sum"),
                airflow_metric(ns, "triggerer_heartbeat", "counter", "Sum"),
                airflow_metric(ns, "dag_processor_heartbeat", "counter", "Sum"),
            ],
        ),
        (
            "Task instances: successes and failures",
            [airflow_metric(ns, "ti_successes", "counter", "Sum"), airflow_metric(ns, "ti_failures", "counter", "Sum")],
        ),
        (
            "Executor: queued, running, open slots",
            [
                airflow_metric(ns, "executor.queued_tasks", "gauge", "Maximum"),
                airflow_metric(ns, "executor.running_tasks", "gauge", "Maximum"),
                airflow_metric(ns, "executor.open_slots", "gauge", "Minimum"),
            ],
        ),
        (
            "DAG runs: running, schedule delay (ms), import errors",
            [
                airflow_metric(ns, "scheduler.dagruns.running", "gauge", "Maximum"),
                airflow_metric(ns, "dagrun.schedule_delay", "timing", "Maximum"),
                airflow_metric(ns, "dag_processing.import_errors", "gauge", "Maximum"),
            ],
        ),
        (
            "Batch Jobs: running pods, failed Jobs, Jobs without pods",
            [
                batch_pods,
                airflow_metric(ns, JOB_FAILURE_METRIC, "counter", "Sum", source="platform"),
                airflow_metric(ns, JOB_WITHOUT_PODS_METRIC, "counter", "Sum", source="platform"),
            ],
        ),
        (
            "Pods: pending, OOM-killed containers (cluster)",
            [
                container_insights(s.cluster_name, "pod_status_pending", "Maximum"),
                container_insights(s.cluster_name, "pod_container_status_terminated_reason_oom_killed", "Maximum"),
            ],
        ),
        (
            "Nodes: count, failing, patch lag (days)",
            [
                container_insights(s.cluster_name, "cluster_node_count", "Maximum"),
                container_insights(s.cluster_name, "cluster_failed_node_count", "Maximum"),
                *(patch_lag(s.stack, group) for group in s.node_groups),
            ],
        ),
        (
            "Database: CPU % and connections",
            [
                rds(s.database_identifier, "CPUUtilization", "Average"),
                rds(s.database_identifier, "DatabaseConnections", "Maximum"),
            ],
        ),
        (
            "Database: free storage and freeable memory (bytes)",
            [
                rds(s.database_identifier, "FreeStorageSpace", "Minimum"),
                rds(s.database_identifier, "FreeableMemory", "Minimum"),
            ],
        ),
    ]


def _metric_row(m: MetricRef) -> list[Any]:
    row: list[Any] = [m.namespace, m.name]
    for key, value in sorted(m.dimensions.items()):
        row += [key, value]
    row.append({"stat": m.statistic})
    return row


def dashboard_body(
    s: DashboardSettings,
    node_group_releases: Optional[dict[str, str]] = None,
    alarm_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """The dashboard's JSON body (CloudWatch dashboard body structure: widgets with x, y, width, height).

    The alarm status widget takes alarm ARNs, not names."""
    widgets: list[dict[str, Any]] = []
    y = 0
    if alarm_arns:
        widgets.append(
            {
                "type": "alarm",
                "x": 0,
                "y": y,
                "width": 24,
                "height": 4,
                "properties": {"title": "Alarms", "alarms": sorted(alarm_arns), "sortBy": "stateUpdatedTimestamp"},
            }
        )
        y += 4
    for i, (title, metrics) in enumerate(graphs(s)):
        widgets.append(
            {
                "type": "metric",
                "x": (i % 2) * WIDTH,
                "y": y + (i // 2) * HEIGHT,
                "width": WIDTH,
                "height": HEIGHT,
                "properties": {
                    "title": title,
                    "region": s.region,
                    "view": "timeSeries",
                    "period": 300,
                    "metrics": [_metric_row(m) for m in metrics],
                },
            }
        )
    if node_group_releases:
        rows = "\n".join(f"| {group} | {release} |" for group, release in sorted(node_group_releases.items()))
        widgets.append(
            {
                "type": "text",
                "x": 0,
                "y": y + ((len(graphs(s)) + 1) // 2) * HEIGHT,
                "width": 24,
                "height": 3,
                "properties": {"markdown": f"### Node group AMI releases (last `pulumi up`)\n\n| group | release |\n|---|---|\n{rows}"},
            }
        )
    return {"widgets": widgets}


@dataclass(frozen=True, kw_only=True)
class DashboardArgs:
    settings: DashboardSettings
    node_group_releases: Optional[pulumi.Input[dict[str, str]]] = None
    """Release version per node group (the cluster's ``node_group_release_versions``)."""
    alarm_arns: Sequence[pulumi.Input[str]] = ()
    """The alarms the status widget shows (``Alarms.alarm_arns``)."""


class Dashboard(pulumi.ComponentResource):
    """One CloudWatch dashboard per environment."""

    name: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:Dashboard", name, None, opts)
        s = args.settings
        body = pulumi.Output.all(args.node_group_releases, pulumi.Output.all(*args.alarm_arns)).apply(
            lambda v: json.dumps(dashboard_body(s, v[0], v[1]), sort_keys=True)
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=s.name, dashboard_body=body, opts=pulumi.ResourceOptions(parent=self)
        )
        self.name = dashboard.dashboard_name
        self.register_outputs({"name": self.name})

"""Wiring of operations into an environment: Container Insights and logs, alarms, the dashboard.

``build_environment`` calls ``build_operations`` once the cluster and the data stores exist. The
typed config (``observability``, ``alarms``) becomes the args of ``infra.observability``,
``infra.alarms`` and ``infra.dashboard``; docs/operations.md is the runbook.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.airflow_values import pool_plan
from infra.alarms import Alarms, AlarmsArgs, AlarmSettings, SlackChannel, Thresholds
from infra.cluster import Cluster
from infra.dashboard import Dashboard, DashboardArgs, DashboardSettings
from infra.observability import Observability, ObservabilityArgs
from stacks.airflow_wiring import airflow_settings
from stacks.config import StackConfig


NODE_GROUPS = ("system", "batch")


def alarm_settings(
    config: StackConfig, *, prefix: str, stack: str, cluster_name: str, database_identifier: str
) -> AlarmSettings:
    """The alarm settings of a validated stack config (pure)."""
    plan = pool_plan(airflow_settings(config), config.database.instance_class)
    capacity = (plan.metadata_pool_size + plan.result_backend_pool_size) * plan.replicas
    return AlarmSettings(
        prefix=prefix,
        cluster_name=cluster_name,
        stack=stack,
        node_groups=NODE_GROUPS,
        database_identifier=database_identifier,
        airflow_namespace=config.observability.metrics_namespace,
        database_pool_capacity=capacity,
        # Node patching's own limit (cluster.patching), not a second number for the same thing.
        thresholds=Thresholds(
            **config.alarms.thresholds.model_dump(), patch_lag_days=config.cluster.patching.max_lag_days
        ),
    )


def build_operations(
    config: StackConfig,
    stack: str,
    *,
    project: str,
    cluster: Cluster,
    cluster_name: str,
    database_identifier: str,
    opts: pulumi.ResourceOptions,
) -> dict[str, Any]:
    """Register the add-on, the alarms and the dashboard; return their stack outputs."""
    o = config.observability
    observability = Observability(
        f"{stack}-observability",
        ObservabilityArgs(
            cluster_name=cluster_name,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            region=config.region,
            metrics_namespace=o.metrics_namespace,
            retention_days={
                "application": o.application_log_retention_days,
                "performance": o.performance_log_retention_days,
                "host": o.host_log_retention_days,
                "dataplane": o.host_log_retention_days,
            },
            addon_version=o.addon_version,
            wait_for=tuple(cluster.system_ready),
        ),
        opts=opts,
    )
    prefix = f"{project}-{stack}"
    settings = alarm_settings(
        config, prefix=prefix, stack=stack, cluster_name=cluster_name, database_identifier=database_identifier
    )
    alarms = Alarms(
        f"{stack}-alarms",
        AlarmsArgs(
            settings=settings,
            email_addresses=tuple(config.alarms.email_addresses),
            slack_channels=tuple(SlackChannel(c.workspace_id, c.channel_id) for c in config.alarms.slack_channels),
            application_log_group=observability.log_group_names["application"],
        ),
        opts=opts,
    )
    dashboard = Dashboard(
        f"{stack}-dashboard",
        DashboardArgs(
            settings=DashboardSettings(
                name=prefix,
                region=config.region,
                cluster_name=cluster_name,
                stack=stack,
                node_groups=NODE_GROUPS,
                batch_namespace=config.batch.namespace,
                database_identifier=database_identifier,
                airflow_namespace=o.metrics_namespace,
            ),
            node_group_releases=cluster.node_group_release_versions,
            alarm_arns=tuple(alarms.alarm_arns),
        ),
        opts=opts,
    )
    return {
        "alarm_topic_arn": alarms.topic_arn,
        "dashboard_name": dashboard.name,
        "container_log_groups": pulumi.Output.all(**observability.log_group_names),
    }

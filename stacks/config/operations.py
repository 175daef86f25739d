"""Config sections ``observability`` and ``alarms``: what is measured, kept and who is told.

``observability``: the Amazon CloudWatch Observability EKS add-on (Container Insights, container
logs), the retention of the log groups it writes to, and the Airflow metrics let through to
CloudWatch. ``alarms``: the SNS topic's subscribers (email, Slack through AWS Chatbot) and every
alarm's threshold. Defaults are the production-shaped choice; dev loosens them in its stack file.
docs/operations.md is the runbook of every alarm.
"""

from __future__ import annotations

import re
from typing import Optional

from pydantic import Field, field_validator

from stacks.config.base import RetentionDays, Section
from stacks.config.problems import Problem

# The Airflow metric families (names from Airflow's metrics_template.yaml, without the "airflow."
# prefix) that reach CloudWatch by default: what the alarms and the dashboard read, nothing else.
# Each is one regex of Airflow's [metrics] metrics_allow_list (matched with re.findall), anchored so
# that the legacy names Airflow 3.2.2 still sends (``dagrun.schedule_delay.<dag_id>``) stay out.
DEFAULT_METRIC_ALLOW_LIST = (
    "^scheduler_heartbeat$",
    "^triggerer_heartbeat$",
    "^dag_processor_heartbeat$",
    "^dag_processing\\.import_errors$",
    "^ti_failures$",
    "^ti_successes$",
    "^executor\\.(open_slots|queued_tasks|running_tasks)$",
    "^scheduler\\.tasks\\.starving$",
    "^scheduler\\.dagruns\\.running$",
    "^dagrun\\.schedule_delay$",
    "^dagrun\\.duration\\.(success|failed)$",
    "^batch_platform\\.",
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_ID = re.compile(r"^[A-Z0-9]{9,11}$")


class ObservabilityConfig(Section):
    """Container Insights and container logs through the EKS add-on, Airflow's StatsD metrics to CloudWatch."""

    addon_version: Optional[str] = Field(
        None,
        pattern=r"^v\d+\.\d+\.\d+-eksbuild\.\d+$",
        description="Version of the amazon-cloudwatch-observability add-on (e.g. v4.3.0-eksbuild.1). Unset: "
        "the default version EKS offers for the cluster's Kubernetes version when the add-on is created.",
    )
    application_log_retention_days: RetentionDays = Field(
        90, description="Days container logs (every pod's stdout/stderr, batch Jobs included) are kept."
    )
    performance_log_retention_days: RetentionDays = Field(
        14, description="Days Container Insights' performance events (the metrics' raw data) are kept."
    )
    host_log_retention_days: RetentionDays = Field(
        30, description="Days node (host and dataplane: kubelet, containerd) logs are kept."
    )
    metrics_namespace: str = Field(
        "BatchPlatform/Airflow",
        pattern=r"^[A-Za-z0-9_./#:-]{1,255}$",
        description="CloudWatch namespace of Airflow's StatsD metrics (never AWS/...).",
    )
    metric_allow_list: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METRIC_ALLOW_LIST),
        min_length=1,
        description="Regexes of Airflow metric names sent to CloudWatch ([metrics] metrics_allow_list): every "
        "name let through is a billed custom metric per dimension set.",
    )

    @field_validator("metric_allow_list")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if "," in pattern:
                raise ValueError(f"{pattern!r}: Airflow splits the allow list on commas, a pattern cannot hold one")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
        return value

    def problems(self, tier: str, path: str) -> list[Problem]:
        if self.metrics_namespace.startswith("AWS/"):
            return [Problem(f"{path}.metrics_namespace", self.metrics_namespace, "a custom namespace (AWS/ is reserved)")]
        return []


class SlackChannelConfig(Section):
    """A Slack channel that receives the alarms through AWS Chatbot (Amazon Q Developer in chat applications).

    The workspace is authorised once per account in the AWS Chatbot console (an OAuth step AWS does
    not expose as an API); these IDs are not secrets."""

    workspace_id: str = Field(description="Slack workspace (team) ID, e.g. T0123ABCD, as shown by the Chatbot console.")
    channel_id: str = Field(description="Slack channel ID, e.g. C0123ABCD (channel details in Slack).")

    @field_validator("workspace_id", "channel_id")
    @classmethod
    def _slack_id(cls, value: str) -> str:
        if not _SLACK_ID.match(value):
            raise ValueError("expected a Slack ID: 9 to 11 upper-case letters and digits, e.g. T0123ABCD")
        return value


class ThresholdsConfig(Section):
    """When each alarm fires. docs/operations.md says what each means and what to do."""

    heartbeat_missing_minutes: int = Field(
        5, ge=1, le=60, description="Minutes without a scheduler, triggerer or DAG-processor heartbeat (missing data breaches)."
    )
    import_errors: int = Field(1, ge=1, description="DAG files that fail to import, at or above which the alarm fires.")
    task_failures_per_hour: int = Field(5, ge=1, description="Failed task instances in one hour.")
    queued_without_running_minutes: int = Field(
        15, ge=5, le=1440, description="Minutes with tasks queued while none is running."
    )
    schedule_delay_seconds: int = Field(
        300, ge=60, description="Delay between a run's scheduled time and its start (maximum over 15 minutes)."
    )
    oom_killed_containers: int = Field(1, ge=1, description="Containers OOM-killed in five minutes.")
    job_without_pods: int = Field(
        1, ge=1, description="Batch Jobs reported without any pod (admission refused, quota, ...) in ten minutes."
    )
    pods_pending_minutes: int = Field(15, ge=5, le=1440, description="Minutes with at least one pod pending.")
    failed_nodes: int = Field(1, ge=1, description="Nodes with a failing condition (not ready, pressure).")
    autoscaler_failures: int = Field(1, ge=1, description="Cluster autoscaler failed scale-ups in fifteen minutes.")
    node_group_update_failures: int = Field(1, ge=1, description="Failed managed node group updates reported.")
    database_cpu_percent: int = Field(80, ge=10, le=100, description="RDS CPU utilisation, average over 15 minutes.")
    database_free_storage_gib: int = Field(10, ge=1, description="RDS free storage below which the alarm fires (GiB).")
    database_freeable_memory_mib: int = Field(256, ge=32, description="RDS freeable memory below which the alarm fires (MiB).")
    database_connections_percent: int = Field(
        80, ge=10, le=100, description="Database connections as a share of PgBouncer's server pools (all replicas)."
    )


class AlarmsConfig(Section):
    """CloudWatch alarms and their SNS topic: every alarm notifies on ALARM and on OK."""

    email_addresses: list[str] = Field(
        default_factory=list,
        description="Addresses subscribed to the environment's alarm topic (each confirms once by mail).",
    )
    slack_channels: list[SlackChannelConfig] = Field(
        default_factory=list, description="Slack channels receiving the alarms through AWS Chatbot."
    )
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)

    @field_validator("email_addresses")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL.match(address):
                raise ValueError(f"{address!r} is not an email address")
        if len(set(value)) != len(value):
            raise ValueError("each address once")
        return value

    def problems(self, tier: str, path: str) -> list[Problem]:
        if tier == "prod" and not self.email_addresses and not self.slack_channels:
            return [
                Problem(
                    f"{path}.email_addresses",
                    [],
                    "prod alarms must reach people: at least one email address or one Slack channel",
                )
            ]
        return []

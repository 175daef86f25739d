"""The typed model of a whole stack file (``Pulumi.<stack>.yaml``). Defaults live here and only here.

Every key sits under the project's namespace (``batch-platform:<section>``). Defaults are the
production-shaped choice; a cheaper environment loosens them explicitly in its stack file.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from stacks.config.airflow import AirflowConfig
from stacks.config.base import Section
from stacks.config.batch import BatchConfig
from stacks.config.database import DatabaseConfig
from stacks.config.cluster import ClusterConfig
from stacks.config.network import NetworkConfig
from stacks.config.operations import AlarmsConfig, ObservabilityConfig
from stacks.config.problems import Problem
from stacks.config.sso import SsoConfig
from stacks.config.task_logs import TaskLogsConfig

NAMESPACE = "batch-platform"

TIERS = ("dev", "prod")


def _tag_key(key: str) -> str:
    if key.lower().startswith("aws:"):
        raise ValueError("tag keys starting with aws: are reserved by AWS")
    if not 1 <= len(key) <= 128:
        raise ValueError("tag keys are 1 to 128 characters long")
    return key


class StackConfig(Section):
    """Everything one environment needs. Sections are documented on their own models."""

    tier: Literal["dev", "prod"] = Field(
        description="dev is cheap and disposable; prod adds the resilience and protection rules."
    )
    region: str = Field(
        pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$",
        description="AWS region every resource of the stack lives in, e.g. eu-west-1.",
    )
    tags: dict[Annotated[str, AfterValidator(_tag_key)], str] = Field(
        default_factory=dict,
        description="Extra tags on every AWS resource (added to the provider's default tags).",
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    airflow: AirflowConfig = Field(default_factory=AirflowConfig)
    batch: BatchConfig = Field(default_factory=BatchConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    task_logs: TaskLogsConfig = Field(default_factory=TaskLogsConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    sso: SsoConfig = Field(default_factory=SsoConfig)

    def problems(self, tier: str, path: str = "") -> list[Problem]:
        found: list[Problem] = []
        for name in type(self).model_fields:
            section = getattr(self, name)
            if isinstance(section, Section):
                found += section.problems(tier, name)
        if self.batch.namespace == self.airflow.namespace:
            found.append(
                Problem("batch.namespace", self.batch.namespace, "must differ from airflow.namespace (batch Jobs get their own guard rails)")
            )
        found += self.database.region_problems(self.region, "database")
        return found

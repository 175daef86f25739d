"""The typed model of a whole stack file (``Pulumi.<stack>.yaml``). Defaults live here and only here.

Every key sits under the project's namespace (``batch-platform:<section>``). Defaults are the
production-shaped choice; a cheaper environment loosens them explicitly in its stack file.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from infra.aws_catalog import region_problem, regions
from infra.pgbouncer import AirflowDatabaseClients, PoolPlanError, plan_pools
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


def _region(region: str) -> str:
    problem = region_problem(region)
    if problem:
        raise ValueError(problem)
    return region


class StackConfig(Section):
    """Everything one environment needs. Sections are documented on their own models."""

    tier: Literal["dev", "prod"] = Field(
        description="dev is cheap and disposable; prod adds the resilience and protection rules."
    )
    region: Annotated[str, AfterValidator(_region)] = Field(
        description="AWS region every resource of the stack lives in, e.g. eu-west-1 (one of botocore's partitions).",
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
        found += self._pool_problems()
        found += self._partition_problems()
        return found

    def _partition_problems(self) -> list[Problem]:
        """ARNs must be of the region's partition, and the UI's certificate of the region itself
        (an NLB's TLS listener takes an ACM certificate of its own region only)."""
        partition = regions().get(self.region)
        found: list[Problem] = []
        arns = [
            *(("cluster.admin_role_arns", arn) for arn in self.cluster.admin_role_arns),
            *(("batch.iam_policy_arns", arn) for arn in self.batch.iam_policy_arns),
        ]
        certificate = self.airflow.ui.certificate_arn
        if certificate is not None:
            arns.append(("airflow.ui.certificate_arn", certificate))
        for path, arn in arns:
            parts = arn.split(":")
            if len(parts) > 3 and partition is not None and parts[1] != partition:
                found.append(Problem(path, arn, f"an ARN of partition {parts[1]}, but {self.region} is in partition {partition}"))
            elif path == "airflow.ui.certificate_arn" and len(parts) > 3 and parts[3] != self.region:
                found.append(
                    Problem(path, arn, f"a certificate of {parts[3]}: the load balancer in {self.region} takes only an ACM certificate of {self.region}")
                )
        return found

    def _pool_problems(self) -> list[Problem]:
        """The database must carry PgBouncer's pools for the Airflow replicas (infra/pgbouncer.py)."""
        replicas = self.airflow.replicas
        clients = AirflowDatabaseClients(
            schedulers=replicas.scheduler,
            api_servers=replicas.api_server,
            api_workers_per_server=self.airflow.api_workers_per_server,
            triggerers=replicas.triggerer,
            dag_processors=replicas.dag_processor,
        )
        try:
            plan_pools(self.database.instance_class, replicas.pgbouncer, clients)
        except PoolPlanError as exc:
            return [Problem("database.instance_class", self.database.instance_class, str(exc))]
        return []

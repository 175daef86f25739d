"""The data stores of an environment: Airflow's metadata database, its durable secrets, its task-log bucket.

Wired by ``build_environment`` after the network. What survives ``pulumi destroy`` is named here
from the project, the stack and (for S3) the account and region, because those names are how a
recreated stack finds and adopts what the previous one left behind.

Who may reach the database: the ``database-clients`` security group created here, which carries an
egress rule to the database on 5432 and is the only source the database admits. Whatever needs the
database (Airflow's nodes, or its pods with security groups for pods) carries this group. A caller
may also admit more groups (e.g. the EKS cluster security group that managed nodes carry) with
``extra_client_security_group_ids``; never a CIDR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from infra.airflow_secrets import AirflowSecrets, AirflowSecretsArgs
from infra.database import POSTGRES_PORT, Database, DatabaseArgs
from infra.network import Network
from infra.task_log_bucket import TaskLogBucket, TaskLogBucketArgs, bucket_name_problem
from stacks.config import StackConfig


def database_identifier(project: str, stack: str) -> str:
    return f"{project}-{stack}-airflow"


def durable_secret_prefix(project: str, stack: str) -> str:
    """Secrets Manager prefix of the Airflow secrets; fixed per stack so a recreate finds them."""
    return f"{project}/{stack}/airflow"


def task_log_bucket_name(project: str, stack: str, account_id: str, region: str) -> str:
    """Fixed, globally unique bucket name: account and region keep other accounts from owning it first."""
    name = f"{project}-{stack}-task-logs-{account_id}-{region}"
    problem = bucket_name_problem(name)
    if problem:
        raise ValueError(f"task log bucket name {name!r} for stack {stack!r}: {problem}; use a shorter stack name")
    return name


@dataclass(frozen=True)
class DataStores:
    """What the rest of the environment uses from the data stores."""

    database: Database
    airflow_secrets: AirflowSecrets
    task_logs: TaskLogBucket
    database_clients_security_group_id: pulumi.Output[str]
    """Attach this group to whatever connects to the database (nodes or pods)."""

    def stack_outputs(self) -> dict[str, Any]:
        return {
            "database_instance_identifier": self.database.identifier,
            "database_endpoint": self.database.address,
            "database_port": self.database.port,
            "database_final_snapshot_identifier": self.database.final_snapshot_identifier,
            "database_clients_security_group_id": self.database_clients_security_group_id,
            "task_log_bucket": self.task_logs.bucket,
            "durable_secret_arns": pulumi.Output.all(**self.airflow_secrets.arns),
        }


def build_data_stores(
    config: StackConfig,
    stack: str,
    network: Network,
    *,
    project: str,
    aws_provider: aws.Provider,
    extra_client_security_group_ids: Sequence[pulumi.Input[str]] = (),
    ssl_root_cert: str | None = None,
) -> DataStores:
    """Register the database, the durable Airflow secrets and the task-log bucket of one environment.

    ``ssl_root_cert``: path of the RDS CA bundle inside the Airflow containers, once the Airflow
    release mounts it; the connection string then verifies the server (``sslmode=verify-full``).
    """
    on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})
    db = config.database

    clients = aws.ec2.SecurityGroup(
        f"{stack}-database-clients",
        vpc_id=network.vpc.id,
        description="Carried by workloads that connect to the Airflow metadata database",
        tags={"Name": f"{stack}-database-clients"},
        opts=on_aws,
    )
    database = Database(
        f"{stack}-database",
        DatabaseArgs(
            identifier=database_identifier(project, stack),
            vpc_id=network.vpc.id,
            db_subnet_group_name=network.db_subnet_group_name,
            client_security_group_ids=[clients.id, *extra_client_security_group_ids],
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            allocated_storage=db.allocated_storage,
            max_allocated_storage=db.max_allocated_storage,
            multi_az=db.multi_az,
            backup_retention_days=db.backup_retention_days,
            backup_window=db.backup_window,
            maintenance_window=db.maintenance_window,
            deletion_protection=db.deletion_protection,
            apply_immediately=db.apply_immediately,
            restore_from_snapshot=db.restore_from_snapshot,
            performance_insights_retention_days=db.performance_insights_retention_days,
            monitoring_interval_seconds=db.monitoring_interval_seconds,
            slow_statement_ms=db.slow_statement_ms,
            log_retention_days=db.log_retention_days,
            ssl_root_cert=ssl_root_cert,
        ),
        opts=on_aws,
    )
    # Egress of the clients' group: only to the database, only on its port.
    aws.vpc.SecurityGroupEgressRule(
        f"{stack}-database-clients-to-postgres",
        security_group_id=clients.id,
        referenced_security_group_id=database.security_group_id,
        ip_protocol="tcp",
        from_port=POSTGRES_PORT,
        to_port=POSTGRES_PORT,
        description="PostgreSQL to the Airflow metadata database",
        opts=on_aws,
    )

    secrets = AirflowSecrets(
        f"{stack}-airflow-secrets",
        AirflowSecretsArgs(name_prefix=durable_secret_prefix(project, stack)),
        opts=on_aws,
    )

    account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=aws_provider)).account_id
    task_logs = TaskLogBucket(
        f"{stack}-task-logs",
        TaskLogBucketArgs(
            bucket_name=task_log_bucket_name(project, stack, account_id, config.region),
            expiration_days=config.task_logs.expiration_days,
            noncurrent_version_expiration_days=config.task_logs.noncurrent_version_expiration_days,
        ),
        opts=on_aws,
    )
    return DataStores(
        database=database,
        airflow_secrets=secrets,
        task_logs=task_logs,
        database_clients_security_group_id=clients.id,
    )

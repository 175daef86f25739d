"""Wiring of Airflow and the batch-jobs runtime into an environment: typed config -> component args.

``build_environment`` calls ``build_airflow`` once the cluster (Kubernetes provider, OIDC provider)
and the data layer (database, durable secrets, task-log bucket) exist; it passes their outputs as
keyword arguments and gets back the stack outputs of this part (``airflow_namespace``,
``airflow_url``, ``airflow_load_balancer``, ``batch_namespace``).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.airflow import Airflow, AirflowArgs, UiSettings
from infra.airflow_values import AirflowSettings, GitSyncDags, ImageDags, Resources, pool_plan
from infra.batch_namespace import (
    BatchContainerLimits,
    BatchNamespace,
    BatchNamespaceArgs,
    BatchNamespaceSettings,
    BatchQuota,
    ServiceAccountRef,
)
from infra.cidr import plan_subnets
from infra.pgbouncer import PoolPlanError
from stacks.airflow_image import AirflowImage
from stacks.config import Problem, StackConfig, StackConfigError

# The Airflow components that run KubernetesJobOperator (task pods) or wait for it (triggerer,
# deferrable mode). The scheduler never touches the batch namespace with the KubernetesExecutor.
JOB_LAUNCHERS = ("worker", "triggerer")


def airflow_settings(config: StackConfig) -> AirflowSettings:
    """The Airflow settings of a validated stack config (pure)."""
    a = config.airflow
    resources = {
        name: Resources(r.cpu_request, r.memory_request, r.cpu_limit, r.memory_limit)
        for name, r in ((name, getattr(a.resources, name)) for name in type(a.resources).model_fields)
    }
    if a.dags.source == "git_sync":
        g = a.dags.git_sync
        dags: GitSyncDags | ImageDags = GitSyncDags(
            repo=g.repo or "",
            branch=g.branch,
            sub_path=g.sub_path,
            ssh_key_secret=g.ssh_key_secret,
            known_hosts=g.known_hosts,
            period_seconds=g.period_seconds,
        )
    else:
        dags = ImageDags(repository=a.dags.image.repository or "", tag=a.dags.image.tag or "")
    return AirflowSettings(
        release_name=a.release_name,
        namespace=a.namespace,
        region=config.region,
        replicas=a.replicas.model_dump(),
        resources=resources,
        api_workers_per_server=a.api_workers_per_server,
        task_log_prefix=a.task_log_prefix,
        connections_prefix=a.connections_prefix,
        dags=dags,
        admin_username=a.admin.username,
        admin_email=a.admin.email,
        api_base_url=f"https://{a.ui.hostname}" if a.ui.hostname else None,
        kubernetes_version=config.cluster.kubernetes_version,
    )


def ui_settings(config: StackConfig) -> UiSettings:
    ui = config.airflow.ui
    return UiSettings(
        certificate_arn=ui.certificate_arn,
        internet_facing=ui.internet_facing,
        allowed_cidrs=tuple(ui.allowed_cidrs),
        hostname=ui.hostname,
    )


def batch_settings(config: StackConfig, *, database_port: Optional[int]) -> BatchNamespaceSettings:
    """The batch namespace settings (pure): launchers are the Airflow accounts named by the chart values."""
    b = config.batch
    airflow = airflow_settings(config)
    subnets = plan_subnets(config.network.vpc_cidr, config.network.az_count)
    return BatchNamespaceSettings(
        namespace=b.namespace,
        service_account=b.service_account,
        launchers=tuple(ServiceAccountRef(airflow.namespace, airflow.service_account(c)) for c in JOB_LAUNCHERS),
        quota=BatchQuota(**b.quota.model_dump()),
        container_limits=BatchContainerLimits(**b.container_limits.model_dump()),
        https_egress=b.https_egress,
        vpc_cidr=config.network.vpc_cidr,
        database_cidrs=tuple(str(c) for c in subnets.database) if b.database_egress else (),
        database_port=database_port if b.database_egress else None,
        kubernetes_version=config.cluster.kubernetes_version,
    )


def build_airflow(
    config: StackConfig,
    stack: str,
    *,
    kubernetes_provider: k8s.Provider,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    database_instance_class: str,
    database_port: int,
    metadata_connection_uri: pulumi.Input[str],
    fernet_key: pulumi.Input[str],
    api_secret_key: pulumi.Input[str],
    jwt_secret: pulumi.Input[str],
    task_log_bucket_name: pulumi.Input[str],
    task_log_bucket_arn: pulumi.Input[str],
    image: AirflowImage,
    admin_password: Optional[pulumi.Input[str]] = None,
    wait_for: Sequence[pulumi.Resource] = (),
    opts: Optional[pulumi.ResourceOptions] = None,
) -> dict[str, Any]:
    """Register Airflow and the batch namespace; return their stack outputs.

    ``image`` is the resolved Airflow image (``stacks.airflow_image.build_airflow_image``).
    ``opts`` carries the AWS provider (``providers={"aws": ...}``) for the IAM roles and the
    Secrets Manager secrets. Raises StackConfigError before registering anything when the database
    instance class cannot carry PgBouncer's pools.
    """
    settings = airflow_settings(config)
    try:
        pool_plan(settings, database_instance_class)
    except PoolPlanError as exc:
        raise StackConfigError(
            f"Pulumi.{stack}.yaml", [Problem("database.instance_class", database_instance_class, str(exc))]
        ) from None

    airflow = Airflow(
        f"{stack}-airflow",
        AirflowArgs(
            kubernetes_provider=kubernetes_provider,
            oidc_provider_arn=oidc_provider_arn,
            oidc_issuer=oidc_issuer,
            settings=settings,
            database_instance_class=database_instance_class,
            metadata_connection_uri=metadata_connection_uri,
            wait_for=tuple(wait_for),
            admin_password=admin_password,
            fernet_key=fernet_key,
            api_secret_key=api_secret_key,
            jwt_secret=jwt_secret,
            task_log_bucket_name=task_log_bucket_name,
            task_log_bucket_arn=task_log_bucket_arn,
            image_repository=image.repository,
            image_tag=image.tag,
            await_release=image.await_release,
            ui=ui_settings(config),
        ),
        opts=opts,
    )
    batch = BatchNamespace(
        f"{stack}-batch",
        BatchNamespaceArgs(
            kubernetes_provider=kubernetes_provider,
            oidc_provider_arn=oidc_provider_arn,
            oidc_issuer=oidc_issuer,
            settings=batch_settings(config, database_port=database_port),
            iam_policy_arns=tuple(config.batch.iam_policy_arns),
        ),
        opts=opts,
    )
    return {
        "airflow_namespace": airflow.namespace,
        "airflow_url": airflow.url,
        "airflow_load_balancer": airflow.load_balancer,
        "batch_namespace": batch.namespace,
    }

"""Wiring of Airflow and the batch-jobs runtime into an environment: typed config -> component args.

``build_environment`` calls ``build_airflow`` once the cluster (Kubernetes provider, OIDC provider)
and the data layer (database, durable secrets, task-log bucket) exist; it passes their outputs as
keyword arguments and gets back the stack outputs of this part (``airflow_namespace``,
``airflow_url``, ``airflow_load_balancer``, ``batch_namespace``).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.airflow import Airflow, AirflowArgs, UiSettings
from infra.airflow_sso import SsoSettings, sso_client_secret
from infra.airflow_values import (
    IRSA_COMPONENTS,
    LOG_WRITERS,
    AirflowSettings,
    GitSyncDags,
    ImageDags,
    Resources,
    StatsdMetrics,
    pool_plan,
)
from infra.batch_namespace import (
    BatchContainerLimits,
    BatchNamespace,
    BatchNamespaceArgs,
    BatchNamespaceSettings,
    BatchQuota,
    ServiceAccountRef,
)
from infra.batch_secrets import BatchSecrets, BatchSecretsArgs
from infra.cidr import plan_subnets
from infra.git_ssh_key import GIT_SSH_KEY, GitSshKey, GitSshKeyArgs
from infra.observability import AGENT_SERVICE_HOST, STATSD_PORT
from infra.database import POSTGRES_PORT
from infra.pgbouncer import PoolPlanError
from infra.task_log_group import TaskLogGroup, TaskLogGroupArgs, task_log_group_name
from stacks.airflow_image import AirflowImage
from stacks.config import Problem, StackConfig, StackConfigError
from stacks.data import durable_secret_prefix

# The Airflow components that run KubernetesJobOperator (task pods) or wait for it (triggerer,
# deferrable mode). The scheduler never touches the batch namespace with the KubernetesExecutor.
JOB_LAUNCHERS = ("worker", "triggerer")


GIT_SSH_KEY_VERSION_ANNOTATION = "batch-platform/git-ssh-key-version"


def git_ssh_key_secret_name(project: str, stack: str) -> str:
    """Secrets Manager name of the git-sync deploy key: fixed per stack, so a recreate finds it.

    The DR rehearsal imports this (or reads the stack output ``git_ssh_key_secret_name``)."""
    return f"{durable_secret_prefix(project, stack)}/{GIT_SSH_KEY}"


def batch_secrets_prefix(project: str, stack: str) -> str:
    """Secrets Manager prefix of the batch Jobs' secrets (``infra.batch_secrets``): operators own them."""
    return f"{project}/{stack}/batch/secrets"


def needs_git_ssh_key(config: StackConfig) -> bool:
    """Whether the stack pulls its DAGs over SSH, with a deploy key."""
    dags = config.airflow.dags
    return dags.source == "git_sync" and dags.git_sync.uses_ssh and bool(dags.git_sync.ssh_key_secret)


def sso_client_secret_name(project: str, stack: str) -> str:
    """Secrets Manager name of the OIDC client secret (``sso``): durable, valued by an operator."""
    return f"{durable_secret_prefix(project, stack)}/sso-client-secret"


def sso_settings(config: StackConfig, client_secret_name: Optional[str]) -> Optional[SsoSettings]:
    """The SSO settings when ``sso.enabled`` (pure)."""
    s = config.sso
    if not s.enabled or client_secret_name is None:
        return None
    return SsoSettings(
        provider=s.provider or "",
        issuer=s.issuer or "",
        client_id=s.client_id or "",
        client_secret_name=client_secret_name,
        region=config.region,
        group_roles={group: tuple(roles) for group, roles in s.group_roles.items()},
        default_role=s.default_role,
    )


def airflow_settings(config: StackConfig, *, sso_client_secret_name: Optional[str] = None) -> AirflowSettings:
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
        metrics=StatsdMetrics(
            AGENT_SERVICE_HOST,
            STATSD_PORT,
            tuple(config.observability.metric_allow_list),
            cidrs=(str(config.network.vpc_cidr),),
        ),
        sso=sso_settings(config, sso_client_secret_name),
        # The internal NLB reaches the API servers through the nodes (source NAT to a node address).
        ui_source_cidrs=(str(config.network.vpc_cidr),),
        database_cidrs=tuple(str(c) for c in plan_subnets(config.network.vpc_cidr, config.network.az_count).database),
        database_port=POSTGRES_PORT,
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
    project: str = "batch-platform",
    batch_secrets: Optional[Mapping[str, Mapping[str, str]]] = None,
) -> dict[str, Any]:
    """Register Airflow and the batch namespace; return their stack outputs.

    ``image`` is the resolved Airflow image (``stacks.airflow_image.build_airflow_image``).
    ``opts`` carries the AWS provider (``providers={"aws": ...}``) for the IAM roles and the
    Secrets Manager secrets. Raises StackConfigError before registering anything when the database
    instance class cannot carry PgBouncer's pools.

    With DAGs over SSH, the deploy key is the durable secret ``git_ssh_key_secret_name``
    (``infra.git_ssh_key``), copied into the Airflow namespace; while it has no value the release is
    installed without waiting (its git-sync containers cannot start) and a warning says what to run.
    """
    sso_secret = sso_client_secret_name(project, stack) if config.sso.enabled else None
    settings = airflow_settings(config, sso_client_secret_name=sso_secret)
    try:
        pool_plan(settings, database_instance_class)
    except PoolPlanError as exc:
        raise StackConfigError(
            f"Pulumi.{stack}.yaml", [Problem("database.instance_class", database_instance_class, str(exc))]
        ) from None

    git_key = None
    await_release = image.await_release
    if needs_git_ssh_key(config):
        git_key = GitSshKey(
            f"{stack}-git-ssh-key", GitSshKeyArgs(secret_name=git_ssh_key_secret_name(project, stack)), opts=opts
        )
        if not git_key.has_value:
            await_release = False
            pulumi.log.warn(
                f"the git-sync deploy key {git_key.name} has no value yet: the Airflow release is installed without "
                "waiting for its pods (git-sync cannot read the DAG repository). Still missing: the key; set it with "
                f"aws secretsmanager put-secret-value --secret-id {git_key.name} --secret-string file://deploy_key "
                "and run pulumi up again."
            )

    task_log_group = None
    if config.task_logs.destination == "cloudwatch":
        task_log_group = TaskLogGroup(
            f"{stack}-task-log-group",
            TaskLogGroupArgs(
                name=task_log_group_name(project, stack),
                region=config.region,
                retention_days=config.task_logs.cloudwatch_retention_days,
            ),
            opts=opts,
        )
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
            task_log_group_arn=task_log_group.arn if task_log_group else None,
            image_repository=image.repository,
            image_tag=image.tag,
            image_digest=image.digest,
            await_release=await_release,
            image_available=image.await_release,
            ui=ui_settings(config),
            git_ssh_key=git_key.value if git_key is not None else None,
            # The chart mounts the key with subPath, which running containers never refresh: a new
            # version (a rotation) rolls the pods.
            pod_annotations={GIT_SSH_KEY_VERSION_ANNOTATION: git_key.version_id}
            if git_key is not None and git_key.version_id
            else {},
        ),
        opts=opts,
    )
    if task_log_group is not None:
        for component in IRSA_COMPONENTS:
            task_log_group.grant(component, airflow.role_arns[component], write=component in LOG_WRITERS)
    if settings.sso is not None:
        sso_client_secret(
            f"{stack}-airflow-sso-client-secret",
            secret_name=settings.sso.client_secret_name,
            reader_role_arn=airflow.role_arns["api_server"],
            parent=airflow,
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
    providers = dict(opts.providers) if opts is not None and isinstance(opts.providers, dict) else {}
    BatchSecrets(
        f"{stack}-batch-secrets",
        BatchSecretsArgs(contents=batch_secrets or {}, namespace=batch.namespace, namespace_name=config.batch.namespace),
        opts=pulumi.ResourceOptions(providers={**providers, "kubernetes": kubernetes_provider}),
    )
    outputs: dict[str, Any] = {
        "airflow_namespace": airflow.namespace,
        "airflow_url": airflow.url,
        "airflow_load_balancer": airflow.load_balancer,
        "batch_namespace": batch.namespace,
    }
    if git_key is not None:
        outputs["git_ssh_key_secret_name"] = git_key.name
        outputs["git_ssh_key_secret_arn"] = git_key.arn
    return outputs

"""The Helm values of the official Airflow chart: a pure function of typed settings, checked by our own model.

``airflow_values(settings, role_arns)`` returns the values the Airflow component hands to the chart.
``ChartValues`` models the subset of the chart's values we set, with the chart's exact key names
(chart 1.22.0) and ``extra="forbid"`` at every level: the chart's root schema accepts unknown
top-level keys, so a typo there (``schedular:``) would silently deploy the chart's defaults. Every
dict this module returns has been validated by ``ChartValues`` first.

Secrets never appear here: every secret-bearing setting names a Kubernetes Secret (metadata
connection, fernet/API/JWT keys, PgBouncer configuration, admin password, git SSH key) and the
notification connections live in AWS Secrets Manager, read through the secrets backend.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from infra import versions
from infra.airflow_sso import SsoSettings, webserver_config
from infra.airflow_security import merge, security_values
from infra.irsa import IRSA_ANNOTATION
from infra.pgbouncer import (
    SQLALCHEMY_MAX_OVERFLOW,
    SQLALCHEMY_POOL_SIZE,
    AirflowDatabaseClients,
    PoolPlan,
    plan_pools,
)
from infra.scheduling import SYSTEM, node_selector, toleration
from infra.versions import DEFAULT_KUBERNETES_VERSION

# Components that read or write task logs and therefore get an IAM role (IRSA) for the log bucket.
LOG_WRITERS = ("scheduler", "triggerer", "dag_processor", "worker")
LOG_READERS = ("api_server",)
IRSA_COMPONENTS = LOG_WRITERS + LOG_READERS

# Connection ids: the contract with the DAG library (dags/ notifies through these two).
SLACK_CONNECTION_ID = "slack_notifications"
SMTP_CONNECTION_ID = "smtp_notifications"
TASK_LOG_CONNECTION_ID = "aws_task_logs"
# The batch task's Kubernetes connection: absent everywhere, so the provider uses the pod's
# in-cluster account (the DAG library's default, dags/batch_platform/settings.py).
KUBERNETES_CONNECTION_ID = "kubernetes_default"
# Connections that never live in Secrets Manager (one from the environment, one absent): looking
# them up there first, on every task and every log read, only costs a request and its latency.
LOCAL_CONNECTION_IDS = (TASK_LOG_CONNECTION_ID, KUBERNETES_CONNECTION_ID)

SECRETS_MANAGER_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

# Keys of the Kubernetes Secrets the chart reads (the key names are fixed by the chart).
METADATA_SECRET_KEY = "connection"
FERNET_SECRET_KEY = "fernet-key"
API_SECRET_KEY = "api-secret-key"
JWT_SECRET_KEY = "jwt-secret"
ADMIN_PASSWORD_KEY = "password"
# How long the create-user Job waits for the migration Job's schema: the Helm timeout's default
# (infra/airflow.py AirflowArgs.helm_timeout_seconds), which a first install's migration fits in.
MIGRATION_WAIT_SECONDS = 1200
GIT_SSH_KEY = "gitSshKey"


# --- Settings: what the function is built from ----------------------------------------------------


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def as_values(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


@dataclass(frozen=True)
class GitSyncDags:
    """DAGs pulled from git by a git-sync sidecar; the deploy key comes from a Kubernetes Secret."""

    repo: str
    branch: str
    sub_path: str
    ssh_key_secret: Optional[str]
    known_hosts: Optional[str]
    period_seconds: int = 60


# Where the chart's git-sync checks the DAG repository out (DAG files under ``sub_path``).
GIT_SYNC_CHECKOUT = "/opt/airflow/dags/repo"

# [core] plugins_folder is never set: every component loads the platform image's plugins from
# Airflow's default folder ($AIRFLOW_HOME/plugins), and the plugin imports the DAG library installed
# in the image. A folder inside the git checkout would exist only where the chart mounts the DAGs:
# not in the scheduler when a DAG processor runs, never in the API server, and both deserialize
# DAGs with the Jenkins timetable (TimetableNotRegistered without the plugin).


@dataclass(frozen=True)
class ImageDags:
    """DAGs baked into an image built FROM the platform's Airflow image (images/airflow)."""

    repository: str
    tag: str


@dataclass(frozen=True)
class ImageRef:
    """An image by repository and tag, e.g. the platform image in the stack's ECR repository, and the
    digest that tag resolved to when it is known (the stack's own repository holds the image)."""

    repository: str
    tag: str
    digest: Optional[str] = None
    """``sha256:<64 hex>``: every Airflow container, task pods included, then runs exactly this content."""

    def __post_init__(self) -> None:
        if self.digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", self.digest):
            raise ValueError(f"image digest {self.digest!r} of {self.repository}:{self.tag}: expected sha256:<64 hex digits>")


@dataclass(frozen=True)
class SecretNames:
    """Names of the Kubernetes Secrets (in the Airflow namespace) the chart reads."""

    metadata: str = "airflow-metadata"
    fernet_key: str = "airflow-fernet-key"
    api_secret_key: str = "airflow-api-secret-key"
    jwt_secret: str = "airflow-jwt-secret"
    pgbouncer_config: str = "airflow-pgbouncer-config"
    pgbouncer_stats: str = "airflow-pgbouncer-stats"
    admin_password: str = "airflow-admin"


@dataclass(frozen=True)
class StatsdMetrics:
    """Where Airflow sends its StatsD metrics and which ones (``infra.observability``: the CloudWatch
    agent's listener). Legacy names (dag and task ids inside the name) are off: one series per metric."""

    host: str
    port: int
    allow_list: tuple[str, ...]
    """Regexes of Airflow's [metrics] metrics_allow_list (no commas: Airflow splits on them)."""
    cidrs: tuple[str, ...] = ()
    """Addresses the listener answers on (the agent uses the nodes' host network: the VPC): the
    Airflow namespace's egress NetworkPolicy lets UDP to ``port`` through to them."""


@dataclass(frozen=True, kw_only=True)
class AirflowSettings:
    """Everything the values depend on, all plain data (no Pulumi Outputs)."""

    release_name: str
    namespace: str
    region: str
    replicas: Mapping[str, int]
    """scheduler, api_server, triggerer, dag_processor, pgbouncer."""
    resources: Mapping[str, Resources]
    """scheduler, api_server, triggerer, dag_processor, worker, pgbouncer, pgbouncer_exporter,
    statsd, migrate_job, create_user_job, git_sync."""
    api_workers_per_server: int
    task_log_prefix: str
    connections_prefix: str
    dags: Union[GitSyncDags, ImageDags]
    admin_username: str
    admin_email: str
    api_base_url: Optional[str] = None
    secret_names: SecretNames = field(default_factory=SecretNames)
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    """The cluster's Kubernetes minor: the Pod Security Standard version the Airflow namespace pins."""
    metrics: Optional[StatsdMetrics] = None
    """StatsD to the CloudWatch agent; None: to the chart's own StatsD exporter (nothing collects it)."""
    sso: Optional[SsoSettings] = None
    """OIDC login for the UI (``infra.airflow_sso``); None: the FAB auth manager's own user database."""
    ui_source_cidrs: tuple[str, ...] = ()
    """Addresses the UI's clients reach the API server pods from (the VPC, behind the internal NLB)."""
    database_cidrs: tuple[str, ...] = ()
    """The database subnets: PgBouncer's only egress besides DNS and the namespace (NetworkPolicy)."""
    database_port: Optional[int] = None

    def service_account(self, component: str) -> str:
        """The Kubernetes service account name of a chart component (we name them; never the chart)."""
        return f"{self.release_name}-{component.replace('_', '-')}"

    @property
    def pgbouncer_host(self) -> str:
        return f"{self.release_name}-pgbouncer.{self.namespace}.svc.cluster.local"


# --- The model of the chart values we set --------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Quantities(_Strict):
    cpu: str
    memory: str


class _Resources(_Strict):
    requests: _Quantities
    limits: _Quantities


class _Toleration(_Strict):
    key: str
    operator: Literal["Equal", "Exists"]
    value: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class _ServiceAccount(_Strict):
    create: bool
    name: str
    annotations: dict[str, str] = Field(default_factory=dict)


class _PdbConfig(_Strict):
    maxUnavailable: int = Field(ge=1)


class _Pdb(_Strict):
    enabled: Literal[True]
    config: _PdbConfig


class _Enabled(_Strict):
    enabled: bool


class _Placement(_Strict):
    resources: _Resources
    nodeSelector: dict[str, str]
    tolerations: list[_Toleration]
    serviceAccount: _ServiceAccount


class _Component(_Placement):
    replicas: int = Field(ge=1)
    podDisruptionBudget: _Pdb


class _Scheduler(_Component):
    logGroomerSidecar: _Enabled


class _ApiServer(_Component):
    apiServerConfig: Optional[str] = None
    """The API servers' webserver_config.py (the FAB auth manager's settings: SSO)."""


class _Triggerer(_Component):
    persistence: _Enabled
    logGroomerSidecar: _Enabled


class _DagProcessor(_Component):
    enabled: Literal[True]
    logGroomerSidecar: _Enabled


class _WorkersKubernetes(_Strict):
    serviceAccount: _ServiceAccount


class _Workers(_Strict):
    resources: _Resources
    nodeSelector: dict[str, str]
    tolerations: list[_Toleration]
    serviceAccount: _ServiceAccount
    kubernetes: _WorkersKubernetes


class _SecretKeyRef(_Strict):
    name: str
    key: str


class _ValueFrom(_Strict):
    secretKeyRef: _SecretKeyRef


class _EnvVar(_Strict):
    name: str
    value: Optional[str] = None
    valueFrom: Optional[_ValueFrom] = None


class _DefaultUser(_Strict):
    username: str
    email: str
    password: Literal[""]
    """Emptied so the chart's admin/admin can never be created, even if our args were dropped."""


class _CreateUserJob(_Strict):
    enabled: bool  # False only while the image cannot exist (airflow_values' image_available)
    useHelmHooks: Literal[False]
    applyCustomEnv: Literal[False]
    args: list[str]
    env: list[_EnvVar]
    defaultUser: _DefaultUser
    resources: _Resources
    nodeSelector: dict[str, str]
    tolerations: list[_Toleration]
    serviceAccount: _ServiceAccount


class _MigrateDatabaseJob(_Strict):
    enabled: bool  # False only while the image cannot exist (airflow_values' image_available)
    useHelmHooks: Literal[False]
    applyCustomEnv: Literal[False]
    resources: _Resources
    nodeSelector: dict[str, str]
    tolerations: list[_Toleration]
    serviceAccount: _ServiceAccount


class _PgbouncerExporter(_Strict):
    statsSecretName: str
    statsSecretKey: str
    resources: _Resources


class _Pgbouncer(_Component):
    enabled: Literal[True]
    configSecretName: str
    metadataPoolSize: int = Field(ge=1)
    resultBackendPoolSize: int = Field(ge=0)
    maxClientConn: int = Field(ge=1)
    metricsExporterSidecar: _PgbouncerExporter


class _Statsd(_Placement):
    enabled: bool


class _Data(_Strict):
    metadataSecretName: str


class _GitSync(_Strict):
    enabled: bool
    repo: Optional[str] = None
    branch: Optional[str] = None
    rev: Optional[str] = None
    ref: Optional[str] = None
    depth: Optional[int] = None
    subPath: Optional[str] = None
    period: Optional[str] = None
    sshKeySecret: Optional[str] = None
    knownHosts: Optional[str] = None
    resources: Optional[_Resources] = None
    recommendedProbeSetting: Optional[bool] = None
    livenessProbe: Optional[dict[str, bool]] = None


class _Dags(_Strict):
    gitSync: _GitSync


class _LogsPersistence(_Strict):
    enabled: Literal[False]


class _Logs(_Strict):
    persistence: _LogsPersistence


ConfigValue = Union[str, int, bool]


class _Config(_Strict):
    """airflow.cfg sections we set (the chart merges them over its own defaults)."""

    core: dict[str, ConfigValue]
    database: dict[str, ConfigValue]
    logging: dict[str, ConfigValue]
    secrets: dict[str, ConfigValue]
    api: dict[str, ConfigValue]
    kubernetes_executor: dict[str, ConfigValue]
    metrics: Optional[dict[str, ConfigValue]] = None


class ChartValues(_Strict):
    """The values of the official Airflow chart (1.22.0) that this project sets, nothing else."""

    defaultAirflowRepository: str
    defaultAirflowTag: str
    defaultAirflowDigest: Optional[str] = None
    airflowVersion: str
    executor: Literal["KubernetesExecutor"]
    allowPodLaunching: Literal[True]
    allowJobLaunching: Literal[True]
    nodeSelector: dict[str, str]
    tolerations: list[_Toleration]
    postgresql: _Enabled
    redis: _Enabled
    data: _Data
    fernetKeySecretName: str
    apiSecretKeySecretName: str
    jwtSecretName: str
    env: list[_EnvVar]
    config: _Config
    scheduler: _Scheduler
    apiServer: _ApiServer
    triggerer: _Triggerer
    dagProcessor: _DagProcessor
    workers: _Workers
    createUserJob: _CreateUserJob
    migrateDatabaseJob: _MigrateDatabaseJob
    pgbouncer: _Pgbouncer
    statsd: _Statsd
    dags: _Dags
    logs: _Logs
    airflowPodAnnotations: Optional[dict[str, str]] = None


# --- The function ----------------------------------------------------------------------------------


def _placement(settings: AirflowSettings, component: str, *, annotations: Mapping[str, str] = ()) -> dict[str, Any]:
    return {
        "resources": settings.resources[component].as_values(),
        "nodeSelector": node_selector(SYSTEM),
        "tolerations": [toleration(SYSTEM)],
        "serviceAccount": {
            "create": True,
            "name": settings.service_account(component),
            "annotations": dict(annotations),
        },
    }


def _ha_component(settings: AirflowSettings, component: str, annotations: Mapping[str, str]) -> dict[str, Any]:
    return {
        **_placement(settings, component, annotations=annotations),
        "replicas": settings.replicas[component],
        # One pod at a time may be evicted (node drain, upgrade): with 2+ replicas the component
        # keeps running; with one (dev) a drain is still allowed instead of blocking forever.
        "podDisruptionBudget": {"enabled": True, "config": {"maxUnavailable": 1}},
    }


def _irsa(role_arns: Mapping[str, str], component: str) -> dict[str, str]:
    return {IRSA_ANNOTATION: role_arns[component]}


def deployed_image(settings: AirflowSettings, image: ImageRef) -> ImageRef:
    """The image every Airflow container runs: the DAG image when DAGs are baked into one (it is
    built FROM ``image``), otherwise ``image`` itself."""
    if isinstance(settings.dags, ImageDags):
        return ImageRef(settings.dags.repository, settings.dags.tag)
    return image


def _dags(settings: AirflowSettings) -> dict[str, Any]:
    dags = settings.dags
    if isinstance(dags, ImageDags):
        return {"gitSync": {"enabled": False}}
    git: dict[str, Any] = {
        "enabled": True,
        "repo": dags.repo,
        "branch": dags.branch,
        "rev": "HEAD",
        "ref": dags.branch,
        "depth": 1,
        "subPath": dags.sub_path,
        "period": f"{dags.period_seconds}s",
        "resources": settings.resources["git_sync"].as_values(),
        # git-sync's own liveness endpoint (--http-bind, which the chart sets), the chart's announced
        # default. In git-sync 4.4 it reports healthy once the first sync succeeded, and stays so; a
        # later failed sync ends the container instead (the chart's maxFailures: 0).
        "recommendedProbeSetting": True,
        "livenessProbe": {"enabled": True},
    }
    if dags.ssh_key_secret:
        git["sshKeySecret"] = dags.ssh_key_secret
    if dags.known_hosts:
        git["knownHosts"] = dags.known_hosts
    return {"gitSync": git}


def database_clients(settings: AirflowSettings) -> AirflowDatabaseClients:
    """The processes that connect to the metadata database, from the replica counts."""
    return AirflowDatabaseClients(
        schedulers=settings.replicas["scheduler"],
        api_servers=settings.replicas["api_server"],
        api_workers_per_server=settings.api_workers_per_server,
        triggerers=settings.replicas["triggerer"],
        dag_processors=settings.replicas["dag_processor"],
    )


def pool_plan(settings: AirflowSettings, database_instance_class: str) -> PoolPlan:
    """PgBouncer pools for these settings in front of ``database_instance_class`` (infra/pgbouncer.py)."""
    return plan_pools(database_instance_class, settings.replicas["pgbouncer"], database_clients(settings))


def _config(
    settings: AirflowSettings, task_log_bucket: str, task_log_group_arn: Optional[str] = None, image: Optional[ImageRef] = None
) -> dict[str, Any]:
    prefix = settings.task_log_prefix.strip("/")
    api: dict[str, ConfigValue] = {"workers": settings.api_workers_per_server}
    if settings.api_base_url:
        api["base_url"] = settings.api_base_url
    core: dict[str, ConfigValue] = {"load_examples": "False", "auth_manager": FAB_AUTH_MANAGER}
    return {
        "core": core,
        "database": {
            # The PgBouncer arithmetic (infra/pgbouncer.py) counts on exactly these.
            "sql_alchemy_pool_size": SQLALCHEMY_POOL_SIZE,
            "sql_alchemy_max_overflow": SQLALCHEMY_MAX_OVERFLOW,
        },
        "logging": {
            "remote_logging": "True",
            # CloudWatch: each line is sent while the task runs, so a pod that dies keeps its log
            # (infra/task_log_group.py). S3: the whole file is uploaded once the task ends.
            "remote_base_log_folder": (
                f"cloudwatch://{task_log_group_arn}" if task_log_group_arn else f"s3://{task_log_bucket}/{prefix}"
            ),
            "remote_log_conn_id": TASK_LOG_CONNECTION_ID,
            # A log exists only in S3 once uploaded: nothing the pod keeps matters when it dies.
            "delete_local_logs": "True",
        },
        "secrets": {
            "backend": SECRETS_MANAGER_BACKEND,
            "backend_kwargs": json.dumps(
                {
                    "connections_prefix": settings.connections_prefix,
                    # Every connection but the local ones (a spec may name its own notification
                    # connection, stored in Secrets Manager like the platform's two).
                    "connections_lookup_pattern": connections_lookup_pattern(),
                    "variables_prefix": None,
                    "config_prefix": None,
                    "region_name": settings.region,
                },
                sort_keys=True,
            ),
        },
        "api": api,
        "kubernetes_executor": {
            "delete_worker_pods": "True",
            "delete_worker_pods_on_failure": "False",
            # The executor builds the task pod's image as worker_container_repository:worker_container_tag
            # (the chart sets both from the image values, by tag): a pinned digest rides in the tag.
            **({"worker_container_tag": f"{image.tag}@{image.digest}"} if image is not None and image.digest else {}),
        },
        **_metrics_config(settings),
    }


def _metrics_config(settings: AirflowSettings) -> dict[str, Any]:
    m = settings.metrics
    if m is None:
        return {}
    if any("," in pattern for pattern in m.allow_list):
        raise ValueError(f"metrics allow list patterns cannot contain commas: {m.allow_list}")
    return {
        "metrics": {
            "statsd_on": "True",
            "statsd_host": m.host,
            "statsd_port": m.port,
            "statsd_prefix": "airflow",
            "metrics_allow_list": ",".join(m.allow_list),
            # Legacy names put dag and task ids in the name: a custom metric per DAG, unbounded.
            # Airflow 3.2.2 declares this option but never reads it (DualStatsManager keeps
            # exporting legacy names): the anchored allow list is what actually keeps them out.
            "legacy_names_on": "False",
        }
    }


def connections_lookup_pattern() -> str:
    """The Secrets Manager backend's ``connections_lookup_pattern``: any id but ``LOCAL_CONNECTION_IDS``
    (the backend matches it with ``re.match``, ignoring case)."""
    return "^(?!(" + "|".join(re.escape(conn_id) for conn_id in LOCAL_CONNECTION_IDS) + ")$)"


def _create_user_job(settings: AirflowSettings) -> dict[str, Any]:
    placement = _placement(settings, "create_user_job")
    return {
        "enabled": True,
        "useHelmHooks": False,
        "applyCustomEnv": False,
        # The password comes from a Kubernetes Secret through the environment, never from values.
        # `users create` leaves an existing user untouched: rotate with `airflow users reset-password`.
        # Without hooks this Job starts with the migration Job: it first waits for the migrated
        # schema (the check the chart's own wait-for-migrations init containers run), instead of
        # failing against a bare database and relying on the Job's backoff to outlast migrations.
        "args": [
            "bash",
            "-c",
            f"airflow db check-migrations --migration-wait-timeout {MIGRATION_WAIT_SECONDS} && "
            'exec airflow users create --role Admin --username "$AIRFLOW_ADMIN_USERNAME" '
            '--email "$AIRFLOW_ADMIN_EMAIL" --firstname Airflow --lastname Admin '
            '--password "$AIRFLOW_ADMIN_PASSWORD"',
        ],
        "env": [
            {"name": "AIRFLOW_ADMIN_USERNAME", "value": settings.admin_username},
            {"name": "AIRFLOW_ADMIN_EMAIL", "value": settings.admin_email},
            {
                "name": "AIRFLOW_ADMIN_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {"name": settings.secret_names.admin_password, "key": ADMIN_PASSWORD_KEY}
                },
            },
        ],
        "defaultUser": {"username": settings.admin_username, "email": settings.admin_email, "password": ""},
        **placement,
    }


def airflow_values(
    settings: AirflowSettings,
    plan: PoolPlan,
    *,
    task_log_bucket: str,
    task_log_group_arn: Optional[str] = None,
    role_arns: Mapping[str, str],
    image: ImageRef,
    pod_annotations: Mapping[str, str] | None = None,
    image_available: bool = True,
) -> dict[str, Any]:
    """The chart values for ``settings``, PgBouncer pools ``plan``, the task-log bucket name,
    ``role_arns`` (each IRSA component to its IAM role ARN) and the platform ``image`` (its
    repository URL): the last three exist only at deploy time. ``pod_annotations`` go on every
    Airflow pod (``airflowPodAnnotations``): a change rolls them, e.g. when a mounted key changes.
    ``image_available`` False (the image's repository is created by this very update): the chart's
    migration and create-user Jobs are left out. A Job's pod template cannot change once it exists,
    and the next update, the first that finds the image, pins its digest: it creates them instead.

    Raises pydantic.ValidationError when the result does not match ``ChartValues`` (a bug here,
    caught by the tests before anything deploys).
    """
    missing = sorted(set(IRSA_COMPONENTS) - set(role_arns))
    if missing:
        raise ValueError(f"missing IAM role ARNs for {missing}")
    names = settings.secret_names
    deployed = deployed_image(settings, image)
    worker_account = settings.service_account("worker")
    values: dict[str, Any] = {
        # One image for every Airflow container, task pods included (the chart's pod template
        # falls back to these two, not to images.airflow).
        "defaultAirflowRepository": deployed.repository,
        "defaultAirflowTag": deployed.tag,
        # With the digest the chart's containers run repository@digest (defaultAirflowDigest takes
        # precedence over the tag) and the KubernetesExecutor's task pods repository:tag@digest
        # (_config): the tag stays readable, the digest decides what runs.
        **({"defaultAirflowDigest": deployed.digest} if deployed.digest else {}),
        "airflowVersion": versions.AIRFLOW_VERSION,
        "executor": "KubernetesExecutor",
        # Scheduler launches task pods; tasks (KubernetesJobOperator) launch Jobs (403 without it).
        "allowPodLaunching": True,
        "allowJobLaunching": True,
        # Pods the chart runs without their own placement (cleanup, pod template defaults).
        "nodeSelector": node_selector(SYSTEM),
        "tolerations": [toleration(SYSTEM)],
        "postgresql": {"enabled": False},
        "redis": {"enabled": False},
        "data": {"metadataSecretName": names.metadata},
        # Without these the chart generates keys itself: a new fernet key makes stored connections
        # unreadable, a regenerated JWT/API key logs everyone out.
        "fernetKeySecretName": names.fernet_key,
        "apiSecretKeySecretName": names.api_secret_key,
        "jwtSecretName": names.jwt_secret,
        "env": [
            {
                # No credentials: the AWS SDK's default chain finds the pod's IRSA web identity.
                "name": f"AIRFLOW_CONN_{TASK_LOG_CONNECTION_ID.upper()}",
                "value": json.dumps({"conn_type": "aws", "extra": {"region_name": settings.region}}, sort_keys=True),
            }
        ],
        "config": _config(settings, task_log_bucket, task_log_group_arn, deployed),
        "scheduler": {
            **_ha_component(settings, "scheduler", _irsa(role_arns, "scheduler")),
            "logGroomerSidecar": {"enabled": False},
        },
        "apiServer": {
            **_ha_component(settings, "api_server", _irsa(role_arns, "api_server")),
            **({"apiServerConfig": webserver_config(settings.sso)} if settings.sso else {}),
        },
        "triggerer": {
            **_ha_component(settings, "triggerer", _irsa(role_arns, "triggerer")),
            # Logs go to S3; a per-pod volume would only pin triggerers to one AZ.
            "persistence": {"enabled": False},
            "logGroomerSidecar": {"enabled": False},
        },
        "dagProcessor": {
            **_ha_component(settings, "dag_processor", _irsa(role_arns, "dag_processor")),
            "enabled": True,
            "logGroomerSidecar": {"enabled": False},
        },
        "workers": {
            "resources": settings.resources["worker"].as_values(),
            "nodeSelector": node_selector(SYSTEM),
            "tolerations": [toleration(SYSTEM)],
            # The task pods' account comes from workers.kubernetes.serviceAccount, the chart's own
            # for KubernetesExecutor pods since 1.21 (apache/airflow#64730; the pod template and,
            # from #66730, the RBAC bindings use it when it is created). The deprecated
            # workers.serviceAccount is not created: with kubernetes.create false the chart would
            # render neither account for a pure KubernetesExecutor (#66598). Both keys name the same
            # account. Chart 1.19's dedicated accounts were gated behind
            # workers.useWorkerDedicatedServiceAccounts instead: recheck when changing the chart.
            "serviceAccount": {"create": False, "name": worker_account},
            "kubernetes": {
                "serviceAccount": {
                    "create": True,
                    "name": worker_account,
                    "annotations": _irsa(role_arns, "worker"),
                }
            },
        },
        "createUserJob": {**_create_user_job(settings), "enabled": image_available},
        "migrateDatabaseJob": {
            "enabled": image_available,
            # Hooks would deadlock a waiting install: pods wait for migrations that a post-install
            # hook would only start after the pods are ready.
            "useHelmHooks": False,
            "applyCustomEnv": False,
            **_placement(settings, "migrate_job"),
        },
        "pgbouncer": {
            **_ha_component(settings, "pgbouncer", {}),
            "enabled": True,
            "configSecretName": names.pgbouncer_config,
            "metadataPoolSize": plan.metadata_pool_size,
            "resultBackendPoolSize": plan.result_backend_pool_size,
            "maxClientConn": plan.max_client_conn,
            # No sslmode here: the chart only reads it to render its own pgbouncer.ini, which
            # configSecretName replaces; TLS towards RDS is server_tls_sslmode in infra/pgbouncer.py.
            "metricsExporterSidecar": {
                "statsSecretName": names.pgbouncer_stats,
                "statsSecretKey": METADATA_SECRET_KEY,
                "resources": settings.resources["pgbouncer_exporter"].as_values(),
            },
        },
        # The chart's StatsD exporter only when nothing else collects the metrics.
        "statsd": {"enabled": settings.metrics is None, **_placement(settings, "statsd")},
        "dags": _dags(settings),
        # Task logs live in S3 (remote logging); no PVC to lose, resize or pin to an AZ.
        "logs": {"persistence": {"enabled": False}},
    }
    if pod_annotations:
        values["airflowPodAnnotations"] = dict(pod_annotations)
    ChartValues.model_validate(values)
    # Security contexts and NetworkPolicies, checked by their own strict model (infra/airflow_security.py).
    git_sync = isinstance(settings.dags, GitSyncDags)
    return merge(values, security_values(settings.release_name, settings.ui_source_cidrs, git_sync=git_sync))

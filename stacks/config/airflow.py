"""Config section ``airflow``: the Airflow release (replicas, resources, DAG delivery, UI, logs, notifications)."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Optional

from pydantic import Field, field_validator

from infra.versions import AIRFLOW_BASE_IMAGE_REPOSITORY, AIRFLOW_BASE_IMAGE_TAG, AIRFLOW_VERSION
from stacks.config.base import Section
from stacks.config.problems import Problem

CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d:\d{12}:certificate/[0-9a-f-]{36}$")
QUANTITY_CPU = r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"
QUANTITY_MEMORY = r"^[0-9]+(Ki|Mi|Gi|Ti)$"
K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
HA_COMPONENTS = ("scheduler", "api_server", "triggerer", "pgbouncer")


def _cpu_millis(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


def _memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return int(quantity[:-2]) * units[quantity[-2:]]


class ResourcesConfig(Section):
    """Requests and limits of one component's main container (Kubernetes quantities)."""

    cpu_request: str = Field(pattern=QUANTITY_CPU, description="e.g. 500m or 1")
    memory_request: str = Field(pattern=QUANTITY_MEMORY, description="e.g. 1Gi")
    cpu_limit: str = Field(pattern=QUANTITY_CPU, description="e.g. 2")
    memory_limit: str = Field(pattern=QUANTITY_MEMORY, description="e.g. 2Gi")

    def problems(self, tier: str, path: str) -> list[Problem]:
        found = []
        if _cpu_millis(self.cpu_limit) < _cpu_millis(self.cpu_request):
            found.append(Problem(f"{path}.cpu_limit", self.cpu_limit, f"must be >= cpu_request ({self.cpu_request})"))
        if _memory_bytes(self.memory_limit) < _memory_bytes(self.memory_request):
            found.append(
                Problem(f"{path}.memory_limit", self.memory_limit, f"must be >= memory_request ({self.memory_request})")
            )
        return found


def _resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> ResourcesConfig:
    return ResourcesConfig(
        cpu_request=cpu_request, memory_request=memory_request, cpu_limit=cpu_limit, memory_limit=memory_limit
    )


class ComponentResourcesConfig(Section):
    """Per-component requests and limits. Defaults are sized for a few hundred DAGs."""

    scheduler: ResourcesConfig = Field(default_factory=lambda: _resources("1", "2Gi", "2", "4Gi"))
    api_server: ResourcesConfig = Field(default_factory=lambda: _resources("500m", "2Gi", "2", "3Gi"))
    triggerer: ResourcesConfig = Field(default_factory=lambda: _resources("250m", "1Gi", "1", "2Gi"))
    dag_processor: ResourcesConfig = Field(default_factory=lambda: _resources("500m", "1Gi", "2", "2Gi"))
    worker: ResourcesConfig = Field(
        default_factory=lambda: _resources("250m", "512Mi", "1", "1Gi"),
        description="KubernetesExecutor task pods: they only launch and follow batch Jobs.",
    )
    pgbouncer: ResourcesConfig = Field(default_factory=lambda: _resources("100m", "128Mi", "500m", "256Mi"))
    pgbouncer_exporter: ResourcesConfig = Field(default_factory=lambda: _resources("50m", "64Mi", "200m", "128Mi"))
    statsd: ResourcesConfig = Field(default_factory=lambda: _resources("100m", "128Mi", "500m", "256Mi"))
    migrate_job: ResourcesConfig = Field(default_factory=lambda: _resources("250m", "512Mi", "1", "1Gi"))
    create_user_job: ResourcesConfig = Field(default_factory=lambda: _resources("250m", "512Mi", "1", "1Gi"))
    git_sync: ResourcesConfig = Field(default_factory=lambda: _resources("50m", "64Mi", "200m", "256Mi"))

    def problems(self, tier: str, path: str) -> list[Problem]:
        found: list[Problem] = []
        for name in type(self).model_fields:
            found += getattr(self, name).problems(tier, f"{path}.{name}")
        return found


class ReplicasConfig(Section):
    """Replicas per component. Schedulers, API servers and triggerers run active-active."""

    scheduler: int = Field(2, ge=1, description="Active-active schedulers (row locks in the database).")
    api_server: int = Field(2, ge=1, description="Stateless API servers (UI, REST and execution API).")
    triggerer: int = Field(2, ge=1, description="Triggerers share triggers; a dead one's are picked up.")
    dag_processor: int = Field(2, ge=1, description="DAG processors parse in parallel.")
    pgbouncer: int = Field(2, ge=1, description="PgBouncer replicas, each with its own pool.")


# A DNS name (RFC 1123 labels), e.g. airflow.example.com.
HOSTNAME = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
# git's scp-like syntax: [user@]host:path (no scheme; the path must not start with //).
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?!//)(?P<path>[^\s]+)$")


def git_url_problem(url: str) -> Optional[str]:
    """Why ``url`` is not a remote git URL git-sync can clone over an encrypted transport, or None.

    The forms are those of git-clone(1) "GIT URLS": ``https://host/path``, ``ssh://[user@]host[:port]/path``
    and the scp-like ``[user@]host:path``.
    """
    from urllib.parse import urlsplit

    expected = "expected a git clone URL: https://host/org/repo.git, ssh://git@host/org/repo.git or git@host:org/repo.git"
    if any(c.isspace() for c in url):
        return f"{expected} (no spaces)"
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "git", "file"):
            return f"{expected}: {parts.scheme}:// is not encrypted or not remote"
        if parts.scheme not in ("https", "ssh"):
            return f"{expected}, not a {parts.scheme}:// URL"
        try:
            parts.port
        except ValueError:
            return f"{expected} (the port is not a number)"
        if not parts.hostname or not HOSTNAME.match(parts.hostname.lower()) and not _is_ip(parts.hostname):
            return f"{expected} (no valid host name)"
        if parts.path in ("", "/"):
            return f"{expected} (no repository path)"
        if parts.scheme == "https" and parts.password:
            return "a password in the URL would be stored in plain text: use an SSH deploy key (ssh_key_secret)"
        return None
    match = _SCP_LIKE.match(url)
    if match is None or not (HOSTNAME.match(match["host"].lower()) or _is_ip(match["host"])):
        return expected
    return None


# Public key types sshd and ssh-keyscan print (ssh(1) "ssh_known_hosts file format").
SSH_KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss",
)


def _is_base64(text: str) -> bool:
    import base64
    import binascii

    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class GitSyncConfig(Section):
    """DAGs pulled from git by a git-sync sidecar."""

    repo: Optional[str] = Field(
        None, description="Clone URL over HTTPS or SSH, e.g. git@github.com:org/dags.git or https://github.com/org/dags.git."
    )
    branch: str = Field("main", description="Branch each environment tracks.")
    sub_path: str = Field("dags", description="Folder of the DAGs inside the repository.")
    ssh_key_secret: Optional[str] = Field(
        None,
        pattern=K8S_NAME,
        description="Name of the Kubernetes Secret (Airflow namespace, key gitSshKey) the stack writes the deploy "
        "key into, from the durable Secrets Manager secret batch-platform/<stack>/airflow/git-ssh-key.",
    )
    known_hosts: Optional[str] = Field(None, description="known_hosts lines of the git host (public keys).")
    period_seconds: int = Field(60, ge=10, le=3600, description="Seconds between pulls.")

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        # git check-ref-format's rules, for a branch name.
        if (
            not value
            or value.startswith(("-", "/", "."))
            or value.endswith(("/", ".", ".lock"))
            or any(part in value for part in ("..", "//", "@{", "/."))
            or any(c.isspace() or c in "~^:?*[\\" or ord(c) < 32 or ord(c) == 127 for c in value)
        ):
            raise ValueError("expected a git branch name such as main or release/2026-12 (git check-ref-format)")
        return value

    @field_validator("sub_path")
    @classmethod
    def _sub_path(cls, value: str) -> str:
        parts = value.split("/")
        if value.startswith("/") or any(part in ("", "..") for part in parts) or any(c.isspace() for c in value):
            raise ValueError("expected a relative folder inside the repository, such as dags (no leading /, no ..)")
        return value

    @field_validator("known_hosts")
    @classmethod
    def _known_hosts(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        lines = [line.strip() for line in value.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        for line in lines or [""]:
            fields = line.split()
            if fields and fields[0].startswith("@"):  # @cert-authority / @revoked marker
                fields = fields[1:]
            if len(fields) < 3 or fields[1] not in SSH_KEY_TYPES or not _is_base64(fields[2]):
                raise ValueError(
                    "expected known_hosts lines: <host> <key type> <base64 key>, e.g. the output of "
                    f"ssh-keyscan github.com; got {line[:60]!r}"
                )
        return value

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: Optional[str]) -> Optional[str]:
        problem = git_url_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @property
    def uses_ssh(self) -> bool:
        return bool(self.repo) and not self.repo.startswith("https://")


IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
IMAGE_REPOSITORY = re.compile(
    r"^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$"
)


def check_image_tag(value: Optional[str]) -> Optional[str]:
    if value is not None and not IMAGE_TAG.match(value):
        raise ValueError("expected an image tag: 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
    return value


def check_image_repository(value: Optional[str], example: str) -> Optional[str]:
    if value is not None and not IMAGE_REPOSITORY.match(value):
        raise ValueError(f"expected an image repository without tag or digest, in lowercase, e.g. {example}")
    return value


class DagImageConfig(Section):
    """DAGs baked into an image built FROM the pinned official Airflow image."""

    repository: Optional[str] = Field(None, description="Image repository, e.g. an ECR repository URI.")
    tag: Optional[str] = Field(None, description="Immutable image tag (a commit SHA).")

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: Optional[str]) -> Optional[str]:
        return check_image_repository(value, "an ECR repository URI")

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: Optional[str]) -> Optional[str]:
        return check_image_tag(value)


class DagsConfig(Section):
    """How DAGs reach Airflow. Default git_sync: DAG changes ship by merging, without a deploy."""

    source: Literal["git_sync", "image"] = Field(
        "git_sync",
        description="git_sync (default): DAGs pulled from a git repository every period_seconds, no image "
        "build per DAG change; image: DAGs baked into an image built from the platform image.",
    )
    git_sync: GitSyncConfig = Field(default_factory=GitSyncConfig)
    image: DagImageConfig = Field(default_factory=DagImageConfig)

    def problems(self, tier: str, path: str) -> list[Problem]:
        found = []
        if self.source == "git_sync":
            git = self.git_sync
            if not git.repo:
                found.append(Problem(f"{path}.git_sync.repo", git.repo, "required when dags.source is git_sync"))
            elif git.uses_ssh:
                if not git.ssh_key_secret:
                    found.append(
                        Problem(
                            f"{path}.git_sync.ssh_key_secret",
                            git.ssh_key_secret,
                            "required for an SSH repository URL: the Kubernetes Secret the stack writes the deploy key into",
                        )
                    )
                if not git.known_hosts:
                    found.append(
                        Problem(
                            f"{path}.git_sync.known_hosts",
                            git.known_hosts,
                            "required for an SSH repository URL: the git host's public keys (no trust on first use)",
                        )
                    )
        else:
            for key in ("repository", "tag"):
                if not getattr(self.image, key):
                    found.append(Problem(f"{path}.image.{key}", None, "required when dags.source is image"))
        return found


class UiConfig(Section):
    """How people reach the UI. Private by default: an internal NLB, TLS with an ACM certificate."""

    certificate_arn: Optional[str] = Field(
        None,
        description="ACM certificate for the NLB's TLS listener. Without it there is no load balancer "
        "(dev may use kubectl port-forward); prod requires it.",
    )
    hostname: Optional[str] = Field(
        None,
        description="DNS name of the UI (the certificate's name), lowercase, e.g. airflow.example.com; the stack "
        "output airflow_url uses it.",
    )
    internet_facing: bool = Field(
        False, description="true makes the NLB internet-facing: only with an explicit allowed_cidrs list."
    )
    allowed_cidrs: list[str] = Field(
        default_factory=list, description="Client ranges allowed to reach the NLB (loadBalancerSourceRanges)."
    )

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (len(value) > 253 or not HOSTNAME.match(value)):
            raise ValueError("expected a lowercase DNS name such as airflow.example.com (no scheme, no path)")
        return value

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as exc:
                raise ValueError(f"expected CIDR ranges such as 10.0.0.0/8 ({exc})") from None
        return value

    def problems(self, tier: str, path: str) -> list[Problem]:
        found = []
        if self.certificate_arn is not None and not CERTIFICATE_ARN.match(self.certificate_arn):
            found.append(
                Problem(
                    f"{path}.certificate_arn",
                    self.certificate_arn,
                    "expected an ACM certificate ARN: arn:aws:acm:<region>:<account>:certificate/<uuid>",
                )
            )
        if tier == "prod" and self.certificate_arn is None:
            found.append(
                Problem(f"{path}.certificate_arn", None, "prod requires TLS: the ACM certificate of the UI's hostname")
            )
        if self.internet_facing:
            if not self.allowed_cidrs:
                found.append(
                    Problem(
                        f"{path}.allowed_cidrs",
                        self.allowed_cidrs,
                        "an internet-facing UI needs an explicit list of client ranges",
                    )
                )
            for cidr in self.allowed_cidrs:
                if ipaddress.ip_network(cidr).prefixlen == 0:
                    found.append(
                        Problem(f"{path}.allowed_cidrs", cidr, "an internet-facing UI must not be open to everyone")
                    )
        else:
            for cidr in self.allowed_cidrs:
                if ipaddress.ip_network(cidr).is_global:
                    found.append(
                        Problem(
                            f"{path}.allowed_cidrs",
                            cidr,
                            "a public range only makes sense with internet_facing: true (set it explicitly)",
                        )
                    )
        if self.internet_facing and self.certificate_arn is None:
            found.append(Problem(f"{path}.internet_facing", True, "an internet-facing UI requires certificate_arn (TLS)"))
        return found


class AdminConfig(Section):
    """The break-glass admin user (FAB auth manager); its password is generated, see docs/airflow.md."""

    username: str = Field(
        "admin",
        pattern=r"^[a-zA-Z0-9_.-]{3,64}$",
        description="Airflow admin user; its password is the durable secret batch-platform/<stack>/airflow/admin-password.",
    )
    email: str = Field("airflow-admin@localhost", pattern=r"^[^@\s]+@[^@\s]+$", description="Email of the admin user.")


STOCK_REPOSITORIES = (
    AIRFLOW_BASE_IMAGE_REPOSITORY,
    f"docker.io/{AIRFLOW_BASE_IMAGE_REPOSITORY}",
    f"index.docker.io/{AIRFLOW_BASE_IMAGE_REPOSITORY}",
)


class AirflowImageConfig(Section):
    """The image every Airflow container runs. Default: the platform image (images/airflow: the
    official image plus exactly the provider versions the tests run) in the stack's own ECR
    repository, at the content tag of the checkout ``pulumi up`` runs from. See docs/airflow-image.md."""

    repository: Optional[str] = Field(
        None,
        description="Image repository without tag, e.g. a registry mirror. Unset: the stack's own ECR "
        "repository (stack output airflow_image_repository), where make image pushes.",
    )
    tag: Optional[str] = Field(
        None,
        description="Image tag. Unset: the content tag of this checkout (.venv/bin/python -m stacks image-tag <stack>).",
    )

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: Optional[str]) -> Optional[str]:
        return check_image_tag(value)

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: Optional[str]) -> Optional[str]:
        return check_image_repository(value, "123456789012.dkr.ecr.eu-west-1.amazonaws.com/batch-platform/prod/airflow")

    @property
    def is_stock(self) -> bool:
        """The official image as published: its providers are those of Airflow's own constraints."""
        return self.repository in STOCK_REPOSITORIES

    def problems(self, tier: str, path: str) -> list[Problem]:
        found = []
        if self.repository is None:
            if self.tag is not None and not self.tag.startswith(f"{AIRFLOW_VERSION}-"):
                found.append(
                    Problem(
                        f"{path}.tag",
                        self.tag,
                        f"a tag of the stack's repository: <Airflow version>-<content hash>, and "
                        f"infra/versions.py pins Airflow {AIRFLOW_VERSION} ({AIRFLOW_VERSION}-...)",
                    )
                )
            return found
        if self.tag is None:
            found.append(
                Problem(
                    f"{path}.tag",
                    None,
                    "required with an explicit repository: the default (content) tag only names images "
                    "make image pushed to the stack's own repository",
                )
            )
        if self.is_stock:
            if tier == "prod":
                found.append(
                    Problem(
                        f"{path}.repository",
                        self.repository,
                        "prod deploys the platform image (leave repository unset): the stock image ships "
                        "the provider versions of Airflow's constraints, not the ones the tests ran",
                    )
                )
            if self.tag is not None and self.tag not in (AIRFLOW_VERSION, AIRFLOW_BASE_IMAGE_TAG):
                found.append(
                    Problem(
                        f"{path}.tag",
                        self.tag,
                        f"the stock image of the Airflow the chart is told it runs (infra/versions.py): "
                        f"{AIRFLOW_VERSION} or {AIRFLOW_BASE_IMAGE_TAG}",
                    )
                )
        return found


class AirflowConfig(Section):
    """The Airflow release on the cluster."""

    namespace: str = Field("airflow", pattern=K8S_NAME, description="Namespace of the Airflow release.")
    release_name: str = Field("airflow", pattern=K8S_NAME, description="Helm release name (prefix of every name).")
    replicas: ReplicasConfig = Field(default_factory=ReplicasConfig)
    resources: ComponentResourcesConfig = Field(default_factory=ComponentResourcesConfig)
    api_workers_per_server: int = Field(
        2, ge=1, le=16, description="API server worker processes per pod (each holds database connections)."
    )
    dags: DagsConfig = Field(default_factory=DagsConfig)
    image: AirflowImageConfig = Field(default_factory=AirflowImageConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    task_log_prefix: str = Field(
        "airflow/task-logs", pattern=r"^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$",
        description="Key prefix of task logs in the task-log bucket (IAM is scoped to it).",
    )
    connections_prefix: str = Field(
        "batch-platform/airflow/connections",
        pattern=r"^[a-zA-Z0-9/_+=.@-]+$",
        description="Secrets Manager name prefix of Airflow connections (slack_notifications, smtp_notifications).",
    )

    def problems(self, tier: str, path: str) -> list[Problem]:
        found: list[Problem] = []
        if tier == "prod":
            for component in HA_COMPONENTS:
                count = getattr(self.replicas, component)
                if count < 2:
                    found.append(
                        Problem(
                            f"{path}.replicas.{component}",
                            count,
                            "prod runs at least 2 (active-active: one pod or node may fail)",
                        )
                    )
        found += self.resources.problems(tier, f"{path}.resources")
        found += self.dags.problems(tier, f"{path}.dags")
        found += self.image.problems(tier, f"{path}.image")
        found += self.ui.problems(tier, f"{path}.ui")
        return found

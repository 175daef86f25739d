"""The job spec: the schema of ``dags/jobs/<name>.yaml`` and how a file is read and checked.

One spec describes one batch job: the container to run, when, with which parameters, limits, retries
and notifications. The schema is strict (unknown keys are errors) so that a typo never silently
changes a job. A bad spec raises ``SpecError`` whose message names the file, the field path, the
value received and what was expected; the DAG factory lets that surface as the Airflow import error of
that one job.

Generated specs start with a header comment carrying a hash of their content; the converter uses it
to notice hand edits (see ``migration.writer``). The header is a YAML comment, so it never affects
loading.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from batch_platform.jenkins_cron import CronSpec, CronSpecError, parse_spec, validate_timezone

try:  # the C loader is several times faster on big DAG folders
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Kubernetes object names (Secrets): DNS-1123 subdomain.
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
# Kubernetes quantities, e.g. 500m, 1, 1.5, 512Mi, 2G.
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lower-case DAG id: letters, digits, _ . -")]
EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN)]
K8sName = Annotated[str, Field(pattern=K8S_NAME_PATTERN)]
Quantity = Annotated[str, Field(pattern=QUANTITY_PATTERN)]


class SpecError(ValueError):
    """A job spec that cannot be used; the message names the file and every offending field."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"invalid job spec {self.path}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JenkinsOrigin(_Strict):
    """Where a migrated job came from; kept for the DAG docs and for the ``H`` hash seed."""

    full_name: Annotated[str, Field(min_length=1, description="Jenkins full name, folders included")]
    kind: Literal["freestyle", "pipeline", "jenkinsfile", "matrix", "maven", "other"] = "freestyle"
    source: str | None = Field(default=None, description="the definition file it was converted from")


def _timezone(value: str) -> str:
    try:
        return validate_timezone(value)
    except CronSpecError as exc:
        raise ValueError(f"expected an IANA time zone name such as UTC or Europe/Berlin ({exc})") from None


def _cron_line(line: str) -> str:
    if "\n" in line or line.strip().startswith("TZ="):
        raise ValueError("expected one cron line per list item, with the zone in 'timezone'")
    try:
        parse_spec(line, seed="validation")
    except CronSpecError as exc:
        raise ValueError(f"{exc.reason} (token {exc.token!r})") from None
    return line


CronLineText = Annotated[str, AfterValidator(_cron_line)]


class Schedule(_Strict):
    """When the job runs, in Jenkins' cron dialect (``H``, ``@daily``, ranges, lists, steps).

    Lines are ORed; within a line day-of-month AND day-of-week must both match (Jenkins' rule).
    ``H`` is hashed with ``hash_seed`` (default: the Jenkins full name, else the job name), so a
    migrated job keeps its Jenkins run times.
    """

    cron: Annotated[list[CronLineText], Field(min_length=1)]
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    hash_seed: str | None = None
    jenkins_spec: str | None = Field(default=None, description="the original Jenkins spec, for reference")

    def parsed(self, default_seed: str) -> CronSpec:
        return parse_spec("\n".join(self.cron), seed=self.hash_seed or default_seed, default_timezone=self.timezone)


class JobParam(_Strict):
    """A run parameter (Airflow ``Param``), exposed to the container as an environment variable."""

    name: EnvName
    type: Literal["string", "text", "boolean", "choice"] = "string"
    default: str | bool | None = None
    choices: list[str] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> JobParam:
        if self.type == "choice":
            if not self.choices:
                raise ValueError("a choice parameter needs a non-empty 'choices' list")
            if self.default is not None and self.default not in self.choices:
                raise ValueError(f"default {self.default!r} is not one of the choices {self.choices}")
        elif self.choices is not None:
            raise ValueError("'choices' is only allowed for type 'choice'")
        if self.type == "boolean" and not isinstance(self.default, bool | None):
            raise ValueError("a boolean parameter needs a true/false default")
        if self.type in ("string", "text") and isinstance(self.default, bool):
            raise ValueError("a string parameter needs a string default (quote it)")
        return self


class SecretEnv(_Strict):
    """An environment variable read from a key of a Kubernetes Secret (never a value in the spec)."""

    name: EnvName
    secret: K8sName
    key: Annotated[str, Field(min_length=1)]


class ResourceAmounts(_Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None
    ephemeral_storage: Quantity | None = Field(default=None, alias="ephemeral-storage")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(by_alias=True).items() if v is not None}


class Resources(_Strict):
    requests: ResourceAmounts = ResourceAmounts(cpu="500m", memory="1Gi")
    limits: ResourceAmounts = ResourceAmounts(memory="1Gi")

    @model_validator(mode="after")
    def _request_within_limit(self) -> Resources:
        from kubernetes.utils import parse_quantity

        requests, limits = self.requests.as_dict(), self.limits.as_dict()
        for name in sorted(set(requests) & set(limits)):
            if parse_quantity(requests[name]) > parse_quantity(limits[name]):
                raise ValueError(
                    f"the {name} request {requests[name]} is above its limit {limits[name]}: "
                    "Kubernetes refuses such a container"
                )
        return self


class SlackNotification(_Strict):
    channel: Annotated[str, Field(min_length=1)]
    conn_id: str | None = Field(default=None, description="Airflow connection; default from settings")


class EmailNotification(_Strict):
    to: Annotated[list[Annotated[str, Field(pattern=EMAIL_PATTERN)]], Field(min_length=1)]
    conn_id: str | None = Field(default=None, description="Airflow connection; default from settings")


class Notifications(_Strict):
    """Who hears about a failed run."""

    slack: SlackNotification | None = None
    email: EmailNotification | None = None


class DownstreamTrigger(_Strict):
    """Start another job's DAG after this one (Jenkins BuildTrigger, parameterized trigger, ``build job:``)."""

    dag_id: Name
    when: Literal["success", "failure", "always"] = "success"
    conf: dict[str, str] = Field(default_factory=dict, description="run parameters; Jinja templates allowed")
    wait: bool = Field(default=False, description="wait for the downstream run to finish (a blocking trigger)")
    propagate: bool = Field(default=True, description="with wait: this run fails when the downstream run fails")


# The user and group a batch container runs as unless its spec says otherwise: 65532 is the
# conventional unprivileged "nonroot" user (distroless images); it needs no entry in /etc/passwd.
DEFAULT_RUN_AS_USER = 65532
DEFAULT_RUN_AS_GROUP = 65532
# Linux IDs above this are not portable (user namespaces, most file systems store 32 bits, signed).
MAX_ID = 2**31 - 1
PSS = "the batch namespace enforces the Pod Security Standard 'restricted' (kubernetes.io, Pod Security Standards)"


def _non_root_id(value: int) -> int:
    if value == 0:
        raise ValueError(f"0 is root: {PSS}, whose control 'Running as Non-root user' forbids runAsUser 0 "
                         "(pick the UID the image expects, e.g. 1000)")
    return value


NonRootId = Annotated[int, Field(ge=0, le=MAX_ID), AfterValidator(_non_root_id)]


# Where an empty volume would hide what the kernel, the runtime or Kubernetes mount (the service
# account and IRSA tokens live under /var/run/secrets).
RESERVED_PATHS = ("/proc", "/sys", "/dev", "/var/run/secrets", "/run/secrets")


def _absolute_path(value: str) -> str:
    if not value.startswith("/") or value != value.rstrip("/") or "//" in value or "/../" in f"{value}/" or value == "/":
        raise ValueError("expected an absolute directory path such as /app/logs (no trailing slash, no '..', not '/')")
    if any(value == reserved or value.startswith(reserved + "/") for reserved in RESERVED_PATHS):
        raise ValueError(f"an empty volume there would hide what the system mounts; not under {', '.join(RESERVED_PATHS)}")
    return value


AbsolutePath = Annotated[str, Field(min_length=2, max_length=1024), AfterValidator(_absolute_path)]


def _refused(rule: str):
    def check(value: Any) -> Any:
        if value:
            raise ValueError(f"{PSS}, whose control {rule}; batch Jobs cannot ask for it")
        return value

    return check


class JobSecurity(_Strict):
    """How the job's container runs (docs/migrating-from-jenkins.md, "Security context").

    Every field has the secure default; the UID/GID may change (an image built for a fixed user),
    never to root. The privilege fields exist only to refuse them with the rule they break.
    """

    run_as_user: NonRootId = Field(DEFAULT_RUN_AS_USER, description="UID of the container's processes (never 0)")
    run_as_group: NonRootId = Field(DEFAULT_RUN_AS_GROUP, description="primary GID of the container's processes (never 0)")
    fs_group: NonRootId | None = Field(default=None, description="group owning the writable volumes; default run_as_group")
    service_account_token: bool = Field(
        default=False,
        description="mount a Kubernetes API token (IRSA for AWS needs none: the EKS webhook projects its own)",
    )
    read_only_root_filesystem: bool = Field(
        default=True, description="false only for an image that writes outside /tmp, the workspace and writable_paths"
    )
    writable_paths: list[AbsolutePath] = Field(
        default_factory=list, description="more writable directories (emptyDir per path), e.g. /app/logs"
    )
    allow_privilege_escalation: Annotated[bool, AfterValidator(_refused(
        "'Privilege Escalation' requires allowPrivilegeEscalation: false"))] = False
    privileged: Annotated[bool, AfterValidator(_refused(
        "'Privileged Containers' forbids privileged: true"))] = False
    add_capabilities: Annotated[list[str], AfterValidator(_refused(
        "'Capabilities' requires drop: [ALL] and allows adding back only NET_BIND_SERVICE, which a non-root batch Job cannot use"))] = Field(
        default_factory=list
    )

    @property
    def effective_fs_group(self) -> int:
        return self.run_as_group if self.fs_group is None else self.fs_group


class JobSpec(_Strict):
    """One batch job: a container run as a Kubernetes Job by one DAG."""

    name: Name
    description: str = ""
    owner: str = "batch"
    image: Annotated[str | None, Field(pattern=r"^\S+$", min_length=1)] = Field(
        default=None, description="the batch container's image; omitted only by a job that just triggers others")
    command: Annotated[list[str] | None, Field(min_length=1)] = Field(
        default=None, description="argv of the container; omitted only by a job that just triggers others")
    schedule: Schedule | None = None
    paused: bool = Field(default=False, description="created paused (a disabled Jenkins job)")
    max_active_runs: Annotated[int, Field(ge=1, le=100)] = 1
    retries: Annotated[int, Field(ge=0, le=20)] = 0
    retry_delay_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    timeout_minutes: Annotated[int, Field(ge=1, le=10080)] = 180
    env: dict[EnvName, str] = Field(default_factory=dict)
    env_from_secrets: list[K8sName] = Field(default_factory=list)
    secret_env: list[SecretEnv] = Field(default_factory=list)
    params: list[JobParam] = Field(default_factory=list)
    resources: Resources = Resources()
    notifications: Notifications = Notifications()
    triggers: list[DownstreamTrigger] = Field(default_factory=list)
    after: list[Name] = Field(
        default_factory=list,
        description="run after any of these jobs succeeds (Jenkins ReverseBuildTrigger): the DAG is scheduled on "
        "their Assets, alone or together with its cron schedule")
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list)
    jenkins: JenkinsOrigin | None = None
    security: JobSecurity = JobSecurity()

    @model_validator(mode="after")
    def _batch_step_or_triggers_only(self) -> JobSpec:
        if (self.image is None) != (self.command is None) or (self.command is None and not self.triggers):
            missing = "command" if self.command is None and self.image is not None else "image"
            raise PydanticCustomError(
                "missing_field", "required field is missing (only a job that just triggers others has neither "
                "image nor command)", {"field": missing})
        if self.name in self.after:
            raise ValueError(f"after: a job cannot run after itself ({self.name!r})")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> JobSpec:
        names = [p.name for p in self.params] + [s.name for s in self.secret_env] + list(self.env)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"environment variable names used twice (params/env/secret_env): {duplicates}")
        return self

    @property
    def hash_seed(self) -> str:
        """What ``H`` hashes: Jenkins hashes the job's full name."""
        if self.schedule is not None and self.schedule.hash_seed:
            return self.schedule.hash_seed
        return self.jenkins.full_name if self.jenkins is not None else self.name


def _format_error(error: dict[str, Any]) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    received = error.get("input")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"field '{path}': unknown field (allowed fields are listed in docs/migrating-from-jenkins.md)"
    if error["type"] == "missing":
        return f"field '{path}': required field is missing"
    if error["type"] == "missing_field":
        return f"field '{error['ctx']['field']}': {error['msg']}"
    shown = repr(received)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return f"field '{path}': got {shown}: {message}"


def parse_spec_data(data: Any, path: Path | str) -> JobSpec:
    """Validate already-loaded YAML data; raise SpecError naming ``path`` and each bad field."""
    if not isinstance(data, dict):
        raise SpecError(path, [f"expected a mapping of fields at the top level, got {type(data).__name__}"])
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(path, [_format_error(e) for e in exc.errors()]) from None
    stem = Path(path).stem
    if spec.name != stem:
        raise SpecError(path, [f"field 'name': got {spec.name!r}: must equal the file name {stem!r}"])
    return spec


def load_spec(path: Path | str) -> JobSpec:
    """Read and validate one spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(path, [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise SpecError(path, [f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"]) from None
    return parse_spec_data(data, path)


def spec_to_data(spec: JobSpec) -> dict[str, Any]:
    """The spec as plain data for writing, without fields left at their defaults."""
    return spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def slug(text: str) -> str:
    """A spec name from free text (Jenkins full names): lower case, folders joined with dots."""
    value = re.sub(r"[^a-z0-9_.-]+", "-", text.lower().replace("/", ".")).strip("-.")
    return value[:100] or "job"

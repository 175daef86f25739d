"""JenkinsJob -> job spec data: the mapping rules of the migration, as pure functions.

What maps to what (docs/migrating-from-jenkins.md has the full table): parameters -> params (password
parameters -> secret_env references), timer -> schedule (``H`` resolved with the full name), disabled ->
paused, concurrency -> max_active_runs, absolute timeout -> timeout_minutes, naginator / retry(n) ->
retries, Mailer / email-ext / Slack -> notifications, downstream jobs -> triggers, a ``java -jar`` step ->
that command in the job's image, other shell steps -> a shell script in the configured shell image.
"""

from __future__ import annotations

import re
import shlex
import textwrap
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_platform.jenkins_cron import CronSpecError, parse_spec
from batch_platform.spec import EMAIL_PATTERN, ENV_NAME_PATTERN, SpecError, parse_spec_data, slug

from migration.discover import Definition
from migration.jenkins_xml import parse_xml, read_config
from migration.jenkinsfile import read_jenkinsfile
from migration.model import ConversionError, JenkinsJob, ManualMigration, Trigger

CONCURRENT_MAX_ACTIVE_RUNS = 16  # Airflow's default per-DAG limit stands in for Jenkins' "unlimited"
JAVA_JAR_RE = re.compile(r"(^|[\s;&|(])java\s+(\S+\s+)*?-jar\s")
SHELL_SYNTAX_RE = re.compile(r"[|&;<>()`*?\\\n#~]|\$\(")
VARIABLE_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")

# Jenkins variables the batch container gets, with the Airflow value it carries (factory.jenkins_variables).
MAPPED_VARIABLES = {
    "BUILD_NUMBER": "the Airflow run id (unique per run, not a number)",
    "BUILD_ID": "the Airflow run id",
    "BUILD_TAG": "airflow-<dag id>-<run id>",
    "JOB_NAME": "the Jenkins full name of the job",
    "BUILD_URL": "the Airflow log URL of the run's task",
    "WORKSPACE": "/workspace, an empty scratch directory per run (nothing survives between runs)",
}
UNMAPPED_VARIABLES = {
    "NODE_NAME", "NODE_LABELS", "EXECUTOR_NUMBER", "JENKINS_URL", "JENKINS_HOME", "JOB_URL",
    "JOB_BASE_NAME", "BUILD_DISPLAY_NAME", "GIT_COMMIT", "GIT_BRANCH", "GIT_URL", "GIT_PREVIOUS_COMMIT",
    "SVN_REVISION", "CHANGE_ID", "BRANCH_NAME", "STAGE_NAME", "HUDSON_URL", "HUDSON_HOME",
}


@dataclass(frozen=True)
class Options:
    timezone: str = "UTC"
    java_image: str = "registry.internal/batch/{name}:latest"
    shell_image: str = "registry.internal/batch/shell-runner:latest"
    pause_all: bool = False  # staged cut-over: every DAG starts paused, unpaused when Jenkins stops
    # Local checkouts of repositories holding Jenkinsfiles: (normalized URL, directory) pairs.
    checkouts: tuple[tuple[str, Path], ...] = ()
    out_dir: str = "<the same --out>"  # for the command the report gives to finish an SCM pipeline

    def checkout_map(self) -> dict[str, Path]:
        return dict(self.checkouts)


def read_definition(definition: Definition, options: Options | None = None) -> JenkinsJob:
    """Read one config.xml or Jenkinsfile into a JenkinsJob (raises ConversionError / ManualMigration)."""
    job = JenkinsJob(full_name=definition.full_name, source=definition.display, kind="freestyle")
    if definition.kind == "unreadable":
        raise ConversionError(f"cannot list the directory ({definition.error}): the jobs in it, if any, were not converted")
    try:
        _read_into(job, definition, options or Options())
    except ConversionError as exc:  # ManualMigration included
        exc.job = job  # what was read before the reader stopped: the report carries it over
        raise
    return job


def _read_into(job: JenkinsJob, definition: Definition, options: Options) -> None:
    try:
        data = definition.path.read_bytes()
    except OSError as exc:
        raise ConversionError(f"cannot read the file: {exc.strerror}") from None
    if definition.kind == "jenkinsfile":
        job.kind = "jenkinsfile"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConversionError("not UTF-8 text") from None
        read_jenkinsfile(text, job)
        job.concurrent = False if job.concurrent is False else True
    else:
        root = parse_xml(data)
        if root.tag in ("com.cloudbees.hudson.plugins.folder.Folder", "jenkins.branch.OrganizationFolder"):
            raise FolderDefinition(definition.full_name)
        read_config(root, job, options.checkout_map())


class FolderDefinition(Exception):
    """A folder's own config.xml: not a job, nothing to convert."""


def build_command(job: JenkinsJob, name: str, options: Options) -> tuple[str, list[str]]:
    """The image and argv for the job's shell steps."""
    steps = [_tidy(s) for s in job.shell_steps if s.strip()]
    if not steps:
        raise ManualMigration("no shell step to run: the job has no build step the converter can map")
    uses_java = any(JAVA_JAR_RE.search(step) for step in steps)
    if job.docker_image:
        image = job.docker_image
    elif uses_java:
        image = options.java_image.format(name=name)
        job.mapped.append(f"java -jar step -> the same command in the job's image {image} (build it with the jar)")
    else:
        image = options.shell_image
        job.mapped.append(f"shell steps -> a shell script in the configured image {image}")
    if len(steps) == 1 and uses_java and not SHELL_SYNTAX_RE.search(_without_variables(steps[0])):
        # A plain command line: run it directly; Kubernetes expands $(VAR) from the container env.
        argv = [VARIABLE_RE.sub(lambda m: f"$({m.group(1)})", arg) for arg in shlex.split(steps[0])]
        return image, argv
    script = "\n".join(steps)
    if len(steps) > 1:
        job.mapped.append(f"{len(steps)} shell steps -> one script, stopping at the first failure (as Jenkins)")
    first, _, rest = script.partition("\n")
    if first.startswith("#!"):
        # Jenkins runs a step that starts with #! with that interpreter.
        return image, [*shlex.split(first[2:].strip()), "-c", rest]
    # Jenkins runs shell steps with `sh -xe`: trace each command, stop at the first failure.
    return image, ["/bin/sh", "-xec", script]


def _tidy(script: str) -> str:
    """Dedent a script and drop trailing blanks (Groovy triple-quoted strings carry the file's indent)."""
    lines = [line.rstrip() for line in textwrap.dedent(script).split("\n")]
    return "\n".join(lines).strip("\n")


def _without_variables(text: str) -> str:
    return VARIABLE_RE.sub("VAR", text)


def check_variables(job: JenkinsJob) -> None:
    used = sorted({m.group(1) for step in job.shell_steps for m in VARIABLE_RE.finditer(step)})
    for variable in used:
        if variable in MAPPED_VARIABLES:
            job.mapped.append(f"${variable} -> {MAPPED_VARIABLES[variable]}")
        elif variable in UNMAPPED_VARIABLES:
            job.issue("variable", f"${variable} has no Airflow equivalent", "remove it or pass the value as a param")


def dag_id_for(full_name: str) -> str:
    """The DAG id (and spec name) of a Jenkins full name: accents transliterated, the rest slugged.

    ``Ünïcode-Job`` becomes ``unicode-job``. A name with letters that have no ASCII form (``日次``)
    is refused rather than shortened to what is left: two such jobs would collide silently.
    """
    ascii_text = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode("ascii")
    lost = [c for c in unicodedata.normalize("NFKD", full_name) if not c.isascii() and unicodedata.category(c)[0] in "LN"]
    if lost:
        raise ConversionError(
            f"the job name {full_name!r} has letters with no ASCII form ({''.join(dict.fromkeys(lost))}); a DAG id "
            "is ASCII: rename the job in Jenkins, or convert its config.xml from a folder with an ASCII name"
        )
    return slug(ascii_text)


def link_id(full_name: str) -> str:
    """The DAG id another job links to: ``dag_id_for``, or for a name it refuses (that job fails on
    its own, naming why) the plain slug, so a link is never what makes this job fail."""
    try:
        return dag_id_for(full_name)
    except ConversionError:
        return slug(full_name)


def to_spec_data(job: JenkinsJob, options: Options) -> dict[str, Any]:
    """The spec for ``job``; validated against the schema the DAGs load with."""
    name = dag_id_for(job.full_name)
    if name != job.full_name:
        job.mapped.append(f"job name {job.full_name!r} -> DAG id {name!r}")
    pending = job.scm_script is not None and not job.scm_script.read
    if pending:
        image, command = _pending_scm_command(job, options)
    elif not any(step.strip() for step in job.shell_steps) and job.triggers:
        image = command = None
        job.mapped.append("no build step but triggers of other jobs -> a DAG without a batch task that starts them")
    else:
        image, command = build_command(job, name, options)
    check_variables(job)
    data: dict[str, Any] = {"name": name}
    description = job.description.strip()
    if description:
        data["description"] = description[:500]
    if command is not None:
        data["image"] = image
        data["command"] = command

    if job.timer_spec is not None:
        schedule = _schedule(job, options)
        if schedule is not None:
            data["schedule"] = schedule
    if pending:
        data["paused"] = True
    elif job.disabled or options.pause_all:
        data["paused"] = True
        if options.pause_all and not job.disabled:
            job.mapped.append("--paused: created paused; unpause it when the Jenkins job is disabled")
    data["max_active_runs"] = 1 if job.concurrent is not True else CONCURRENT_MAX_ACTIVE_RUNS
    if job.max_active_runs is not None and job.concurrent is True:
        data["max_active_runs"] = min(CONCURRENT_MAX_ACTIVE_RUNS, job.max_active_runs)
    if job.retries:
        data["retries"] = job.retries
    if job.retry_delay_seconds is not None and job.retries:
        data["retry_delay_seconds"] = job.retry_delay_seconds
    if job.timeout_minutes is not None:
        data["timeout_minutes"] = job.timeout_minutes
    else:
        job.mapped.append("no timeout in Jenkins -> the platform default of 180 minutes")
    if job.env:
        data["env"] = _env(job)

    data.update(_inputs_and_links(job, name))
    folder = job.full_name.split("/")[0] if "/" in job.full_name else None
    data["tags"] = ["jenkins"] + ([slug(folder)] if folder else [])
    data["jenkins"] = {"full_name": job.full_name, "kind": job.kind, "source": job.source}
    try:
        parse_spec_data(data, f"{name}.yaml")
    except SpecError as exc:
        raise ConversionError("the converted spec is invalid: " + "; ".join(exc.problems)) from None
    return data


def _inputs_and_links(job: JenkinsJob, name: str) -> dict[str, Any]:
    """Parameters, secret env, notifications and chain links, as spec fields (the empty ones left out)."""
    result: dict[str, Any] = {}
    params, secret_env = _params(job, name)
    if params:
        result["params"] = params
    if secret_env:
        result["secret_env"] = secret_env
    notifications = _notifications(job)
    if notifications:
        result["notifications"] = notifications
    if job.triggers:
        result["triggers"] = [_trigger(t) for t in job.triggers]
    if job.upstream:
        result["after"] = [link_id(upstream) for upstream in job.upstream]
    return result


def carry_over(job: JenkinsJob, options: Options) -> dict[str, Any]:
    """What a person rebuilding a job by hand needs, resolved: schedule (with its time zone and the
    cron lines Jenkins fires on), parameters, notifications and chain links. Used for manual jobs, so
    "manual" never means lost."""
    result: dict[str, Any] = {}
    if job.timer_spec is not None:
        try:
            spec = parse_spec(job.timer_spec, seed=job.full_name, default_timezone=options.timezone)
            result["schedule"] = {"jenkins_spec": job.timer_spec, "cron": [line.to_cron() for line in spec.lines],
                                  "timezone": spec.timezone}
        except CronSpecError as exc:
            result["schedule"] = {"jenkins_spec": job.timer_spec, "error": str(exc)}
    result.update(_inputs_and_links(job, link_id(job.full_name)))
    if job.env:
        result["env"] = dict(job.env)
    return result


def _pending_scm_command(job: JenkinsJob, options: Options) -> tuple[str, list[str]]:
    """A pipeline from SCM without a checkout: a paused placeholder that keeps config.xml's settings."""
    scm = job.scm_script
    where = f"{scm.script_path} of {scm.url or '(no repository URL)'} ({scm.branch})"
    finish = (f"python -m migration jenkins {shlex.quote(job.source)} --checkout "
              f"{shlex.quote(scm.url or '<repository URL>')}=<a local checkout of {scm.branch}> "
              f"--out {shlex.quote(options.out_dir)}")
    job.issue("scm", f"the pipeline script is {where}, which was not read",
              f"the spec keeps config.xml's schedule and parameters and is created paused, its command fails "
              f"until you finish it: {finish}")
    message = f"Not migrated yet: the steps of this job are in {where}; see the migration report."
    return options.shell_image, ["/bin/sh", "-c", f"echo {shlex.quote(message)} >&2; exit 1"]


def _trigger(trigger: Trigger) -> dict[str, Any]:
    item: dict[str, Any] = {"dag_id": link_id(trigger.target), "when": trigger.when}
    if trigger.conf:
        item["conf"] = trigger.conf
    if trigger.wait:
        item["wait"] = True
        if not trigger.propagate:
            item["propagate"] = False
    return item


def _schedule(job: JenkinsJob, options: Options) -> dict[str, Any] | None:
    try:
        spec = parse_spec(job.timer_spec, seed=job.full_name, default_timezone=options.timezone)
    except CronSpecError as exc:
        raise ConversionError(f"invalid schedule {job.timer_spec!r}: {exc}") from None
    if not spec.lines:
        job.issue("schedule", f"timer spec {job.timer_spec!r} has no cron line", "the job runs only when triggered")
        return None
    lines = [line.to_cron() for line in spec.lines]
    schedule: dict[str, Any] = {"cron": lines}
    if spec.timezone != "UTC":
        schedule["timezone"] = spec.timezone
    schedule["jenkins_spec"] = job.timer_spec
    how = "plain cron" if spec.single_standard_cron() else "Jenkins timetable (lines ORed, day fields ANDed, wall clock)"
    job.mapped.append(f"timer {job.timer_spec!r} -> {' | '.join(lines)} in {spec.timezone} ({how})")
    if spec.next_fire_time(_NOW_FOR_CHECKS) is None:
        job.issue("schedule", f"timer spec {job.timer_spec!r} never fires", "Jenkins accepts it too; fix or drop the schedule")
    return schedule


def _env(job: JenkinsJob) -> dict[str, str]:
    env = {}
    for key, value in job.env.items():
        if re.fullmatch(ENV_NAME_PATTERN, key):
            env[key] = value
        else:
            job.issue("variable", f"environment variable name {key!r} is not valid in a container")
    return env


def _params(job: JenkinsJob, name: str) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    params: list[dict[str, Any]] = []
    secret_env: list[dict[str, str]] = []
    secret_name = re.sub(r"[^a-z0-9.-]+", "-", name)[:200].strip("-.") + "-params"
    for param in job.params:
        if not re.fullmatch(ENV_NAME_PATTERN, param.name or ""):
            job.issue("parameter", f"parameter name {param.name!r} is not a valid environment variable name",
                      "rename it and add it to params by hand")
            continue
        if param.type == "password":
            secret_env.append({"name": param.name, "secret": secret_name, "key": param.name})
            job.mapped.append(
                f"password parameter {param.name} -> secret_env from Kubernetes Secret {secret_name}, key {param.name}"
                " (create it; the Jenkins value is not copied)"
            )
            continue
        item: dict[str, Any] = {"name": param.name, "type": param.type}
        if param.type == "choice":
            item["choices"] = list(param.choices or [])
            if not item["choices"]:
                job.issue("parameter", f"choice parameter {param.name} has no choices")
                continue
        if param.default is not None and param.default != "":
            item["default"] = param.default
        if param.description:
            item["description"] = param.description
        params.append(item)
        job.mapped.append(f"{param.type} parameter {param.name} -> param {param.name}")
    return params, secret_env


def _notifications(job: JenkinsJob) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if job.slack_channel:
        result["slack"] = {"channel": job.slack_channel}
    good = [a for a in job.emails if re.fullmatch(EMAIL_PATTERN, a)]
    for address in job.emails:
        if address not in good:
            job.issue("notification", f"e-mail recipient {address!r} is not an address", "add the real address by hand")
    if good:
        result["email"] = {"to": good}
    return result


# Schedules are checked for "never fires" from a fixed instant, so conversion output is deterministic.
_NOW_FOR_CHECKS = datetime(2000, 1, 1, tzinfo=UTC)


def output_paths(out: Path, name: str) -> tuple[Path, Path]:
    return out / f"{name}.yaml", out / f"{name}.py"

"""Spec -> DAG: the one DAG factory of the batch platform.

Each job spec ``dags/jobs/<name>.yaml`` sits next to a two-line DAG file ``dags/jobs/<name>.py`` that
calls ``dag_from_spec_file(__file__)``. One DAG file per spec is deliberate: Airflow records import
errors per DAG file, so a bad spec becomes the import error of its own job and never hides the others.

The translation itself is pure: ``job_operator_kwargs`` (spec -> KubernetesJobOperator arguments),
``dag_kwargs`` (spec -> DAG arguments) and ``timetable_for`` are plain functions with unit tests;
``build_dag`` only wires them to the real Airflow classes.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from batch_platform import chains
from batch_platform import settings as platform_settings
from batch_platform.dag_file import dag_file_text  # noqa: F401 - part of the factory's interface
from batch_platform.jenkins_cron import CronSpecError
from batch_platform.job_diagnosis import FAILURE_REASON_KEY, on_task_failure
from batch_platform.security import operator_security_kwargs
from batch_platform.spec import JobSpec, SpecError, load_spec
from batch_platform.timetable import timetable_for

TASK_ID = "run"
# How much longer Airflow waits than the Job's own deadline: Kubernetes enforces the timeout
# (activeDeadlineSeconds), Airflow's execution_timeout is the backstop if the cluster cannot.
EXECUTION_TIMEOUT_MARGIN = timedelta(minutes=5)

LABEL_JOB = "batch.platform/job"
LABEL_RUN_ID = "batch.platform/run-id"
ANNOTATION_JENKINS = "batch.platform/jenkins-full-name"

# An emptyDir per run: Jenkins' WORKSPACE, without anything surviving between runs.
WORKSPACE_PATH = "/workspace"


def jenkins_variables(spec: JobSpec) -> dict[str, str]:
    """The Jenkins variables a migrated script may use, with their Airflow values (rendered per run).

    docs/migrating-from-jenkins.md explains each; JOB_NAME is the Jenkins full name when known.
    """
    return {
        "BUILD_NUMBER": "{{ run_id }}",
        "BUILD_ID": "{{ run_id }}",
        "BUILD_TAG": "airflow-{{ dag.dag_id }}-{{ run_id | k8s_label }}",
        "JOB_NAME": spec.jenkins.full_name if spec.jenkins else spec.name,
        "BUILD_URL": "{{ ti.log_url }}",
        "WORKSPACE": WORKSPACE_PATH,
        "AIRFLOW_DAG_ID": "{{ dag.dag_id }}",
        "AIRFLOW_RUN_ID": "{{ run_id }}",
    }


def k8s_label(value: Any) -> str:
    """A Kubernetes label value from any text (run ids contain ``:`` and ``+``)."""
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    return make_safe_label_value(str(value))


def k8s_name(name: str) -> str:
    """A DNS-1123 label from a spec name (dots and underscores are not allowed in Job names)."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "job"


def param_env_value(param) -> str:
    if param.type == "boolean":
        # Jenkins passes booleans as "true"/"false".
        return "{{ params." + param.name + " | string | lower }}"
    return "{{ params." + param.name + " }}"


def job_operator_kwargs(spec: JobSpec, platform: platform_settings.PlatformSettings) -> dict[str, Any]:
    """The KubernetesJobOperator arguments for a spec (pure: no Airflow objects but k8s models)."""
    from kubernetes.client import models as k8s

    from airflow.providers.cncf.kubernetes.secret import Secret

    # Without an explicit configuration every k8s model copies the client's default one, which
    # resets logger levels: a third of the parse time of a 1,000-DAG folder. One shared copy will do;
    # the models here only hold values.
    cfg = {"local_vars_configuration": _k8s_configuration()}

    env: dict[str, str] = {}
    env.update(jenkins_variables(spec))
    env.update(spec.env)
    env.update({param.name: param_env_value(param) for param in spec.params})

    secrets = [Secret("env", None, name) for name in spec.env_from_secrets]
    secrets += [Secret("env", item.name, item.secret, item.key) for item in spec.secret_env]

    labels = {LABEL_JOB: k8s_label(spec.name), LABEL_RUN_ID: "{{ run_id | k8s_label }}"}
    annotations = {ANNOTATION_JENKINS: spec.jenkins.full_name} if spec.jenkins else {}
    timeout = timedelta(minutes=spec.timeout_minutes)
    return {
        "task_id": TASK_ID,
        "name": k8s_name(spec.name),
        "namespace": platform.namespace,
        "service_account_name": platform.service_account,
        "kubernetes_conn_id": platform.kubernetes_conn_id,
        "image": spec.image,
        "cmds": list(spec.command),
        "env_vars": env,
        "secrets": secrets,
        "labels": labels,
        "annotations": annotations,
        "container_resources": k8s.V1ResourceRequirements(
            requests=spec.resources.requests.as_dict() or None,
            limits=spec.resources.limits.as_dict() or None,
            **cfg,
        ),
        "node_selector": dict(platform.node_selector),
        "tolerations": [
            k8s.V1Toleration(
                key=platform.toleration.key,
                operator="Equal",
                value=platform.toleration.value,
                effect=platform.toleration.effect,
                **cfg,
            )
        ],
        # Security contexts, writable emptyDirs (workspace, /tmp) and the API token: security.py.
        **operator_security_kwargs(spec, WORKSPACE_PATH),
        # One attempt per Job; Airflow retries instead (retries x backoff_limit would multiply).
        "backoff_limit": 0,
        "retries": spec.retries,
        "retry_delay": timedelta(seconds=spec.retry_delay_seconds),
        "wait_until_job_complete": True,
        "job_poll_interval": platform.job_poll_interval_seconds,
        "active_deadline_seconds": int(timeout.total_seconds()),
        "execution_timeout": timeout + EXECUTION_TIMEOUT_MARGIN,
        "ttl_seconds_after_finished": platform.ttl_seconds_after_finished,
        "get_logs": True,
        "deferrable": False,
        # Why the Job failed (admission, scheduling, OOM, image, deadline) into the task log and XCom.
        "on_failure_callback": [on_task_failure],
        "on_retry_callback": [on_task_failure],
    }


@functools.cache
def _k8s_configuration():
    from kubernetes.client import Configuration

    return Configuration()


# Where a failure message points: the failed task's log in the Airflow UI (``ti.log_url``, built from
# ``[api] base_url``), or the run's page when Airflow gives the callback no task instance.
# Airflow leaves ``ti`` out of the context then (and tests pass None): both mean no task instance.
_HAS_TI = "ti is defined and ti"
LOG_LINK = "{{ ti.log_url if (" + _HAS_TI + ") else batch_run_url(dag.dag_id, run_id) }}"
FAILURE_SUMMARY = "Batch job {{ dag.dag_id }} failed (run {{ run_id }})."
# The diagnosis the failed task kept (batch_platform.job_diagnosis), on a line of its own, when there is one.
FAILURE_REASON = (
    "{% if " + _HAS_TI + " %}{% set reason = ti.xcom_pull(task_ids='" + TASK_ID + "', key='"
    + FAILURE_REASON_KEY + "') %}{% if reason %}\n{{ reason }}{% endif %}{% endif %}"
)


def batch_run_url(dag_id: str, run_id: str) -> str:
    """The UI page of a DAG run (a template macro of every batch DAG)."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    return f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id)}"


def notifiers(spec: JobSpec, platform: platform_settings.PlatformSettings) -> list[Any]:
    """Failure notifiers for the DAG run (Slack and/or e-mail), each naming the job, the run and the log.

    Slack goes through an incoming webhook (connection type ``slackwebhook``, the webhook URL as its
    password): the webhook decides the channel. Mail goes through the SMTP connection, whose extras
    carry the sender (``from_email``) and the TLS mode (``disable_ssl: true`` for STARTTLS on 587);
    see docs/airflow.md, "Notifications".
    """
    result: list[Any] = []
    if spec.notifications.slack is not None:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        result.append(
            SlackWebhookNotifier(
                slack_webhook_conn_id=spec.notifications.slack.conn_id or platform.slack_conn_id,
                text=f":red_circle: {FAILURE_SUMMARY} Log: {LOG_LINK}{FAILURE_REASON}",
            )
        )
    if spec.notifications.email is not None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        result.append(
            SmtpNotifier(
                to=list(spec.notifications.email.to),
                smtp_conn_id=spec.notifications.email.conn_id or platform.smtp_conn_id,
                subject="[batch] {{ dag.dag_id }} failed (run {{ run_id }})",
                html_content=(
                    f'<p>{FAILURE_SUMMARY}</p><p>Log: <a href="{LOG_LINK}">{LOG_LINK}</a></p>'
                    f"<pre>{FAILURE_REASON}</pre>"
                ),
            )
        )
    return result


def airflow_params(spec: JobSpec) -> dict[str, Any]:
    from airflow.sdk import Param

    params: dict[str, Any] = {}
    for p in spec.params:
        if p.type == "boolean":
            params[p.name] = Param(bool(p.default), type="boolean", description=p.description or None)
        elif p.type == "choice":
            default = p.default if p.default is not None else p.choices[0]
            params[p.name] = Param(default, type="string", enum=list(p.choices), description=p.description or None)
        else:
            params[p.name] = Param(p.default or "", type="string", description=p.description or None)
    return params


def doc_md(spec: JobSpec) -> str:
    lines = [f"# {spec.name}", ""]
    if spec.description:
        lines += [spec.description, ""]
    if spec.command is not None:
        lines += [f"Runs `{' '.join(spec.command)}` in `{spec.image}` as a Kubernetes Job.", ""]
    else:
        lines += ["Runs no batch container: it starts " + ", ".join(f"`{t.dag_id}`" for t in spec.triggers) + ".", ""]
    if spec.after:
        lines += ["Runs after any of: " + ", ".join(f"`{name}`" for name in spec.after) + " succeeds.", ""]
    if spec.jenkins is not None:
        lines += [
            f"Migrated from the Jenkins job **`{spec.jenkins.full_name}`** ({spec.jenkins.kind}"
            + (f", `{spec.jenkins.source}`" if spec.jenkins.source else "")
            + ").",
            "",
        ]
    if spec.schedule is not None:
        lines.append(f"Schedule (Jenkins semantics): `{' | '.join(spec.schedule.cron)}` in {spec.schedule.timezone}")
        if spec.schedule.jenkins_spec:
            lines.append(f"; original Jenkins spec: `{spec.schedule.jenkins_spec!r}`")
        lines.append("")
    return "\n".join(lines)


def dag_kwargs(spec: JobSpec, platform: platform_settings.PlatformSettings) -> dict[str, Any]:
    """The DAG arguments for a spec, schedule resolved to a timetable."""
    schedule = None
    if spec.schedule is not None:
        schedule = timetable_for(spec.schedule.parsed(spec.hash_seed))
    schedule = chains.schedule(schedule, list(spec.after))
    tags = list(dict.fromkeys(["batch", *spec.tags]))
    return {
        "dag_id": spec.name,
        "description": spec.description or None,
        "schedule": schedule,
        "catchup": False,
        "max_active_runs": spec.max_active_runs,
        "is_paused_upon_creation": spec.paused,
        "params": airflow_params(spec),
        "tags": tags,
        "doc_md": doc_md(spec),
        "on_failure_callback": notifiers(spec, platform) or None,
        "default_args": {"owner": spec.owner},
        "user_defined_filters": {"k8s_label": k8s_label},
        "user_defined_macros": {"batch_run_url": batch_run_url},
    }


def build_dag(spec: JobSpec, platform: platform_settings.PlatformSettings | None = None):
    """The Airflow DAG for a validated spec."""
    from batch_platform.job_operator import BatchJobOperator
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import DAG

    platform = platform or platform_settings.load()
    with DAG(**dag_kwargs(spec, platform)) as dag:
        run = None
        if spec.command is not None:
            # The provider's KubernetesJobOperator, launching at most one Job per try (job_operator.py).
            run = BatchJobOperator(**job_operator_kwargs(spec, platform), outlets=[chains.job_asset(spec.name)])
        for trigger in spec.triggers:
            task = TriggerDagRunOperator(**chains.trigger_kwargs(trigger))
            if run is not None:
                task.set_upstream(run)
    return dag


def spec_path_for(dag_file: str | Path) -> Path:
    return Path(dag_file).with_suffix(".yaml")


def dag_from_spec_file(dag_file: str | Path):
    """Build the DAG of the spec next to ``dag_file`` (same name, ``.yaml``); errors name the spec."""
    path = spec_path_for(dag_file)
    spec = load_spec(path)
    try:
        return build_dag(spec)
    except CronSpecError as exc:
        raise SpecError(path, [f"field 'schedule.cron': {exc}"]) from None

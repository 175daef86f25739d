"""Why a batch Job failed, in words: its events and conditions and those of its pods, for the task log.

When a Job's pods are refused at admission, the KubernetesJobOperator fails with "No pods running
with labels ..." and the reason stays in the Job's events (apache/airflow#70585); when a pod is
OOM-killed or cannot pull its image, the reason is in the pod's status. This module reads them and
says it where people look: the task log and the failure notification.

* ``findings(job, pods, events)`` is pure: Kubernetes client models in, ``Finding``s out;
* ``render(findings)`` turns them into the lines written to the task log;
* ``collect(core, batch, namespace, job_name)`` reads the Job, its pods and their events;
* ``report_job_failure(operator, context)`` is the hook: any operator that launched a Job (the
  stock KubernetesJobOperator or a subclass) calls it when the task fails. It logs the findings,
  keeps them in XCom (``FAILURE_REASON_KEY``) for the notification, and counts the failure in
  StatsD (``batch_platform.job_failed``, and ``batch_platform.job_without_pods`` when no pod was
  ever created, by the Job's own counters: the ``job-without-pods`` alarm). ``on_task_failure`` is that hook as a task
  callback (what the DAG factory sets). It never raises: a diagnosis must not hide the failure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Optional, Sequence

FAILURE_REASON_KEY = "failure_reason"
JOB_FAILED_METRIC = "batch_platform.job_failed"
JOB_WITHOUT_PODS_METRIC = "batch_platform.job_without_pods"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
"""Set by the Job controller on every pod of a Job (Kubernetes >= 1.27; ``job-name`` before)."""
MAX_MESSAGE = 600
MAX_FINDINGS = 20

# Container waiting reasons that mean the container will not start by itself.
WAITING_REASONS = (
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
    "RunContainerError",
)
# Pod conditions whose False status says why it does not run.
POD_CONDITIONS = ("PodScheduled",)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One reason: on which object (``Job/<name>``, ``Pod/<name>``, ``Pod/<name>/<container>``)."""

    subject: str
    reason: str
    message: str
    count: int = 1

    def line(self) -> str:
        times = f" (x{self.count})" if self.count > 1 else ""
        return f"{self.subject}: {self.reason}{times}: {self.message}"


def _short(text: Optional[str]) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _job_findings(job: Any) -> list[Finding]:
    found = []
    name = job.metadata.name
    for condition in (job.status and job.status.conditions) or []:
        if condition.type in ("Failed", "FailureTarget") and condition.status == "True":
            found.append(Finding(f"Job/{name}", condition.reason or condition.type, _short(condition.message)))
    return found


def _container_findings(pod_name: str, statuses: Iterable[Any]) -> list[Finding]:
    found = []
    for status in statuses or []:
        subject = f"Pod/{pod_name}/{status.name}"
        state = status.state
        if state is not None and state.waiting is not None and state.waiting.reason in WAITING_REASONS:
            found.append(Finding(subject, state.waiting.reason, _short(state.waiting.message)))
        for terminated in (state and state.terminated, status.last_state and status.last_state.terminated):
            if terminated is not None and (terminated.reason == "OOMKilled" or (terminated.exit_code or 0) != 0):
                detail = f"exit code {terminated.exit_code}"
                if terminated.reason == "OOMKilled":
                    detail += ": the container used more memory than its limit (raise resources.limits.memory)"
                elif terminated.message:
                    detail += f": {_short(terminated.message)}"
                found.append(Finding(subject, terminated.reason or "Error", detail))
                break
    return found


def _pod_findings(pod: Any) -> list[Finding]:
    name = pod.metadata.name
    status = pod.status
    found = []
    if status is None:
        return found
    if status.reason:  # Evicted, DeadlineExceeded, NodeLost, ...
        found.append(Finding(f"Pod/{name}", status.reason, _short(status.message)))
    for condition in status.conditions or []:
        if condition.type in POD_CONDITIONS and condition.status == "False" and condition.reason:
            found.append(Finding(f"Pod/{name}", condition.reason, _short(condition.message)))
    found += _container_findings(name, status.init_container_statuses)
    found += _container_findings(name, status.container_statuses)
    return found


def _event_findings(events: Iterable[Any]) -> list[Finding]:
    """Warning events (FailedCreate with the admission message, FailedScheduling, BackOff, ...), oldest first."""

    def when(event: Any) -> float:
        stamp = event.last_timestamp or event.event_time or event.first_timestamp
        if stamp is None and event.metadata is not None:
            stamp = event.metadata.creation_timestamp
        return stamp.timestamp() if isinstance(stamp, datetime) else 0.0

    found = []
    for event in sorted((e for e in events if e.type == "Warning"), key=when):
        obj = event.involved_object
        subject = f"{obj.kind}/{obj.name}"
        count = event.count or (event.series.count if getattr(event, "series", None) else 1) or 1
        found.append(Finding(subject, event.reason or "Warning", _short(event.message), count))
    return found


def findings(job: Any, pods: Sequence[Any], events: Sequence[Any]) -> list[Finding]:
    """The reasons a Job failed, from its status, its pods' statuses and the Warning events of both.

    ``job`` is a ``V1Job`` (or None when it is gone), ``pods`` ``V1Pod``s, ``events``
    ``CoreV1Event``s. Duplicates (the same reason on the same object from a status and an event)
    are kept once; the list is capped at ``MAX_FINDINGS``.
    """
    found: list[Finding] = []
    if job is not None:
        found += _job_findings(job)
    for pod in pods:
        found += _pod_findings(pod)
    found += _event_findings(events)
    unique: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for f in found:
        key = (f.subject, f.reason, f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique[:MAX_FINDINGS]


def render(job_name: str, found: Sequence[Finding], pod_count: int) -> str:
    """The text written to the task log and kept for the notification."""
    head = f"Kubernetes Job {job_name}: {pod_count} pod(s) created"
    if not found:
        return head + "; Kubernetes reports no reason (see the container log above)."
    return "\n".join([head + "; why it failed:", *(f"  - {f.line()}" for f in found)])


def collect(core: Any, batch: Any, namespace: str, job_name: str) -> tuple[Any, list[Any], list[Any]]:
    """Read the Job, its pods and the events of all of them (CoreV1Api, BatchV1Api clients).

    Pod events are listed by name (``<job>-<suffix>``), not through the pods: a pod that is gone
    (deleted, or replaced by the Job controller) still has its events for the events' TTL (1 h).
    """
    from kubernetes.client.exceptions import ApiException

    try:
        job = batch.read_namespaced_job(name=job_name, namespace=namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        job = None
    pods = core.list_namespaced_pod(namespace=namespace, label_selector=f"{JOB_NAME_LABEL}={job_name}").items
    events = list(
        core.list_namespaced_event(
            namespace=namespace, field_selector=f"involvedObject.kind=Job,involvedObject.name={job_name}"
        ).items
    )
    pod_events = core.list_namespaced_event(namespace=namespace, field_selector="involvedObject.kind=Pod").items
    events += [e for e in pod_events if (e.involved_object.name or "").startswith(f"{job_name}-")]
    return job, list(pods), events


def _job_ref(operator: Any, context: Any) -> tuple[Optional[str], Optional[str]]:
    job = getattr(operator, "job", None)
    if job is not None and getattr(job, "metadata", None) is not None:
        return job.metadata.name, job.metadata.namespace
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None:
        return None, None
    return (
        ti.xcom_pull(task_ids=ti.task_id, key="job_name"),
        ti.xcom_pull(task_ids=ti.task_id, key="job_namespace"),
    )


def never_had_pods(job: Any, pods: Sequence[Any]) -> bool:
    """No pod now, and the Job's counters say none ever ran (a pod deleted since does not count)."""
    status = getattr(job, "status", None)
    counted = status is not None and any((status.active, status.failed, status.succeeded))
    return not pods and not counted


def _incr(metric: str) -> None:
    from airflow.sdk.observability.stats import Stats

    Stats.incr(metric)


def report_job_failure(operator: Any, context: Any) -> Optional[str]:
    """Diagnose the Job ``operator`` launched, write it to the task log, keep it for the notification.

    Returns the text (None when no Job was created). Never raises.
    """
    logger = getattr(operator, "log", log)
    try:
        job_name, namespace = _job_ref(operator, context)
        if not job_name:
            return None
        hook = operator.hook
        job, pods, events = collect(hook.core_v1_client, hook.batch_v1_client, namespace, job_name)
        text = render(job_name, findings(job, pods, events), len(pods))
        logger.error("%s", text)
        _incr(JOB_FAILED_METRIC)
        if never_had_pods(job, pods):
            _incr(JOB_WITHOUT_PODS_METRIC)
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key=FAILURE_REASON_KEY, value=text)
        return text
    except Exception:  # noqa: BLE001 - the diagnosis must never replace the task's own error
        logger.warning("could not read why the Job failed", exc_info=True)
        return None


def on_task_failure(context: Any) -> None:
    """Task callback (``on_failure_callback`` / ``on_retry_callback``) running ``report_job_failure``."""
    task = context.get("task")
    if task is not None:
        report_job_failure(task, context)

"""The batch task's operator: the provider's KubernetesJobOperator, made idempotent per run and try.

What the provider (cncf-kubernetes 10.25) does, and why a batch could run twice with it:

* every ``execute`` creates a new Job with a random name, so a retry, or a second execution of the
  same try (a worker that died and whose task runs again), starts a second copy of the batch while
  the first one may still run;
* it then lists the Job's pods a few times with no delay and fails with "No pods running" if the Job
  controller is slower (apache/airflow#70585), leaving the Job running with nobody watching it;
* the pods are found by the task's labels without the try number, so a retry can follow the pod of
  the previous try;
* the batch's output reaches the task log only after the Job has ended.

``BatchJobOperator`` launches differently, with the provider's own building blocks (the Job it
builds, its hook, its pod manager, its cleanup):

1. The Job's name is derived from the DAG, task, run, map index and try (no random suffix) and the
   Job carries the task's labels with the try number. Before creating, the operator looks for a Job
   of the same run and task: one of the same try is re-attached whatever its state; one of an earlier
   try that is still active is re-attached too (its outcome becomes this try's), so a run never has
   two active copies. Only otherwise is a Job created, and the API server's name uniqueness makes a
   concurrent duplicate of the same try fail with 409, which re-attaches to the winner.
2. Its pods are selected with the Job's own selector (its controller uid): never another Job's pods.
3. The wait for the pods is bounded (``pod_discovery_timeout_seconds``) and ends early when the Job
   itself ends (a Job that never got a pod fails with its own reason, such as DeadlineExceeded).
   When the bound passes while the Job is still active, the Job is deleted before the task fails, so
   nothing runs unmonitored and the retry starts cleanly.
4. The batch's output is followed live into the task log while the pod runs, then the operator
   waits for the Job's final status.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from airflow.providers.cncf.kubernetes.operators.job import JOB_NAME_PREFIX, KubernetesJobOperator
from airflow.providers.common.compat.sdk import AirflowException
from kubernetes.client import models as k8s
from kubernetes.client.rest import ApiException

# Job names become the pods' job-name label value: at most 63 characters.
JOB_NAME_MAX_LENGTH = 63
RUN_DIGEST_LENGTH = 8
LABEL_TRY_NUMBER = "try_number"
DEFAULT_POD_DISCOVERY_TIMEOUT_SECONDS = 600
DEFAULT_POD_POLL_INTERVAL_SECONDS = 5.0


def job_name(base: str, dag_id: str, task_id: str, run_id: str, map_index: int, try_number: int) -> str:
    """The one name of the Job of a task try: ``job-<base>-<digest of the run>-t<try>`` (<= 63)."""
    identity = f"{dag_id}\n{task_id}\n{run_id}\n{map_index}".encode("utf-8")
    digest = hashlib.sha256(identity).hexdigest()[:RUN_DIGEST_LENGTH]
    suffix = f"-{digest}-t{try_number}"
    room = JOB_NAME_MAX_LENGTH - len(JOB_NAME_PREFIX) - len(suffix)
    trimmed = base[:room].rstrip("-") or "batch"
    return f"{JOB_NAME_PREFIX}{trimmed}{suffix}"


def job_is_finished(job: k8s.V1Job) -> bool:
    """Whether the Job reached a terminal condition (Complete or Failed)."""
    conditions = (job.status.conditions if job.status else None) or []
    return any(c.type in ("Complete", "Failed") and c.status == "True" for c in conditions)


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


class BatchJobOperator(KubernetesJobOperator):
    """KubernetesJobOperator that launches at most one Job per task try and re-attaches to it.

    :param pod_discovery_timeout_seconds: how long to wait for the Job's pods before deleting the Job
        and failing (default 600: the Job controller retries pods refused by a quota with backoff).
    :param pod_poll_interval_seconds: how often the pods are looked for and checked (default 5).

    ``on_finish_action`` defaults to ``keep_pod``: the provider's ``delete_pod`` deletes the followed
    pods whenever following stops, running or not, so a lost API connection would kill the batch.
    The Job's ``ttl_seconds_after_finished`` removes the Job and its pods.
    """

    def __init__(
        self,
        *,
        pod_discovery_timeout_seconds: float = DEFAULT_POD_DISCOVERY_TIMEOUT_SECONDS,
        pod_poll_interval_seconds: float = DEFAULT_POD_POLL_INTERVAL_SECONDS,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("random_name_suffix", False)
        kwargs.setdefault("on_finish_action", "keep_pod")
        super().__init__(**kwargs)
        self.pod_discovery_timeout_seconds = pod_discovery_timeout_seconds
        self.pod_poll_interval_seconds = pod_poll_interval_seconds

    # --- the Job ------------------------------------------------------------------------------------

    def build_job_request_obj(self, context=None) -> k8s.V1Job:
        job = super().build_job_request_obj(context)
        if context is not None:
            ti = context["ti"]
            job.metadata.name = job_name(
                self.name or self.task_id, ti.dag_id, ti.task_id, context["run_id"], ti.map_index, ti.try_number
            )
            # The task's labels (the provider puts them on the pods only), with the try, on the Job.
            job.metadata.labels = {**(job.metadata.labels or {}), **self._get_ti_pod_labels(context)}
        return job

    def _run_selector(self, context) -> str:
        return _selector(self._get_ti_pod_labels(context, include_try_number=False))

    def find_job_to_attach(self, context) -> k8s.V1Job | None:
        """A Job of this try, or one of an earlier try of the same run that is still active."""
        jobs = self.job_client.list_namespaced_job(
            namespace=self.job_request_obj.metadata.namespace, label_selector=self._run_selector(context)
        ).items
        try_number = str(context["ti"].try_number)
        same_try = [j for j in jobs if (j.metadata.labels or {}).get(LABEL_TRY_NUMBER) == try_number]
        if same_try:
            return same_try[0]
        active = [j for j in jobs if not job_is_finished(j)]
        return max(active, key=lambda j: str(j.metadata.creation_timestamp or "")) if active else None

    def launch(self, context) -> k8s.V1Job:
        """Create this try's Job, or re-attach to the one that already runs for it."""
        self.name = self._set_name(self.name)
        self.job_request_obj = self.build_job_request_obj(context)
        existing = self.find_job_to_attach(context)
        if existing is not None:
            self.log.info(
                "Re-attaching to job %s (try %s), which already runs for this task run: no second Job",
                existing.metadata.name,
                (existing.metadata.labels or {}).get(LABEL_TRY_NUMBER),
            )
            return existing
        try:
            return self.hook.create_job(job=self.job_request_obj)
        except ApiException as error:
            if error.status != 409:
                raise
            self.log.info("Job %s was created concurrently: re-attaching to it", self.job_request_obj.metadata.name)
            return self.hook.get_job(
                job_name=self.job_request_obj.metadata.name, namespace=self.job_request_obj.metadata.namespace
            )

    # --- the pods -----------------------------------------------------------------------------------

    def get_pods(self, pod_request_obj: k8s.V1Pod, context, *, exclude_checked: bool = True) -> Sequence[k8s.V1Pod]:
        """The Job's pods, by the Job's own selector, waited for with a bound.

        Returns no pod when the Job ended without one (its status says why). Deletes the Job and
        raises when the bound passes while the Job is still active with no pod.
        """
        namespace = self.job.metadata.namespace
        selector = _selector(self.job.spec.selector.match_labels)
        deadline = time.monotonic() + self.pod_discovery_timeout_seconds
        while True:
            pods = self.client.list_namespaced_pod(namespace=namespace, label_selector=selector).items
            if len(pods) >= self.parallelism:
                break
            job = self.hook.get_job_status(job_name=self.job.metadata.name, namespace=namespace)
            if job_is_finished(job):
                self.job = job
                break
            if time.monotonic() >= deadline:
                self._delete_job()
                raise AirflowException(
                    f"Kubernetes job '{self.job.metadata.name}' created no pod in "
                    f"{self.pod_discovery_timeout_seconds:g} s (pods matching {selector}); it was deleted so that "
                    "no copy of the batch runs unmonitored, and a retry starts a new one"
                )
            time.sleep(self.pod_poll_interval_seconds)
        for pod in pods:
            self.log_matching_pod(pod=pod, context=context)
        return pods

    def _delete_job(self) -> None:
        self.job_client.delete_namespaced_job(
            name=self.job.metadata.name,
            namespace=self.job.metadata.namespace,
            propagation_policy=self.on_kill_propagation_policy,
        )

    def _await_pod_started(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        """Wait until the pod left Pending (no bound of its own: the Job's deadline is the bound)."""
        while True:
            current = self.pod_manager.read_pod(pod)
            if current.status is None or current.status.phase != "Pending":
                return current
            job = self.hook.get_job_status(job_name=self.job.metadata.name, namespace=self.job.metadata.namespace)
            if job_is_finished(job):
                return current
            time.sleep(self.pod_poll_interval_seconds)

    # --- the run ------------------------------------------------------------------------------------

    def execute(self, context):
        if self.deferrable or self.do_xcom_push or not self.wait_until_job_complete:
            raise AirflowException(
                "BatchJobOperator supports wait_until_job_complete=True without deferrable or do_xcom_push"
            )
        self.job = self.launch(context)  # self.job is what on_kill deletes
        ti = context["ti"]
        ti.xcom_push(key="job_name", value=self.job.metadata.name)
        ti.xcom_push(key="job_namespace", value=self.job.metadata.namespace)
        try:
            self.pods = self.get_pods(pod_request_obj=self.pod_request_obj, context=context)
            if self.get_logs:
                for pod in self.pods:
                    started = self._await_pod_started(pod)
                    if started.status is not None and started.status.phase != "Pending":
                        # Live: returns when the container ends, while the Job may still be active.
                        self.pod_manager.fetch_requested_container_logs(
                            pod=started, containers=self.container_logs, follow_logs=True
                        )
            self.job = self.hook.wait_until_job_complete(
                job_name=self.job.metadata.name,
                namespace=self.job.metadata.namespace,
                job_poll_interval=self.job_poll_interval,
            )
            ti.xcom_push(key="job", value=self.job.to_dict())
            if error_message := self.hook.is_job_failed(job=self.job):
                raise AirflowException(
                    f"Kubernetes job '{self.job.metadata.name}' is failed with error '{error_message}'"
                )
        finally:
            self._cleanup_monitoring_pods(context)

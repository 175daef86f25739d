"""The batch task's launch path, run for real against a Kubernetes API on 127.0.0.1.

The DAG factory's task (``BatchJobOperator``, the provider's KubernetesJobOperator with an idempotent
launch) executes with the provider's hook, pod manager and the kubernetes client over HTTP, against
``tests/dags/fake_kubernetes.py``, which authorizes every request with the launcher Role the stack
creates (``infra.batch_namespace.LAUNCHER_RULES``) and validates every Job it receives against the
Kubernetes schema. "A worker that died right after creating the Job" is the first half of the launch
path (``launch``) run alone.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from batch_platform import settings as platform_settings
from batch_platform.factory import build_dag
from batch_platform.job_operator import BatchJobOperator, job_name
from batch_platform.spec import parse_spec_data
from infra.batch_namespace import LAUNCHER_RULES
from tests.dags.fake_kubernetes import FakeCluster, FakeKubernetesApi

RUN_ID = "scheduled__2024-06-03T05:00:00+00:00"
SPEC = {"name": "finance.ledger-export", "image": "registry.internal/batch/ledger:1.4.2",
        "command": ["java", "-jar", "/app/ledger.jar"], "retries": 2}


@dataclass
class TaskInstance:
    dag_id: str
    task_id: str
    try_number: int
    map_index: int = -1
    log_url: str = "https://airflow.internal/log"
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    cluster = FakeCluster(namespace="batch-jobs", rules=copy.deepcopy(LAUNCHER_RULES))
    with FakeKubernetesApi(cluster) as api:
        config = tmp_path / "kubeconfig"
        config.write_text(api.kubeconfig(), encoding="utf-8")
        monkeypatch.setenv(
            "AIRFLOW_CONN_KUBERNETES_DEFAULT",
            json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(config)}}),
        )
        yield cluster


def _task(**overrides: Any) -> tuple[BatchJobOperator, Any]:
    """A fresh copy of the factory's task (every try of Airflow runs a fresh operator)."""
    dag = build_dag(parse_spec_data(SPEC, "jobs/finance.ledger-export.yaml"), platform_settings.load({}))
    task = dag.get_task("run")
    assert isinstance(task, BatchJobOperator)
    task.job_poll_interval = 0.05
    task.pod_poll_interval_seconds = 0.05
    for name, value in overrides.items():
        setattr(task, name, value)
    return task, dag


def _context(task, dag, try_number: int) -> dict[str, Any]:
    ti = TaskInstance(dag_id=dag.dag_id, task_id=task.task_id, try_number=try_number)
    context = {"dag": dag, "task": task, "ti": ti, "task_instance": ti, "run_id": RUN_ID,
               "params": {name: param.value for name, param in dag.params.items()}}
    task.render_template_fields(context)
    return context


def _execute(try_number: int, **overrides: Any) -> dict[str, Any]:
    task, dag = _task(**overrides)
    context = _context(task, dag, try_number)
    task.execute(context)
    return context


def _launch_only(try_number: int) -> str:
    """A worker that created the Job and died before following it."""
    task, dag = _task()
    return task.launch(_context(task, dag, try_number)).metadata.name


def test_a_try_creates_one_job_named_for_the_run_and_try_and_streams_its_log_live(cluster, capsys):
    context = _execute(1)
    (created,) = cluster.created_jobs
    name = job_name("finance-ledger-export", "finance.ledger-export", "run", RUN_ID, -1, 1)
    assert context["ti"].xcoms["job_name"] == name and name in cluster.jobs and len(name) <= 63
    job = cluster.jobs[name]
    assert job["metadata"]["labels"]["try_number"] == "1"
    assert job["metadata"]["labels"]["run_id"] and job["metadata"]["labels"]["dag_id"] == "finance.ledger-export"
    # The batch's output reached the task log while its Job was still active.
    (log_read,) = cluster.calls("GET", r"/api/v1/namespaces/batch-jobs/pods/[^/]+/log")
    assert log_read.active_jobs == [name]
    task_log = capsys.readouterr().out  # Airflow's task logger writes there outside a task runner
    assert task_log.index("[base] batch started") < task_log.index("[base] batch finished") < task_log.index("state: Complete")
    # Every request was allowed by the launcher Role, cleanup included (it patches the pod).
    assert cluster.forbidden == []
    assert cluster.calls("PATCH", r"/api/v1/namespaces/batch-jobs/pods/[^/]+")
    # The pods stay for the Job's TTL: following stops never delete them.
    assert not cluster.calls("DELETE", r".*/pods/[^/]+")


def test_the_same_try_launched_twice_creates_one_job(cluster):
    first = _launch_only(1)
    _execute(1)
    assert [r.status for r in cluster.calls("POST", r".*/jobs")] == [201]
    assert cluster.jobs[first]["status"]["succeeded"] == 1
    # A third execution of the finished try re-attaches again and succeeds from the Job's status.
    _execute(1)
    assert len(cluster.created_jobs) == 1


def test_a_retry_reattaches_to_the_previous_try_that_still_runs(cluster):
    cluster.controller = "hold"
    first = _launch_only(1)  # try 1's worker died; its Job runs on
    cluster.controller = "run"
    context = _execute(2)
    assert len(cluster.created_jobs) == 1
    assert context["ti"].xcoms["job_name"] == first
    assert cluster.jobs[first]["status"]["succeeded"] == 1


def test_a_retry_after_a_failed_try_follows_only_its_own_job(cluster):
    cluster.succeed = False
    with pytest.raises(AirflowException, match="is failed with error 'BackoffLimitExceeded'"):
        _execute(1)
    cluster.succeed = True
    context = _execute(2)
    names = [json.loads(json.dumps(n)) for n in sorted(cluster.jobs)]
    assert len(cluster.created_jobs) == 2 and names == sorted(
        job_name("finance-ledger-export", "finance.ledger-export", "run", RUN_ID, -1, t) for t in (1, 2)
    )
    # Try 1's failed pod carries the same task labels, but try 2 followed only its own Job's pod.
    second = cluster.jobs[context["ti"].xcoms["job_name"]]
    own = {pod["metadata"]["name"] for pod in cluster.pods_of(second)}
    logs = cluster.calls("GET", r"/api/v1/namespaces/batch-jobs/pods/[^/]+/log")
    assert {r.path.split("/")[-2] for r in logs[1:]} == own


def test_pods_slower_than_the_providers_three_listings_are_waited_for(cluster):
    cluster.pods_after_lists = 8
    _execute(1)
    assert len(cluster.created_jobs) == 1
    assert len(cluster.calls("GET", r"/api/v1/namespaces/batch-jobs/pods")) > 8


def test_a_pending_pod_is_waited_for_before_its_log_is_followed(cluster, capsys):
    # The API refuses the log of a container that is still waiting (400): follow it once it runs.
    cluster.pending_reads = 4
    _execute(1)
    assert not [r for r in cluster.requests if r.status == 400]
    assert "[base] batch finished" in capsys.readouterr().out


def test_a_job_that_never_gets_a_pod_is_deleted_after_the_bound(cluster):
    cluster.controller = "hold"
    with pytest.raises(AirflowException, match=r"created no pod in 0\.3 s .* it was deleted so that no copy"):
        _execute(1, pod_discovery_timeout_seconds=0.3)
    assert cluster.calls("DELETE", r"/apis/batch/v1/namespaces/batch-jobs/jobs/[^/]+")
    assert cluster.jobs == {}


def test_a_job_that_ends_without_a_pod_fails_with_its_own_reason(cluster):
    cluster.controller = "hold"

    def deadline() -> None:
        while not cluster.jobs:
            threading.Event().wait(0.02)
        with cluster.lock:
            cluster.finish(next(iter(cluster.jobs.values())), succeeded=False, reason="DeadlineExceeded")

    timer = threading.Thread(target=deadline)
    timer.start()
    with pytest.raises(AirflowException, match="is failed with error 'DeadlineExceeded'"):
        _execute(1)
    timer.join()
    assert len(cluster.created_jobs) == 1


def test_without_pods_patch_the_cleanup_is_refused(cluster):
    # The control for the Role: the provider's cleanup labels the followed pod (already_checked).
    for rule in cluster.rules:
        if rule["resources"] == ["pods"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != "patch"]
    _execute(1)
    assert [r.method for r in cluster.forbidden] == ["PATCH"]


def test_the_providers_operator_alone_creates_a_second_job_for_the_same_try(cluster):
    # Why the subclass exists: the same try executed twice by KubernetesJobOperator itself.
    from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator

    cluster.finish_on_status_read = True
    for _ in range(2):
        task, dag = _task()
        plain = KubernetesJobOperator(**{**_provider_kwargs(task), "task_id": "plain"}, dag=dag)
        context = _context(plain, dag, 1)
        plain.render_template_fields(context)
        plain.execute(context)
    assert len(cluster.created_jobs) == 2


def _provider_kwargs(task: BatchJobOperator) -> dict[str, Any]:
    from batch_platform.factory import job_operator_kwargs

    spec = parse_spec_data(SPEC, "jobs/finance.ledger-export.yaml")
    kwargs = job_operator_kwargs(spec, platform_settings.load({}))
    return {**kwargs, "job_poll_interval": 0.05}

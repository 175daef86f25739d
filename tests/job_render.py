"""Build the exact Job the KubernetesJobOperator submits for a DAG, offline, with the provider's own code.

``render_job`` renders the task's templates with a minimal run context and calls the operator's
``build_job_request_obj``; the result is the JSON the API server would receive. The kubeconfig
points at a cluster that is never contacted (the hook only reads it).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- cluster: {server: "https://127.0.0.1:6443"}
  name: offline
contexts:
- context: {cluster: offline, user: offline}
  name: offline
current-context: offline
users:
- name: offline
  user: {token: not-a-real-token}
"""


def offline_kubernetes_connection(directory: Path) -> pytest.MonkeyPatch:
    """Point the operator's Kubernetes connection at an offline kubeconfig; undo() the returned patch.

    Given through the Airflow connection the operator uses (an environment-variable connection),
    not KUBECONFIG, which the kubernetes client reads once at import time.
    """
    path = directory / "config"
    path.write_text(KUBECONFIG)
    mp = pytest.MonkeyPatch()
    mp.setenv(
        "AIRFLOW_CONN_KUBERNETES_DEFAULT",
        json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(path)}}),
    )
    return mp


def render_job(dag, run_id="scheduled__2024-05-01T02:00:00+00:00", try_number=1) -> dict:
    """Render templates and build the V1Job the operator would create, with a minimal task context."""
    from kubernetes.client import ApiClient

    task = dag.get_task("run")
    ti = SimpleNamespace(
        dag_id=dag.dag_id, task_id=task.task_id, try_number=try_number, map_index=-1,
        log_url=f"https://airflow.internal/dags/{dag.dag_id}/runs/{run_id}/tasks/run",
    )
    context = {
        "dag": dag, "task": task, "ti": ti, "task_instance": ti, "run_id": run_id,
        "params": {name: param.value for name, param in dag.params.items()},
    }
    task.render_template_fields(context)
    return ApiClient().sanitize_for_serialization(task.build_job_request_obj(context))

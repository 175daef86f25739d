"""``KubernetesApi`` with the official client against a local API server (127.0.0.1, ephemeral port).

The server answers the few endpoints the procedure calls, in the API's JSON shapes, and records the
requests: the label selectors the client sends are the API's own query syntax.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from stacks.patching.kube import KubernetesApi
from stacks.patching.preflight import CanarySpec, canary_job

CREATED = "2026-08-20T06:10:00Z"
NODE_INFO = {
    "architecture": "amd64",
    "bootID": "b",
    "containerRuntimeVersion": "containerd://2.1.4",
    "kernelVersion": "6.12.40-63.114.amzn2023.x86_64",
    "kubeProxyVersion": "",
    "kubeletVersion": "v1.35.4-eks-1",
    "machineID": "m",
    "operatingSystem": "linux",
    "osImage": "Amazon Linux 2023.8.20260801",
    "systemUUID": "u",
}


def node(name, group, ready="True"):
    return {
        "metadata": {"name": name, "creationTimestamp": CREATED, "labels": {"eks.amazonaws.com/nodegroup": group}},
        "status": {"conditions": [{"type": "Ready", "status": ready}], "nodeInfo": NODE_INFO},
    }


def pod(name, node_name, namespace="airflow"):
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"nodeName": node_name, "containers": [{"name": "c"}]}}


class Api:
    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        self.jobs: dict[str, dict] = {}
        self.job_condition = "Complete"
        self.pods_by_selector = {
            "component=scheduler,release=airflow": [pod("airflow-scheduler-0", "n1"), pod("airflow-scheduler-1", "n9")],
            "component=api-server": [pod("airflow-api-0", "n9")],
        }

    def answer(self, method: str, path: str, query: dict, body: dict | None):
        if path == "/api/v1/nodes":
            group = query["labelSelector"][0].split("=", 1)[1]
            items = [node("n1", group), node("n2", group, ready="False")] if group == "batch-1" else []
            return 200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": items}
        if path.startswith("/api/v1/nodes/"):
            name = path.rsplit("/", 1)[1]
            return (200, node(name, "batch-1")) if name == "n1" else (404, {"kind": "Status", "code": 404, "reason": "NotFound"})
        if path == "/apis/policy/v1/poddisruptionbudgets":
            return 200, {
                "kind": "PodDisruptionBudgetList",
                "apiVersion": "policy/v1",
                "metadata": {},
                "items": [
                    {"metadata": {"name": "scheduler", "namespace": "airflow"},
                     "spec": {"selector": {"matchLabels": {"release": "airflow", "component": "scheduler"}}},
                     "status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 2}},
                    {"metadata": {"name": "api", "namespace": "airflow"},
                     "spec": {"selector": {"matchLabels": {"component": "api-server"}}},
                     "status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}},
                    {"metadata": {"name": "roomy", "namespace": "airflow"},
                     "spec": {"selector": {"matchLabels": {"component": "triggerer"}}},
                     "status": {"disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2}},
                ],
            }
        if path.startswith("/api/v1/namespaces/") and path.endswith("/pods"):
            selector = query.get("labelSelector", [""])[0]
            items = self.pods_by_selector.get(selector, [])
            if selector.startswith("job-name="):
                items = [pod("canary-abc", "n1", "batch-jobs")]
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
        if path == "/apis/apps/v1/namespaces/airflow/deployments":
            return 200, {"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {}, "items": [
                {"metadata": {"name": "airflow-api-server"}, "spec": {"replicas": 2, "selector": {}, "template": {}}, "status": {"readyReplicas": 1}},
                {"metadata": {"name": "airflow-scheduler"}, "spec": {"replicas": 2, "selector": {}, "template": {}}, "status": {"readyReplicas": 2}},
            ]}
        if path == "/apis/apps/v1/namespaces/airflow/statefulsets":
            return 200, {"kind": "StatefulSetList", "apiVersion": "apps/v1", "metadata": {}, "items": [
                {"metadata": {"name": "airflow-triggerer"}, "spec": {"replicas": 2, "selector": {}, "serviceName": "t", "template": {}}, "status": {"replicas": 2}},
            ]}
        if path == "/apis/batch/v1/namespaces/batch-jobs/jobs" and method == "POST":
            name = body["metadata"]["name"]
            if name in self.jobs:
                return 409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"}
            self.jobs[name] = body
            return 201, body
        if path.startswith("/apis/batch/v1/namespaces/batch-jobs/jobs/") and path.endswith("/status"):
            job = dict(self.jobs[path.split("/")[-2]])
            job["status"] = {"conditions": [{"type": self.job_condition, "status": "True", "reason": "BackoffLimitExceeded" if self.job_condition == "Failed" else None, "message": "m"}]}
            return 200, job
        return 404, {"kind": "Status", "code": 404, "reason": "NotFound"}


@pytest.fixture
def api():
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            query = parse_qs(url.query)
            state.requests.append((method, url.path, query))
            code, payload = state.answer(method, url.path, query, body)
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            self._serve("GET")

        def do_POST(self):  # noqa: N802
            self._serve("POST")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "u", "user": {"token": "test-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    try:
        yield state, KubernetesApi(kubeconfig, sleep=lambda s: None)
    finally:
        server.shutdown()
        server.server_close()


def test_nodes_of_a_group_by_the_eks_label(api):
    state, kube = api
    nodes = kube.nodes("batch-1")
    assert [(n.name, n.ready, n.kubelet_version, n.node_group) for n in nodes] == [
        ("n1", True, "v1.35.4-eks-1", "batch-1"),
        ("n2", False, "v1.35.4-eks-1", "batch-1"),
    ]
    assert nodes[0].created.isoformat() == "2026-08-20T06:10:00+00:00"
    assert ("GET", "/api/v1/nodes", {"labelSelector": ["eks.amazonaws.com/nodegroup=batch-1"]}) in state.requests


def test_blocking_budgets_are_those_with_no_disruption_left_covering_pods_on_the_nodes(api):
    state, kube = api
    blocking = kube.blocking_pdbs(["n1", "n2"])
    # "api" allows none but its pod is on n9, not on these nodes; "roomy" allows one.
    assert [(b.namespace, b.name, b.pods) for b in blocking] == [("airflow", "scheduler", ("airflow-scheduler-0",))]
    selectors = [q["labelSelector"][0] for m, p, q in state.requests if p.endswith("/pods")]
    assert selectors == ["component=scheduler,release=airflow", "component=api-server"]


def test_unhealthy_workloads_are_named(api):
    _, kube = api
    assert kube.unhealthy_workloads("airflow") == [
        "Deployment airflow/airflow-api-server has 1/2 ready replicas",
        "StatefulSet airflow/airflow-triggerer has 0/2 ready replicas",
    ]


def test_the_canary_runs_and_a_rerun_waits_for_the_same_job(api):
    state, kube = api
    manifest = canary_job(CanarySpec(namespace="batch-jobs", name="node-patching-canary-1-35-4", image="busybox", timeout_seconds=600))
    result = kube.run_canary(manifest, 600)
    assert (result.succeeded, result.node) == (True, "n1")
    assert state.jobs["node-patching-canary-1-35-4"]["spec"]["template"]["spec"]["nodeSelector"] == {"workload": "batch"}
    state.job_condition = "Failed"
    again = kube.run_canary(manifest, 600)  # 409: the Job exists; its outcome is read
    assert not again.succeeded and "BackoffLimitExceeded" in again.detail
    assert kube.node("n1").node_group == "batch-1" and kube.node("gone") is None

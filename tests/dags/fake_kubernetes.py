"""A Kubernetes API server on 127.0.0.1 for the batch operator's tests: Jobs and pods of one namespace.

It serves, over real HTTP for the real kubernetes client, the requests the provider's Job operator
makes: Jobs (create, list with a label selector, read, read status, delete), pods (list with a label
selector, read, patch, delete, log) and events. Like the API server it

* refuses a second Job with the same name (409 AlreadyExists),
* gives a created Job a uid, its selector (``batch.kubernetes.io/controller-uid``) and the
  controller's labels on its pod template, and checks the submitted Job against the Kubernetes
  OpenAPI schema of the deployed version (kubernetes-validate, strict);
* authorizes every request against RBAC rules (the launcher Role the stack creates), with
  Kubernetes' verb mapping (GET one = get, GET a collection = list, POST = create, ...): 403 otherwise.

The Job controller is the test's: ``controller`` decides what happens to a new Job (``"run"``: one
pod appears after ``pods_after_lists`` pod listings, runs, logs ``log_lines`` while the Job is still
active, then the Job completes; ``"hold"``: the Job stays active without pods until the test acts).
Every request is recorded with the Job states at that moment.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate

from infra.versions import DEFAULT_KUBERNETES_VERSION

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``), comma-separated."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = re.split(r"==?", term, maxsplit=1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    active_jobs: list[str]


@dataclass
class FakeCluster:
    namespace: str
    rules: list[dict[str, Any]]
    controller: str = "run"
    pods_after_lists: int = 0
    log_lines: tuple[str, ...] = ("batch started", "batch finished")
    succeed: bool = True
    pending_reads: int = 0
    """``"run"``: a new pod stays Pending (image pull, node scale-up) for this many reads of it."""
    finish_on_status_read: bool = False
    """``"run"`` also ends a Job whose pod runs when its status is read (a client that reads the log
    only after the Job ended, like the provider's own operator, would wait forever otherwise)."""
    jobs: dict[str, dict] = field(default_factory=dict)
    pods: dict[str, dict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _pod_lists: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    # --- what the test looks at ---------------------------------------------------------------------

    def calls(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    @property
    def created_jobs(self) -> list[Request]:
        return [r for r in self.calls("POST", rf"/apis/batch/v1/namespaces/{self.namespace}/jobs") if r.status == 201]

    @property
    def forbidden(self) -> list[Request]:
        return [r for r in self.requests if r.status == 403]

    def active_job_names(self) -> list[str]:
        return sorted(name for name, job in self.jobs.items() if not job["status"].get("conditions"))

    # --- what the test's Job controller does ----------------------------------------------------------

    def add_pod(self, job: dict, phase: str = "Running") -> dict:
        template = job["spec"]["template"]
        name = f"{job['metadata']['name']}-{uuid.uuid4().hex[:5]}"
        container = template["spec"]["containers"][0]["name"]
        state = {"running": {"startedAt": _now()}} if phase == "Running" else {"waiting": {"reason": "ContainerCreating"}}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "uid": str(uuid.uuid4()),
                "labels": copy.deepcopy(template["metadata"]["labels"]),
                "creationTimestamp": _now(),
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                                     "uid": job["metadata"]["uid"], "controller": True}],
            },
            "spec": copy.deepcopy(template["spec"]),
            "status": {"phase": phase, "containerStatuses": [{"name": container, "ready": phase == "Running",
                                                               "restartCount": 0, "image": container,
                                                               "imageID": "", "state": state}]},
        }
        self.pods[name] = pod
        job["status"]["active"] = 1
        return pod

    def finish(self, job: dict, *, succeeded: bool, reason: str | None = None) -> None:
        for pod in self.pods_of(job):
            pod["status"]["phase"] = "Succeeded" if succeeded else "Failed"
            for status in pod["status"]["containerStatuses"]:
                status["ready"] = False
                status["state"] = {"terminated": {"exitCode": 0 if succeeded else 1, "reason": "Completed" if succeeded else "Error",
                                                  "startedAt": _now(), "finishedAt": _now()}}
        job["status"].pop("active", None)
        job["status"]["succeeded" if succeeded else "failed"] = 1
        condition = {"type": "Complete" if succeeded else "Failed", "status": "True", "lastTransitionTime": _now()}
        if not succeeded:
            condition["reason"] = reason or "BackoffLimitExceeded"
        job["status"]["conditions"] = [condition]
        job["status"]["completionTime" if succeeded else "startTime"] = _now()

    def pods_of(self, job: dict) -> list[dict]:
        uid = job["metadata"]["uid"]
        return [p for p in self.pods.values() if p["metadata"]["labels"].get(CONTROLLER_UID) == uid]

    def job_named(self, name: str) -> dict:
        return self.jobs[name]


class _Handler(BaseHTTPRequestHandler):
    cluster: FakeCluster
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep pytest's output clean
        pass

    # --- plumbing -------------------------------------------------------------------------------------

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                          "reason": reason, "code": code})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _route(self, method: str) -> None:
        cluster = self.cluster
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        status_holder: list[int] = []
        original_send_response = self.send_response

        def recording_send_response(code: int, message: str | None = None) -> None:
            status_holder.append(code)
            original_send_response(code, message)

        self.send_response = recording_send_response  # type: ignore[method-assign]
        with cluster.lock:
            active = cluster.active_job_names()
            try:
                self._dispatch(method, parts.path, query)
            finally:
                cluster.requests.append(Request(method, parts.path, query, status_holder[0] if status_holder else 0, active))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # --- RBAC -----------------------------------------------------------------------------------------

    def _allowed(self, group: str, resource: str, verb: str) -> bool:
        return any(
            group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
            for rule in self.cluster.rules
        )

    # --- the API --------------------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        cluster = self.cluster
        ns = cluster.namespace
        jobs = re.fullmatch(rf"/apis/batch/v1/namespaces/{ns}/jobs(?:/([^/]+)(/status)?)?", path)
        pods = re.fullmatch(rf"/api/v1/namespaces/{ns}/pods(?:/([^/]+)(/log|/status)?)?", path)
        events = re.fullmatch(rf"/api/v1/namespaces/{ns}/events", path)
        if jobs:
            name, sub = jobs.group(1), jobs.group(2)
            group, resource, store = "batch", "jobs" + (sub or ""), cluster.jobs
        elif pods:
            name, sub = pods.group(1), pods.group(2)
            group, resource, store = "", "pods" + (sub or ""), cluster.pods
        elif events:
            name, sub, group, resource, store = None, None, "", "events", {}
        else:
            return self._status(404, "NotFound", f"no route for {path}")
        watch = query.get("watch", ["false"])[0] == "true"
        verb = {"GET": "watch" if watch else ("get" if name else "list"), "POST": "create", "PATCH": "patch",
                "DELETE": "delete"}[method]
        if not self._allowed(group, resource, verb):
            return self._status(403, "Forbidden", f'{resource} is forbidden: cannot {verb} resource "{resource}" in API group "{group}"')
        selector = query.get("labelSelector", [""])[0]
        if method == "GET" and name is None:
            if resource == "pods":
                cluster._pod_lists += 1
                self._controller_tick()
            items = [
                {k: v for k, v in copy.deepcopy(o).items() if not k.startswith("_")}
                for o in store.values()
                if matches(selector, o["metadata"].get("labels") or {})
            ]
            kind = {"jobs": "JobList", "pods": "PodList", "events": "EventList"}[resource]
            return self._send(200, {"kind": kind, "apiVersion": "v1" if group == "" else "batch/v1",
                                    "metadata": {"resourceVersion": "1"}, "items": items})
        if method == "POST" and resource == "jobs":
            return self._create_job(self._body())
        if name not in store:
            return self._status(404, "NotFound", f'{resource.split("/")[0]} "{name}" not found')
        obj = store[name]
        if method == "GET" and resource == "pods" and obj["status"]["phase"] == "Pending":
            obj["_reads_until_running"] = obj.get("_reads_until_running", 0) - 1
            if obj["_reads_until_running"] <= 0:
                obj["status"]["phase"] = "Running"
                for status in obj["status"]["containerStatuses"]:
                    status.update(ready=True, state={"running": {"startedAt": _now()}})
        if method == "GET" and sub == "/log":
            if obj["status"]["phase"] == "Pending":
                container = obj["spec"]["containers"][0]["name"]
                return self._status(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
            return self._log(obj)
        if method == "GET" and resource == "jobs/status" and cluster.controller == "run" and cluster.finish_on_status_read:
            if cluster.pods_of(obj) and not obj["status"].get("conditions"):
                cluster.finish(obj, succeeded=cluster.succeed)
        if method == "GET":
            return self._send(200, {k: v for k, v in copy.deepcopy(obj).items() if not k.startswith("_")})
        if method == "PATCH":
            patch = self._body()
            obj["metadata"].setdefault("labels", {}).update((patch.get("metadata") or {}).get("labels") or {})
            return self._send(200, copy.deepcopy(obj))
        if method == "DELETE":
            del store[name]
            if resource == "jobs":
                for pod in cluster.pods_of(obj):
                    cluster.pods.pop(pod["metadata"]["name"], None)
            return self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
        return self._status(405, "MethodNotAllowed", method)

    def _create_job(self, job: dict) -> None:
        cluster = self.cluster
        name = job["metadata"]["name"]
        if name in cluster.jobs:
            return self._status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
        try:
            kubernetes_validate.validate(job, DEFAULT_KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            return self._status(422, "Invalid", f"Job.batch \"{name}\" is invalid: {error.message}")
        uid = str(uuid.uuid4())
        job["metadata"].update(uid=uid, creationTimestamp=_now(), namespace=cluster.namespace, resourceVersion="1")
        controller_labels = {CONTROLLER_UID: uid, "controller-uid": uid, "batch.kubernetes.io/job-name": name, "job-name": name}
        job["spec"]["selector"] = {"matchLabels": {CONTROLLER_UID: uid}}
        job["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(controller_labels)
        job["status"] = {"startTime": _now()}
        job["_lists_at_creation"] = cluster._pod_lists
        cluster.jobs[name] = job
        self._send(201, {k: v for k, v in copy.deepcopy(job).items() if not k.startswith("_")})

    def _controller_tick(self) -> None:
        cluster = self.cluster
        if cluster.controller != "run":
            return
        for job in cluster.jobs.values():
            if job["status"].get("conditions") or cluster.pods_of(job):
                continue
            if cluster._pod_lists - job["_lists_at_creation"] > cluster.pods_after_lists:
                pod = cluster.add_pod(job, phase="Pending" if cluster.pending_reads else "Running")
                pod["_reads_until_running"] = cluster.pending_reads

    def _log(self, pod: dict) -> None:
        cluster = self.cluster
        lines = "".join(f"{_now().replace('Z', '.000000000Z')} {line}\n" for line in cluster.log_lines)
        self._send(200, lines.encode("utf-8"), "text/plain")
        if cluster.controller == "run":
            owner = pod["metadata"]["ownerReferences"][0]["name"]
            job = cluster.jobs.get(owner)
            if job is not None and not job["status"].get("conditions"):
                cluster.finish(job, succeeded=cluster.succeed)


class FakeKubernetesApi:
    """The server, on an ephemeral port of 127.0.0.1; ``kubeconfig()`` points a client at it."""

    def __init__(self, cluster: FakeCluster) -> None:
        handler = type("Handler", (_Handler,), {"cluster": cluster})
        self.cluster = cluster
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self) -> str:
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- cluster: {{server: \"{self.url}\"}}\n  name: fake\n"
            "contexts:\n- context: {cluster: fake, user: fake, namespace: default}\n  name: fake\n"
            "current-context: fake\n"
            "users:\n- name: fake\n  user: {token: not-a-real-token}\n"
        )

    def __enter__(self) -> "FakeKubernetesApi":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

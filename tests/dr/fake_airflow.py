"""A local stand-in for the Airflow 3 REST API v2, on 127.0.0.1, for the DR tests.

It implements only the endpoints the rehearsal calls, with the response shapes of Airflow 3.2's
OpenAPI document, and keeps Variables fernet-encrypted with its current key exactly as Airflow
stores them: replacing the key (``lose_fernet_key``) makes the old Variables undecryptable, as a
recreated Airflow with a new fernet key would.

Task logs are answered by the installed Airflow's own ``FileTaskHandler`` (its source-details
header included) over a remote log store given as ``read_remote`` (the tests read the task-log
bucket in moto), serialized with the API's ``TaskInstancesLogResponse``.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.fernet import Fernet, InvalidToken

LOG_KEY_PREFIX = "airflow/task-logs/"


def log_key(dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """Where the fake's Airflow writes a task log in the bucket (Airflow's default filename template)."""
    return f"{LOG_KEY_PREFIX}dag_id={dag_id}/run_id={run_id}/task_id={task_id}/attempt={try_number}.log"


def _log_response(state: "AirflowState", dag_id: str, run_id: str, task_id: str, try_number: int) -> dict[str, Any]:
    """The log endpoint's answer, produced by Airflow's FileTaskHandler (remote logs from ``read_remote``)."""
    import tempfile
    from types import SimpleNamespace

    from airflow.api_fastapi.core_api.datamodels.log import TaskInstancesLogResponse
    from airflow.utils.log.file_task_handler import FileTaskHandler
    from airflow.utils.state import TaskInstanceState

    class RemoteHandler(FileTaskHandler):
        def _render_filename(self, ti, try_number, session=None):
            return log_key(ti.dag_id, ti.run_id, ti.task_id, try_number).removeprefix(LOG_KEY_PREFIX)

        def _read_remote_logs(self, ti, try_number, metadata=None):
            key = log_key(ti.dag_id, ti.run_id, ti.task_id, try_number)
            text = state.read_remote(key) if state.read_remote else None
            if text is None:  # what the S3 handler says when the object is not there
                return [f"No logs found on s3 for ti={ti}"], []
            return [f"s3://task-logs/{key}"], [text]

    ti = SimpleNamespace(
        dag_id=dag_id, run_id=run_id, task_id=task_id, try_number=try_number, map_index=-1,
        state=TaskInstanceState.SUCCESS, hostname="", task=None, triggerer_job=None,
    )
    with tempfile.TemporaryDirectory() as local:  # an api-server has no local copy of the logs
        stream, _ = RemoteHandler(local).read(ti, try_number)
        # the route answers with response_model_exclude_unset=True (routes/public/log.py)
        messages = [message.model_dump(exclude_unset=True) for message in stream]
        answer = TaskInstancesLogResponse.model_validate({"content": messages, "continuation_token": None})
        return answer.model_dump(mode="json", exclude_unset=True)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    body: Any


@dataclass
class AirflowState:
    username: str = "dr-operator"
    password: str = "correct horse battery staple"
    fernet_key: bytes = field(default_factory=Fernet.generate_key)
    variables: dict[str, bytes] = field(default_factory=dict)
    """key -> encrypted value (what the metadata database holds)."""
    dag_runs: int = 42
    task_instances: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"dag_id": "payroll_export", "dag_run_id": "scheduled__2025-01-01T00:00:00+00:00", "task_id": "run_job", "try_number": 1, "map_index": -1}
        ]
    )
    read_remote: Any = None
    """key -> the log object's text or None: the remote log store Airflow reads task logs from."""
    dags: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            dag_id: {"is_paused": paused, "last_parsed_time": "2025-03-01T08:59:00+00:00", "bundle_name": "dags-folder", "bundle_version": None}
            for dag_id, paused in (("payroll_export", False), ("invoices_daily", False), ("retired_job", True))
        }
    )
    running_polls: int = 0
    """The unfinished task instances answer one running task this many times, then none."""
    git_sync_works: bool = True
    """False: the recreated Airflow cannot fetch the DAG repository, its DAG processor parses nothing."""
    up: bool = True
    """False: the API answers 503 (the stack is being destroyed or recreated)."""
    unhealthy_polls: int = 0
    """Health answers 'unhealthy' for the scheduler this many times before turning healthy."""
    fail_next: dict[str, int] = field(default_factory=dict)
    """(METHOD path-prefix) -> HTTP status to answer once, for failure injection."""
    tokens: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)

    def lose_fernet_key(self) -> None:
        self.fernet_key = Fernet.generate_key()

    def parsed(self, at: str) -> None:
        """A (recreated) DAG processor parsed every DAG of the checkout at ``at``."""
        if self.git_sync_works:
            for dag in self.dags.values():
                dag["last_parsed_time"] = at


class FakeAirflow:
    def __init__(self, state: AirflowState | None = None):
        self.state = state or AirflowState()
        self._lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeAirflow":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with fake._lock:
                    state = fake.state
                    state.requests.append(Recorded(method, parts.path, parse_qs(parts.query), self.headers.get("Authorization"), body))
                    status, answer = fake._answer(method, parts.path, parse_qs(parts.query), self.headers.get("Authorization"), body)
                self._send(status, answer)

            def do_GET(self):
                self._dispatch("GET")

            def do_POST(self):
                self._dispatch("POST")

            def do_PATCH(self):
                self._dispatch("PATCH")

        return Handler

    def _answer(self, method: str, path: str, query: dict[str, list[str]], authorization: str | None, body: Any):
        state = self.state
        for prefix, status in list(state.fail_next.items()):
            if f"{method} {path}".startswith(prefix):
                del state.fail_next[prefix]
                return status, {"detail": "injected failure"}
        if not state.up:
            return 503, {"detail": "Service Unavailable"}
        if method == "POST" and path == "/auth/token":
            if not body or body.get("username") != state.username or body.get("password") != state.password:
                return 401, {"detail": "Invalid credentials"}
            token = secrets.token_hex(8)
            state.tokens.add(token)
            return 201, {"access_token": token}
        if method == "GET" and path == "/api/v2/monitor/health":
            scheduler = "healthy"
            if state.unhealthy_polls > 0:
                state.unhealthy_polls -= 1
                scheduler = "unhealthy"
            return 200, {
                "metadatabase": {"status": "healthy"},
                "scheduler": {"status": scheduler, "latest_scheduler_heartbeat": "2025-01-01T00:00:00+00:00"},
                "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
                "dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": "2025-01-01T00:00:00+00:00"},
            }
        if not authorization or authorization.removeprefix("Bearer ") not in state.tokens:
            return 401, {"detail": "Not authenticated"}
        if method == "GET" and path == "/api/v2/dags/~/dagRuns":
            return 200, {"dag_runs": [], "total_entries": state.dag_runs, "next_cursor": None, "previous_cursor": None}
        if method == "POST" and path == "/api/v2/variables":
            if body["key"] in state.variables:
                return 409, {"detail": f"The Variable with key: `{body['key']}` already exists"}
            return 201, self._store_variable(body)
        if path.startswith("/api/v2/variables/"):
            key = unquote(path.removeprefix("/api/v2/variables/"))
            if method == "PATCH":
                if key not in state.variables:
                    return 404, {"detail": "not found"}
                return 200, self._store_variable(body)
            if method == "GET":
                if key not in state.variables:
                    return 404, {"detail": f"The Variable with key: `{key}` was not found"}
                try:
                    value = Fernet(state.fernet_key).decrypt(state.variables[key]).decode()
                except InvalidToken:
                    return 500, {"detail": "Internal Server Error"}
                return 200, {"key": key, "value": value, "description": None, "is_encrypted": True, "team_name": None}
        if method == "GET" and path == "/api/v2/dags/~/dagRuns/~/taskInstances":
            if "state" in query and query["state"] != ["success"]:
                running = []
                if state.running_polls > 0:
                    state.running_polls -= 1
                    running = [{**state.task_instances[0], "state": "running"}]
                return 200, {"task_instances": running, "total_entries": len(running), "next_cursor": None, "previous_cursor": None}
            items = state.task_instances[:1]
            return 200, {"task_instances": items, "total_entries": len(state.task_instances), "next_cursor": None, "previous_cursor": None}
        if method == "GET" and "/logs/" in path:
            parts = [unquote(p) for p in path.split("/")]
            dag_id, run_id, task_id, try_number = parts[4], parts[6], parts[8], int(parts[10])
            return 200, _log_response(state, dag_id, run_id, task_id, try_number)
        if method == "GET" and path == "/api/v2/dags":
            offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["100"])[0])
            items = [self._dag(dag_id) for dag_id in sorted(state.dags)]
            return 200, {"dags": items[offset : offset + limit], "total_entries": len(items)}
        if method == "PATCH" and path.startswith("/api/v2/dags/"):
            dag_id = unquote(path.removeprefix("/api/v2/dags/"))
            if dag_id not in state.dags:
                return 404, {"detail": f"Dag with id {dag_id} was not found"}
            if query.get("update_mask") != ["is_paused"] or set(body or {}) != {"is_paused"}:
                return 400, {"detail": "Only `is_paused` field can be updated through the REST API"}
            state.dags[dag_id]["is_paused"] = bool(body["is_paused"])
            return 200, self._dag(dag_id)
        return 404, {"detail": "Not Found"}

    def _dag(self, dag_id: str) -> dict[str, Any]:
        """A DAGResponse: the fields the rehearsal reads from the state, the required rest fixed."""
        info = self.state.dags[dag_id]
        return {
            "dag_id": dag_id, "dag_display_name": dag_id, "is_stale": False, "last_parse_duration": 0.4,
            "last_expired": None, "relative_fileloc": f"{dag_id}.py", "fileloc": f"/opt/airflow/dags/repo/dags/{dag_id}.py",
            "description": None, "timetable_summary": "0 2 * * *", "timetable_description": "At 02:00", "tags": [],
            "max_active_tasks": 16, "max_active_runs": 1, "max_consecutive_failed_dag_runs": 0,
            "has_task_concurrency_limits": False, "has_import_errors": False, "next_dagrun_logical_date": None,
            "next_dagrun_data_interval_start": None, "next_dagrun_data_interval_end": None, "next_dagrun_run_after": None,
            "owners": ["batch-platform"], "file_token": "token", "timetable_partitioned": False,
            "allowed_run_types": None, **info,
        }

    def _store_variable(self, body: dict[str, Any]) -> dict[str, Any]:
        self.state.variables[body["key"]] = Fernet(self.state.fernet_key).encrypt(str(body["value"]).encode())
        return {"key": body["key"], "value": body["value"], "description": body.get("description"), "is_encrypted": True, "team_name": None}

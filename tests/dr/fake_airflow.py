"""A local stand-in for the Airflow 3 REST API v2, on 127.0.0.1, for the DR tests.

It implements only the endpoints the rehearsal calls, with the response shapes of Airflow 3.2's
OpenAPI document, and keeps Variables fernet-encrypted with its current key exactly as Airflow
stores them: replacing the key (``lose_fernet_key``) makes the old Variables undecryptable, as a
recreated Airflow with a new fernet key would.
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
    log_lines: int = 12
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
            items = state.task_instances[:1]
            return 200, {"task_instances": items, "total_entries": len(state.task_instances), "next_cursor": None, "previous_cursor": None}
        if method == "GET" and "/logs/" in path:
            return 200, {"content": [{"event": f"line {i}"} for i in range(state.log_lines)], "continuation_token": None}
        return 404, {"detail": "Not Found"}

    def _store_variable(self, body: dict[str, Any]) -> dict[str, Any]:
        self.state.variables[body["key"]] = Fernet(self.state.fernet_key).encrypt(str(body["value"]).encode())
        return {"key": body["key"], "value": body["value"], "description": body.get("description"), "is_encrypted": True, "team_name": None}

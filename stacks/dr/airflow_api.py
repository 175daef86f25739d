"""The Airflow 3 REST API (v2) calls of the DR rehearsal: health, DAG run count, canary Variable, task logs.

Authentication: Airflow 3 issues a JWT from ``POST /auth/token`` (username and password, with the
simple and the FAB auth managers alike); every API call then sends ``Authorization: Bearer``. The
credentials come from the environment (``AIRFLOW_API_TOKEN``, or ``AIRFLOW_API_USERNAME`` +
``AIRFLOW_API_PASSWORD``), from a Secrets Manager secret, or by default from the stack's admin user
and its durable password secret (see ``stacks.cli``), never from the command line; they and the
canary's value never appear in a message or a log line.

Response shapes follow the OpenAPI document shipped with Airflow 3.2
(``airflow/api_fastapi/core_api/openapi/v2-rest-api-generated.yaml``); a test checks that every
path and query parameter used here exists in it.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Mapping

USERNAME_ENV = "AIRFLOW_API_USERNAME"
PASSWORD_ENV = "AIRFLOW_API_PASSWORD"
TOKEN_ENV = "AIRFLOW_API_TOKEN"

# Components the platform cannot run without; the triggerer and the DAG processor report a null
# status when not deployed, which is not a failure.
REQUIRED_HEALTHY = ("metadatabase", "scheduler")
OPTIONAL_COMPONENTS = ("triggerer", "dag_processor")


class AirflowApiError(Exception):
    """A call failed: the message names the call and the HTTP status, never a credential."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """Either a ready token, or a username and password exchanged for one."""

    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        return f"Credentials(username={self.username!r}, password={'***' if self.password else None}, token={'***' if self.token else None})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Credentials | None":
        env = os.environ if env is None else env
        if env.get(TOKEN_ENV):
            return cls(token=env[TOKEN_ENV])
        if env.get(USERNAME_ENV) and env.get(PASSWORD_ENV):
            return cls(username=env[USERNAME_ENV], password=env[PASSWORD_ENV])
        return None

    @classmethod
    def from_secret(cls, text: str) -> "Credentials":
        """A Secrets Manager secret holding ``{"username": ..., "password": ...}``."""
        try:
            document = json.loads(text)
            return cls(username=str(document["username"]), password=str(document["password"]))
        except (ValueError, KeyError, TypeError):
            raise AirflowApiError('the Airflow credentials secret must be JSON {"username": ..., "password": ...}') from None


@dataclass(frozen=True)
class Health:
    healthy: bool
    summary: str
    """e.g. ``metadatabase=healthy scheduler=unhealthy triggerer=healthy``."""


@dataclass(frozen=True)
class TaskLogRef:
    """A finished task instance whose log Airflow serves (from the log bucket when logging remotely)."""

    dag_id: str
    dag_run_id: str
    task_id: str
    try_number: int
    map_index: int = -1

    def as_dict(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "dag_run_id": self.dag_run_id,
            "task_id": self.task_id,
            "try_number": self.try_number,
            "map_index": self.map_index,
        }


@dataclass(frozen=True)
class TaskLog:
    """A task log as the API serves it: Airflow 3.2 puts a "Log message source details" group first
    (where it looked: ``s3://...``, "No logs found on s3...", "Could not read served logs..."), then
    the log's own lines. ``lines`` counts only the latter: a log whose object is gone still has a header."""

    lines: int
    sources: tuple[str, ...]


SOURCE_GROUP = "::group::Log message source details"
END_GROUP = "::endgroup::"


def parse_task_log(content: list[Any]) -> TaskLog:
    """Split the ``content`` of a log response into its source-details group and its content lines."""
    events = [str(item.get("event", "")) if isinstance(item, dict) else str(item) for item in content]
    sources: list[str] = []
    if events and events[0] == SOURCE_GROUP:
        end = events.index(END_GROUP) if END_GROUP in events else len(events)
        sources, events = events[1:end], events[end + 1 :]
    return TaskLog(lines=sum(1 for event in events if event.strip()), sources=tuple(sources))


@dataclass(frozen=True)
class DagInfo:
    """One DAG as the API lists it: whether it is paused, and when the DAG processor last parsed it
    (a parse after the recreate means the recreated Airflow reads the DAG checkout)."""

    dag_id: str
    is_paused: bool
    is_stale: bool
    last_parsed_time: str | None
    bundle_name: str | None = None
    bundle_version: str | None = None


UNFINISHED_TASK_STATES = ("running", "queued", "scheduled", "up_for_retry", "up_for_reschedule", "deferred", "restarting")
"""Task instance states in which a task may still write to the database (or will be picked up again)."""


class AirflowApi:
    """A small client of the Airflow 3 REST API v2 at ``base_url`` (with any path prefix it is served under)."""

    def __init__(
        self, base_url: str, credentials: Credentials | None, timeout: float = 30.0, *, connect_host: str | None = None
    ):
        """``connect_host``: connect to this host (a new load balancer's DNS name) instead of the URL's,
        while still sending the URL's host name (Host header, TLS server name and certificate check):
        reaches a recreated stack before its DNS record is changed."""
        if not base_url.startswith(("http://", "https://")):
            raise AirflowApiError(f"the Airflow URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.connect_host = connect_host
        self._credentials = credentials
        self._timeout = timeout
        self._token = credentials.token if credentials else None
        handlers = [_PinnedHTTPHandler(connect_host), _PinnedHTTPSHandler(connect_host)] if connect_host else []
        self._opener = urllib.request.build_opener(*handlers)

    # -- the calls the rehearsal makes -------------------------------------------------------

    def health(self) -> Health:
        body = self._request("GET", "/api/v2/monitor/health", auth=False)
        statuses = {name: (body.get(name) or {}).get("status") for name in REQUIRED_HEALTHY + OPTIONAL_COMPONENTS}
        healthy = all(statuses[name] == "healthy" for name in REQUIRED_HEALTHY) and all(
            statuses[name] in (None, "healthy") for name in OPTIONAL_COMPONENTS
        )
        summary = " ".join(f"{name}={statuses[name] or 'n/a'}" for name in statuses)
        return Health(healthy, summary)

    def dag_run_count(self) -> int:
        """Number of DAG runs of every DAG (``~``), from the offset-paginated ``total_entries``."""
        body = self._request("GET", "/api/v2/dags/~/dagRuns", query={"limit": 1})
        total = body.get("total_entries")
        if not isinstance(total, int):
            raise AirflowApiError("GET /api/v2/dags/~/dagRuns: no total_entries in the response")
        return total

    def put_variable(self, key: str, value: str, description: str) -> bool:
        """Create or overwrite a Variable; returns whether Airflow stored it encrypted (fernet)."""
        body = {"key": key, "value": value, "description": description}
        try:
            response = self._request("POST", "/api/v2/variables", body=body)
        except AirflowApiError as exc:
            if exc.status != 409:
                raise
            response = self._request("PATCH", f"/api/v2/variables/{_quote(key)}", body=body)
        return bool(response.get("is_encrypted"))

    def get_variable(self, key: str) -> str | None:
        """The Variable's decrypted value, or None when it does not exist."""
        try:
            response = self._request("GET", f"/api/v2/variables/{_quote(key)}")
        except AirflowApiError as exc:
            if exc.status == 404:
                return None
            raise
        return response.get("value")

    def latest_finished_task(self) -> TaskLogRef | None:
        """The most recently finished successful task instance of any DAG, or None on a fresh stack."""
        body = self._request(
            "GET",
            "/api/v2/dags/~/dagRuns/~/taskInstances",
            query={"state": "success", "order_by": "-end_date", "limit": 1},
        )
        items = body.get("task_instances") or []
        if not items:
            return None
        item = items[0]
        return TaskLogRef(
            dag_id=item["dag_id"],
            dag_run_id=item["dag_run_id"],
            task_id=item["task_id"],
            try_number=int(item["try_number"]),
            map_index=int(item.get("map_index", -1)),
        )

    def task_log(self, ref: TaskLogRef) -> TaskLog:
        """The task instance's log as Airflow reads it from the log store (see ``TaskLog``)."""
        path = (
            f"/api/v2/dags/{_quote(ref.dag_id)}/dagRuns/{_quote(ref.dag_run_id)}"
            f"/taskInstances/{_quote(ref.task_id)}/logs/{ref.try_number}"
        )
        body = self._request("GET", path, query={"full_content": "true", "map_index": ref.map_index})
        content = body.get("content")
        if not isinstance(content, list):
            raise AirflowApiError(f"GET {path}: no content list in the response")
        return parse_task_log(content)

    def task_log_lines(self, ref: TaskLogRef) -> int:
        """How many lines of the log's own content Airflow returns (the source-details header left out)."""
        return self.task_log(ref).lines

    def dags(self) -> list[DagInfo]:
        """Every DAG that is not stale, page by page."""
        found: list[DagInfo] = []
        while True:
            body = self._request("GET", "/api/v2/dags", query={"limit": 100, "offset": len(found), "order_by": "dag_id"})
            items = body.get("dags") or []
            found += [
                DagInfo(
                    dag_id=item["dag_id"],
                    is_paused=bool(item.get("is_paused")),
                    is_stale=bool(item.get("is_stale")),
                    last_parsed_time=item.get("last_parsed_time"),
                    bundle_name=item.get("bundle_name"),
                    bundle_version=item.get("bundle_version"),
                )
                for item in items
            ]
            if not items or len(found) >= int(body.get("total_entries") or 0):
                return found

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or un-pause one DAG (``PATCH /api/v2/dags/{dag_id}?update_mask=is_paused``)."""
        self._request("PATCH", f"/api/v2/dags/{_quote(dag_id)}", query={"update_mask": "is_paused"}, body={"is_paused": paused})

    def unfinished_task_instances(self, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
        """(how many, up to ``limit`` of them) task instances in a state that may still write
        (``UNFINISHED_TASK_STATES``), across every DAG and run."""
        body = self._request(
            "GET",
            "/api/v2/dags/~/dagRuns/~/taskInstances",
            query={"state": list(UNFINISHED_TASK_STATES), "limit": limit},
        )
        items = [
            {k: item.get(k) for k in ("dag_id", "dag_run_id", "task_id", "try_number", "map_index", "state")}
            for item in body.get("task_instances") or []
        ]
        return int(body.get("total_entries") or len(items)), items

    # -- transport ---------------------------------------------------------------------------

    def _authenticate(self) -> str:
        creds = self._credentials
        if creds is None or not (creds.username and creds.password):
            raise AirflowApiError(
                f"no Airflow API credentials: set {TOKEN_ENV}, or {USERNAME_ENV} and {PASSWORD_ENV}, "
                "or pass --airflow-credentials-secret"
            )
        body = self._request(
            "POST", "/auth/token", body={"username": creds.username, "password": creds.password}, auth=False
        )
        token = body.get("access_token")
        if not token:
            raise AirflowApiError("POST /auth/token: no access_token in the response")
        self._token = token
        return token

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        auth: bool = True,
        retried: bool = False,
    ) -> dict[str, Any]:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self._token or self._authenticate()}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and auth and not retried and self._credentials and self._credentials.password:
                self._token = None  # expired token: get a new one once
                return self._request(method, path, query=query, body=body, auth=auth, retried=True)
            raise AirflowApiError(f"{method} {path}: HTTP {exc.code} {_detail(exc)}", status=exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AirflowApiError(f"{method} {path}: cannot reach {self.base_url}: {reason}") from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise AirflowApiError(f"{method} {path}: the response is not JSON") from None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, connect_host: str, **kwargs: Any):
        super().__init__(host, **kwargs)
        self._connect_host = connect_host

    def connect(self) -> None:
        self.sock = socket.create_connection((self._connect_host, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, connect_host: str, **kwargs: Any):
        super().__init__(host, **kwargs)
        self._connect_host = connect_host

    def connect(self) -> None:
        sock = socket.create_connection((self._connect_host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # the URL's name, checked


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, connect_host: str):
        super().__init__()
        self._connect_host = connect_host

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(_PinnedHTTPConnection, connect_host=self._connect_host), req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, connect_host: str):
        super().__init__()
        self._connect_host = connect_host

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(_PinnedHTTPSConnection, connect_host=self._connect_host), req)


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="~")


def _detail(exc: urllib.error.HTTPError) -> str:
    """The ``detail`` of an HTTPExceptionResponse, cut short.

    Only a text detail is shown: a validation error (422) lists the offending input, which could be
    a password or the canary's value.
    """
    try:
        detail = json.loads(exc.read() or b"{}").get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) else exc.reason
    return str(text)[:200]

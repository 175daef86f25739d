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

import json
import os
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


class AirflowApi:
    """A small client of the Airflow 3 REST API v2 at ``base_url`` (with any path prefix it is served under)."""

    def __init__(self, base_url: str, credentials: Credentials | None, timeout: float = 30.0):
        if not base_url.startswith(("http://", "https://")):
            raise AirflowApiError(f"the Airflow URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._timeout = timeout
        self._token = credentials.token if credentials else None

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

    def task_log_lines(self, ref: TaskLogRef) -> int:
        """How many log lines Airflow returns for the task instance (read from the log store)."""
        path = (
            f"/api/v2/dags/{_quote(ref.dag_id)}/dagRuns/{_quote(ref.dag_run_id)}"
            f"/taskInstances/{_quote(ref.task_id)}/logs/{ref.try_number}"
        )
        body = self._request("GET", path, query={"full_content": "true", "map_index": ref.map_index})
        content = body.get("content")
        if not isinstance(content, list):
            raise AirflowApiError(f"GET {path}: no content list in the response")
        return len(content)

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
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self._token or self._authenticate()}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
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

"""A real Airflow of the deployed configuration, as processes on this machine.

The configuration is the chart's: ``deployed_values`` calls the same ``airflow_values`` the Airflow
component hands to the Helm chart, for the dev stack file, and ``component_environment`` turns its
``config`` sections and ``env`` list into the ``AIRFLOW__SECTION__KEY`` variables the chart's pods
get. What differs here, and only that (``LOCAL_DIFFERENCES`` lists it, docs/testing.md explains it):

- the executor: LocalExecutor instead of KubernetesExecutor (no cluster here), so tasks run as
  processes of the scheduler instead of pods;
- where things are: the image's ``/opt/airflow`` (its plugins) and the DAG library it installs are
  laid out from the Dockerfile in a temporary directory, the DAG checkout is a temporary copy of
  this repository's ``dags/`` with git-sync's layout, the metadata database a local PostgreSQL 17, the API server
  listens on 127.0.0.1, and AWS is moto on loopback: ``AWS_ENDPOINT_URL`` and static test credentials
  instead of IRSA, every AWS setting (backend, prefixes, region, bucket, connection) unchanged;
- the secrets the chart reads from Kubernetes Secrets (fernet key, API and JWT secrets, metadata URL)
  come from the environment, as the chart passes them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from infra.airflow_values import (
    GIT_SYNC_CHECKOUT,
    IRSA_COMPONENTS,
    GitSyncDags,
    ImageRef,
    airflow_values,
    pool_plan,
)
from stacks.airflow_wiring import airflow_settings
from stacks.config.loader import load_stack_file, stack_file
from tests.e2e.servers import free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK = "dev"
TASK_LOG_BUCKET = "batch-platform-dev-task-logs-e2e"
AWS_TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# The components the chart runs, as the chart starts them (the API server's port is added).
COMPONENTS = {
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
    "api-server": ["api-server"],
}

LOCAL_DIFFERENCES = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor: no cluster to launch task pods on",
    "AIRFLOW__CORE__DAGS_FOLDER": "the checkout's dags/ in a temporary directory",
    "AIRFLOW_HOME": "the image's /opt/airflow laid out in a temporary directory",
    "PYTHONPATH": "the site directory the DAG library is installed into, as in the image",
    "AIRFLOW__API__BASE_URL": "the API server on 127.0.0.1",
    "AWS_ENDPOINT_URL": "moto on 127.0.0.1 instead of AWS",
}


@dataclass(frozen=True)
class Deployed:
    """What the chart would get for the stack: the ``config`` sections, the ``env`` list, the settings."""

    config: Mapping[str, Mapping[str, Any]]
    env: list[Mapping[str, Any]]
    create_user_args: list[str]
    create_user_env: list[Mapping[str, Any]]
    settings: Any


def deployed_values(stack: str = STACK) -> Deployed:
    """The chart values of ``stack`` from the project's own function; the deploy-time inputs (bucket
    name, role ARNs, image) are placeholders of the right shape.

    No task-log group is passed: the values are those of ``task_logs.destination: s3`` (task logs
    uploaded to the bucket when a task ends). The default destination, CloudWatch Logs, is not
    walked here (tests/infra/test_task_log_group.py covers its handler against moto)."""
    config = load_stack_file(stack_file(stack))
    settings = airflow_settings(config)
    values = airflow_values(
        settings,
        pool_plan(settings, config.database.instance_class),
        task_log_bucket=TASK_LOG_BUCKET,
        role_arns={c: f"arn:aws:iam::123456789012:role/e2e-{c}" for c in IRSA_COMPONENTS},
        image=ImageRef("123456789012.dkr.ecr.eu-west-1.amazonaws.com/batch-platform-airflow", "e2e"),
    )
    return Deployed(
        config=values["config"],
        env=values["env"],
        create_user_args=values["createUserJob"]["args"],
        create_user_env=values["createUserJob"]["env"],
        settings=settings,
    )


def _cfg_value(value: Any) -> str:
    return str(value)  # the chart writes airflow.cfg the same way: True -> "True"


def lay_out_checkout(parent: Path) -> Path:
    """A DAG checkout with git-sync's layout: this repository's ``dags/`` and ``plugins/``."""
    checkout = parent / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "dags", checkout / "dags", ignore=ignore)
    shutil.copytree(REPO_ROOT / "plugins", checkout / "plugins", ignore=ignore)
    return checkout


@dataclass
class Secrets:
    """What the chart reads from Kubernetes Secrets (created by the Pulumi program in a deployment)."""

    fernet_key: str
    api_secret_key: str = "e2e-api-secret-key-not-a-secret"
    jwt_secret: str = "e2e-jwt-secret-not-a-secret-0123456789"
    admin_password: str = "e2e-admin-password"


def component_environment(
    deployed: Deployed,
    *,
    home: Path,
    checkout: Path,
    database_url: str,
    api_port: int,
    aws_endpoint: str,
    secrets: Secrets,
    image_site: Path | None = None,
    extra: Mapping[str, str] = {},
) -> dict[str, str]:
    """The environment of every Airflow process: the chart's config and env, then the local differences."""
    env: dict[str, str] = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    for section, options in deployed.config.items():
        for key, value in options.items():
            text = _cfg_value(value)
            if text.startswith(GIT_SYNC_CHECKOUT):
                text = str(checkout) + text[len(GIT_SYNC_CHECKOUT) :]
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = text
    for item in deployed.env:
        assert "value" in item and item["value"] is not None, f"env {item['name']} is not a plain value"
        env[item["name"]] = item["value"]
    dags = deployed.settings.dags
    sub_path = dags.sub_path if isinstance(dags, GitSyncDags) else "dags"
    env.update(
        {
            # What the chart sets from its own templates and our Kubernetes Secrets.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__CORE__FERNET_KEY": secrets.fernet_key,
            "AIRFLOW__API__SECRET_KEY": secrets.api_secret_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.jwt_secret,
            # The local differences (LOCAL_DIFFERENCES).
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(checkout / sub_path),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AWS_ENDPOINT_URL": aws_endpoint,
            **AWS_TEST_CREDENTIALS,
        }
    )
    if image_site is not None:
        # The DAG library as the image installs it (a package on sys.path, not the DAG folder).
        env.update({"PYTHONPATH": str(image_site), "PYTHONNOUSERSITE": "1"})
    env.update(extra)
    return env


def write_airflow_cfg(home: Path, deployed: Deployed) -> Path:
    """``airflow.cfg`` in ``home`` from the chart's ``config`` sections, as the chart mounts it (read-only)
    at ``/opt/airflow/airflow.cfg``; the environment still sets the same options and the local differences."""
    from configparser import ConfigParser

    config = ConfigParser(interpolation=None)
    for section, options in deployed.config.items():
        config[section] = {key: _cfg_value(value) for key, value in options.items()}
    path = home / "airflow.cfg"
    with path.open("w") as handle:
        config.write(handle)
    return path


def image_layout(parent: Path) -> tuple[Path, Path]:
    """What the platform image holds, laid out here: its Airflow home (``/opt/airflow`` with the
    plugins the Dockerfile copies there) and a site directory with the DAG library pip-installed as
    the Dockerfile installs it. The same reading of the Dockerfile as the components test's."""
    from tests.dags.test_components_without_dag_folder import _image_python_path

    parent.mkdir(parents=True, exist_ok=True)
    return _image_python_path(parent)


def airflow_home_like(home: Path, template: Path) -> Path:
    """Another Airflow home with the image's files (``template``'s plugins), for another component."""
    shutil.copytree(template / "plugins", home / "plugins")
    return home


@dataclass
class AirflowProcesses:
    """The Airflow components of one environment, as child processes with their logs in ``home``."""

    env: dict[str, str]
    home: Path
    api_port: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def run(self, *argv: str, env: Mapping[str, str] = {}, timeout: float = 300) -> str:
        """One ``airflow`` command, e.g. ``db migrate``; raises with its output when it fails."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *argv], env={**self.env, **env}, cwd=self.home,
            capture_output=True, text=True, timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(argv)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self, *names: str) -> None:
        for name in names:
            log = open(self.home / f"{name}.log", "ab")
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *COMPONENTS[name]], env=self.env, cwd=self.home,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            log.close()

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"airflow {name} exited with {process.returncode}:\n{self.log(name)}")

    def wait_api(self, timeout: float = 180) -> None:
        def up():
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):
                return False

        wait_for("the API server", up, timeout, describe=lambda: self.log("api-server"))

    def stop(self) -> None:
        # Each component leads its own process group (its workers, task runners, gunicorn/uvicorn
        # children): end the group, gently first.
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5  # nothing of theirs is kept: no need to wait long
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group, if any
            except ProcessLookupError:
                pass
        self.processes.clear()


def create_admin(airflow: AirflowProcesses, deployed: Deployed, secrets: Secrets) -> str:
    """Create the admin user with the chart's create-user job command and environment; returns the name."""
    env = {}
    for item in deployed.create_user_env:
        if item.get("value") is not None:
            env[item["name"]] = item["value"]
        else:  # the password comes from a Kubernetes Secret in a deployment
            env[item["name"]] = secrets.admin_password
    args = list(deployed.create_user_args)
    assert args[:2] == ["bash", "-c"], args
    command = args[2].replace("exec airflow", f"exec {sys.executable} -m airflow", 1)
    result = subprocess.run(
        ["bash", "-c", command], env={**airflow.env, **env}, cwd=airflow.home,
        capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"create-user job failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return env["AIRFLOW_ADMIN_USERNAME"]


def json_request(method: str, url: str, token: str | None = None, body: Any = None) -> Any:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {url}: HTTP {exc.code} {exc.read()[:500]!r}") from None
    return json.loads(raw) if raw else None


def new_api_port() -> int:
    return free_port()

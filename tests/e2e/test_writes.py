"""Read-only root file systems: every file the real Airflow components wrote during the e2e journeys
lands in a volume their container mounts writable (infra.airflow_security.WRITABLE_PATHS).

This module runs after test_journeys.py (same session): the records cover the migration and
create-user jobs, the four components starting, parsing the DAGs, scheduling and running tasks
(LocalExecutor: the task processes are the scheduler's children, the task pods' writable paths
are the scheduler's), failure mails and Slack messages, task logs uploaded and read back through the
API, and the DR restore's components.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import CANARY_DAG
from tests.e2e.test_journeys import _run_path, _trigger, _wait_run
from tests.e2e.writes import (
    AUDIT_VARIABLE,
    Write,
    component_of,
    image_directories,
    in_container,
    read_writes,
    violations,
)


@pytest.fixture(scope="module")
def exercised(e2e):
    """What this module needs recorded even when it runs alone: a task run, its log read back through
    the API, and the wait-for-migrations command (the init container of the components)."""
    run_id = _trigger(e2e, CANARY_DAG)
    assert _wait_run(e2e, CANARY_DAG, run_id)["state"] == "success"
    tasks = e2e.api("GET", f"{_run_path(CANARY_DAG, run_id)}/taskInstances")["task_instances"]
    for task in tasks:
        e2e.api("GET", f"{_run_path(CANARY_DAG, run_id)}/taskInstances/{task['task_id']}/logs/1?full_content=true")
    e2e.airflow.run("db", "check-migrations", "--migration-wait-timeout", "60")
    return run_id


def test_every_component_writes_only_to_its_writable_volumes(e2e, exercised):
    directory = Path(e2e.airflow.env[AUDIT_VARIABLE])
    writes = read_writes(directory, home=e2e.airflow.home, tmp=Path(e2e.airflow.env["TMPDIR"]))
    components = {w.component for w in writes}
    # The recorder saw every component the chart runs with the Airflow image (else this proves nothing).
    assert {"scheduler", "dagProcessor", "triggerer", "apiServer", "migrateDatabaseJob", "createUserJob",
            "waitForMigrations"} <= components, components
    assert not [c for c in components if c.startswith("unknown")], components
    # Task logs are written where the chart mounts its logs volume, then uploaded.
    assert any(w.component == "scheduler" and w.path.startswith("/opt/airflow/logs/") for w in writes)
    found = violations(writes, image_directories=image_directories(e2e.work))
    assert not found, "writes outside the writable volumes:\n" + "\n".join(
        f"  {w.component}: {w.event} {w.path}" for w in found[:50]
    )


def test_a_write_outside_the_volumes_is_reported():
    home, tmp = Path("/work/e2e/opt-airflow"), Path("/work/e2e/tmp")
    writes = [
        Write("apiServer", "open", in_container("/work/e2e/opt-airflow/webserver_config.py", home=home, tmp=tmp)),
        Write("apiServer", "open", in_container("/work/e2e/tmp/uvicorn.sock", home=home, tmp=tmp)),
        Write("scheduler", "open", in_container("/work/e2e/opt-airflow/logs/dag_id=x/1.log", home=home, tmp=tmp)),
        Write("createUserJob", "open", in_container("/work/e2e/opt-airflow/logs/x.log", home=home, tmp=tmp)),
        Write("triggerer", "os.mkdir", "/var/lib/somewhere"),
        Write("dagProcessor", "open", "/dev/null"),
        Write("apiServer", "os.mkdir", "/opt/airflow/logs", existed=True),
        Write("migrateDatabaseJob", "os.mkdir", "/opt/airflow/cache", existed=False),
        # made by another component (another container) before: not in the image, so a real write
        Write("apiServer", "os.mkdir", "/opt/airflow/cache", existed=True),
        Write("apiServer", "os.mkdir", "/usr/lib/python3/site-packages/airflow/ui/dist", existed=True),
        Write("createUserJob", "open", "/opt/airflow/plugins/__pycache__/p.cpython-311.pyc"),
    ]
    assert [(w.component, w.path) for w in violations(writes, image_directories=frozenset({"/opt/airflow/logs"}))] == [
        ("apiServer", "/opt/airflow/cache"),
        ("apiServer", "/opt/airflow/webserver_config.py"),
        ("createUserJob", "/opt/airflow/logs/x.log"),
        ("migrateDatabaseJob", "/opt/airflow/cache"),
        ("triggerer", "/var/lib/somewhere"),
    ]


def test_commands_are_attributed_to_the_chart_component_running_them():
    assert component_of(["scheduler"]) == "scheduler"
    assert component_of(["api-server", "--port", "8080"]) == "apiServer"
    assert component_of(["db", "migrate"]) == "migrateDatabaseJob"
    assert component_of(["users", "create", "-r"]) == "createUserJob"
    assert component_of(["dags", "list"]).startswith("unknown")

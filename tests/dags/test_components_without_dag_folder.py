"""The Jenkins timetable deserializes where no DAG file is ever parsed: the scheduler and the API server.

On a cluster the chart mounts no DAG folder into the scheduler (a DAG processor runs) nor into the API
server, yet both deserialize every DAG; a DAG with the Jenkins timetable needs the platform's plugin
and the class it registers. This rebuilds what those pods have, with the installed Airflow 3.2.2, in
a fresh interpreter:

* ``$AIRFLOW_HOME`` is the image's ``/opt/airflow``: the files the Dockerfile copies there
  (``plugins/``), and an ``airflow.cfg`` holding the ``config`` sections of the chart values the
  stack deploys (the chart renders one ``airflow.cfg`` for every component) plus the chart's own
  ``[core] dags_folder`` of git-sync, which does not exist in these pods;
* the DAG library installed by pip from what the Dockerfile copies into its library project (its
  ``COPY`` lines are read, not repeated here) into a site directory of its own;
* nothing of this checkout on ``sys.path``.

The DAG is built and serialized here, as the DAG processor does, and deserialized there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from configparser import ConfigParser
from pathlib import Path

import pytest

from infra.airflow_image import DOCKERFILE, REPO_ROOT
from infra.airflow_values import GIT_SYNC_CHECKOUT, ImageRef, IRSA_COMPONENTS, airflow_values, pool_plan
from stacks.airflow_wiring import airflow_settings
from stacks.config import load_stack_file, stack_file

IMAGE_HOME = "/opt/airflow"
LIBRARY_BUILD_DIR = "/tmp/batch-platform-library"

# What the other process reports: the timetable it got, where batch_platform came from, the next run.
PROBE = """
import json, sys
from datetime import UTC, datetime

from airflow.serialization.serialized_objects import DagSerialization
from airflow.timetables.base import TimeRestriction

dag = DagSerialization.from_dict(json.loads(open(sys.argv[1], encoding="utf-8").read()))
timetable = dag.timetable
import batch_platform

info = timetable.next_run_at(None, TimeRestriction(None, None, False), now=datetime(2024, 6, 1, tzinfo=UTC))
print(json.dumps({
    "class": f"{type(timetable).__module__}.{type(timetable).__qualname__}",
    "serialized": timetable.serialize(),
    "library": batch_platform.__file__,
    "next_run": info.run_after.isoformat(),
}))
"""


def _copies() -> list[tuple[str, str]]:
    """The Dockerfile's ``COPY`` instructions as (source, destination)."""
    text = (REPO_ROOT / DOCKERFILE).read_text(encoding="utf-8")
    return re.findall(r"^COPY (?:--\S+ )*(\S+) (\S+)$", text, flags=re.M)


def _place(source: str, destination: Path) -> None:
    path = REPO_ROOT / source
    if path.is_dir():
        shutil.copytree(path, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, destination)


def _image_python_path(tmp: Path) -> tuple[Path, Path]:
    """The image's Airflow home and the site directory the DAG library is installed into."""
    home, library, site = tmp / "opt-airflow", tmp / "library-build", tmp / "site-packages"
    for source, destination in _copies():
        if destination.startswith(LIBRARY_BUILD_DIR + "/"):
            _place(source, library / destination.removeprefix(LIBRARY_BUILD_DIR + "/"))
        elif destination.startswith(IMAGE_HOME + "/"):
            _place(source, home / destination.removeprefix(IMAGE_HOME + "/"))
    # Only what the Dockerfile really installs: its RUN pip install names the library's build folder.
    if any("pip install" in run and LIBRARY_BUILD_DIR in run for run in _joined_runs()):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--no-build-isolation", "--no-index", "--target", str(site), str(library)],
            check=True, capture_output=True, cwd=tmp,
        )
    return home, site


def _joined_runs() -> list[str]:
    text = re.sub(r"\\\n\s*", " ", (REPO_ROOT / DOCKERFILE).read_text(encoding="utf-8"))
    return [line for line in text.splitlines() if line.startswith("RUN ")]


def _deployed_config(home: Path) -> ConfigParser:
    """The chart's airflow.cfg for the prod values, with the image's /opt/airflow moved to ``home``."""
    settings = airflow_settings(load_stack_file(stack_file("prod")))
    values = airflow_values(
        settings,
        pool_plan(settings, "db.m7g.large"),
        task_log_bucket="offline-task-logs",
        role_arns={c: f"arn:aws:iam::123456789012:role/offline-{c}" for c in IRSA_COMPONENTS},
        image=ImageRef("123456789012.dkr.ecr.eu-west-1.amazonaws.com/batch-platform/prod/airflow", "3.2.2-0"),
    )
    assert values["dags"]["gitSync"]["enabled"] is True
    config = ConfigParser(interpolation=None)
    sections = {section: dict(options) for section, options in values["config"].items()}
    # The chart's own default ([core] dags_folder = the git-sync checkout's subPath).
    sections["core"].setdefault("dags_folder", f"{GIT_SYNC_CHECKOUT}/{values['dags']['gitSync']['subPath']}")
    for section, options in sections.items():
        config[section] = {
            key: str(value).replace(IMAGE_HOME, str(home)) if isinstance(value, str) and value.startswith(IMAGE_HOME) else str(value)
            for key, value in options.items()
        }
    # Deserializing needs no database; the pods' PostgreSQL URI would need a driver this venv lacks.
    config["database"]["sql_alchemy_conn"] = f"sqlite:///{home / 'airflow.db'}"
    return config


def _component_environment(home: Path, site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BATCH_PLATFORM", "PYTHON"))}
    env.update({"AIRFLOW_HOME": str(home), "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"})
    return env


def _serialized_dag() -> dict:
    from airflow.serialization.serialized_objects import DagSerialization

    from batch_platform.factory import build_dag
    from batch_platform.settings import load
    from batch_platform.spec import parse_spec_data

    spec = parse_spec_data(
        {"name": "finance.month-start", "image": "img:1", "command": ["run"],
         "schedule": {"cron": ["0 7 1-7 * 1", "30 18 * * 5"], "timezone": "Europe/Berlin"}},
        "jobs/finance.month-start.yaml",
    )
    dag = build_dag(spec, load({}))
    assert type(dag.timetable).__name__ == "JenkinsCronTimetable"
    return DagSerialization.to_dict(dag)


def _run_in_component(tmp_path: Path, *, install_library: bool = True) -> subprocess.CompletedProcess:
    home, site = _image_python_path(tmp_path)
    if not install_library:
        shutil.rmtree(site, ignore_errors=True)
    config = _deployed_config(home)
    with (home / "airflow.cfg").open("w", encoding="utf-8") as handle:
        config.write(handle)
    assert not Path(config["core"]["dags_folder"]).exists()
    dag_json = tmp_path / "dag.json"
    dag_json.write_text(json.dumps(_serialized_dag()), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-c", PROBE, str(dag_json)],
        env=_component_environment(home, site), cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("component")
    return tmp, _run_in_component(tmp)


def test_scheduler_and_api_server_deserialize_the_jenkins_timetable(deployed):
    tmp, result = deployed
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["class"] == "batch_platform.timetable.JenkinsCronTimetable"
    assert report["serialized"] == {"lines": ["0 7 1-7 * 1", "30 18 * * 5"], "timezone": "Europe/Berlin"}
    # Monday June 3rd 2024 is the first Monday of June: 07:00 in Berlin (CEST) is 05:00 UTC.
    assert report["next_run"] == "2024-06-03T05:00:00+00:00"
    # The class came from the library the image installs, not from a DAG folder or this checkout.
    assert Path(report["library"]).resolve().is_relative_to((tmp / "site-packages").resolve())


def test_the_values_leave_the_plugins_folder_at_the_image_default():
    # A plugins folder inside the git checkout exists only where the chart mounts the DAGs.
    settings = airflow_settings(load_stack_file(stack_file("prod")))
    config = _deployed_config(Path("/nonexistent"))
    assert "plugins_folder" not in config["core"]
    assert settings.dags.sub_path == "dags"


def test_without_the_installed_library_the_plugin_cannot_register_the_timetable(tmp_path):
    # The control: the pods have nothing else to import batch_platform from.
    result = _run_in_component(tmp_path, install_library=False)
    assert result.returncode != 0
    assert "Timetable class 'batch_platform.timetable.JenkinsCronTimetable' is not registered" in result.stderr

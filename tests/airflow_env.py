"""Test isolation for Airflow: a throw-away AIRFLOW_HOME, this repository's DAG folder and plugins.

Imported by the conftest of each test package before anything imports Airflow, so that no test reads
or writes ~/airflow, and so that DAG files find the ``batch_platform`` package the way Airflow's DAG
bundle finds it (the DAG folder is on sys.path).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO_ROOT / "dags"
PLUGINS_FOLDER = REPO_ROOT / "plugins"


def configure() -> Path:
    """Point Airflow at a temporary home (once per process) and return it."""
    existing = os.environ.get("BATCH_PLATFORM_TEST_AIRFLOW_HOME")
    if existing:
        return Path(existing)
    home = Path(tempfile.mkdtemp(prefix="airflow-home-"))
    os.environ.update(
        {
            "BATCH_PLATFORM_TEST_AIRFLOW_HOME": str(home),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        }
    )
    if str(DAGS_FOLDER) not in sys.path:
        sys.path.insert(0, str(DAGS_FOLDER))
    return home

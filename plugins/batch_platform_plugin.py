"""Airflow plugin of the batch platform: registers the Jenkins cron timetable with the scheduler.

Airflow only deserializes custom timetables that a plugin registers, and it registers them by their
import path. The timetable lives in the DAG bundle (``dags/batch_platform``), so that DAG files and
the plugin share one class: the DAG processor imports it as ``batch_platform.timetable`` because the
DAG folder is on its ``sys.path``. The scheduler and API server do not parse DAG files and need not
have the DAG folder on ``sys.path``, so this plugin puts it there (the configured ``[core]
dags_folder``) before importing the class. Deploy this file into ``$AIRFLOW_HOME/plugins`` of every
Airflow component (see docs/migrating-from-jenkins.md, "Deploying").
"""

from __future__ import annotations

import sys

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

_dags_folder = conf.get("core", "dags_folder")
if _dags_folder and _dags_folder not in sys.path:
    sys.path.append(_dags_folder)

from batch_platform.timetable import JenkinsCronTimetable  # noqa: E402 - needs the path above


class BatchPlatformPlugin(AirflowPlugin):
    name = "batch_platform"
    timetables = [JenkinsCronTimetable]

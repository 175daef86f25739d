"""Airflow plugin of the batch platform: registers the Jenkins cron timetable with every component.

Airflow only deserializes custom timetables that a plugin registers, and it registers them by their
import path (``batch_platform.timetable.JenkinsCronTimetable``). The scheduler and the API server
deserialize every DAG but have no DAG folder (the chart mounts none into them when a DAG processor
runs), so the class comes from the DAG library installed in the platform image
(``images/airflow/library``), never from the DAG folder: the DAG processor, whose DAG files import
``batch_platform``, finds that same installed copy first. The image puts this file into Airflow's
default plugins folder, ``$AIRFLOW_HOME/plugins``, which every component reads (docs/airflow-image.md).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from batch_platform.timetable import JenkinsCronTimetable


class BatchPlatformPlugin(AirflowPlugin):
    name = "batch_platform"
    timetables = [JenkinsCronTimetable]

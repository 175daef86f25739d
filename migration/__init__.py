"""Jenkins -> Airflow migration: reads Jenkins job definitions and writes batch job specs and a report.

``python -m migration jenkins PATH... --out dags/jobs`` (see ``migration.cli``). The pipeline is:
``discover`` (find config.xml files and Jenkinsfiles, with their Jenkins full names) -> ``jenkins_xml``
/ ``jenkinsfile`` (read a definition into a ``model.JenkinsJob``, recording everything that does not
map) -> ``convert`` (JenkinsJob -> job spec data) -> ``writer`` (atomic writes, hand-edit detection)
-> ``report`` (Markdown and JSON).

The job spec schema and Jenkins' cron semantics live in the DAG bundle (``dags/batch_platform``), the
single source of truth that the DAGs themselves load; this package puts that folder on ``sys.path``
so both agree by construction.
"""

from __future__ import annotations

import sys
from pathlib import Path

DAGS_FOLDER = Path(__file__).resolve().parent.parent / "dags"
if str(DAGS_FOLDER) not in sys.path:
    sys.path.insert(0, str(DAGS_FOLDER))

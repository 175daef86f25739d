"""The DAG file that sits next to each job spec: ``jobs/<name>.py`` beside ``jobs/<name>.yaml``.

Kept free of Airflow imports so the converter can write DAG files without loading Airflow.
"""

from __future__ import annotations

DAG_FILE_TEMPLATE = '''"""Airflow DAG file of the batch job spec beside it ({name}.yaml); edit the spec, not this file."""

from batch_platform.factory import dag_from_spec_file

dag = dag_from_spec_file(__file__)
'''


def dag_file_text(name: str) -> str:
    """The DAG file that goes next to ``<name>.yaml`` (written by the converter, or by hand)."""
    return DAG_FILE_TEMPLATE.format(name=name)

"""Airflow DAG file of the batch job spec beside it (reporting.weekly-kpis.yaml); edit the spec, not this file."""

from batch_platform.factory import dag_from_spec_file

dag = dag_from_spec_file(__file__)

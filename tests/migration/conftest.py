"""Fixtures for the DAG library tests: an isolated Airflow home (see tests/airflow_env.py)."""

from tests.airflow_env import configure

configure()

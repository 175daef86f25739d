"""Fixtures for the contract tests: an isolated Airflow home (see tests/airflow_env.py)."""

from tests.airflow_env import configure

configure()

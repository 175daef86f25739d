"""Connections that never live in Secrets Manager are never looked up there.

The provider's ``SecretsManagerBackend`` is built from the exact ``[secrets] backend_kwargs`` the
chart values carry, against moto, and every request it sends is counted. The notification
connections are read from Secrets Manager; the task-log connection (an environment variable of every
component) and the batch task's Kubernetes connection (absent: in-cluster) cost no request at all.
Without the lookup pattern each of those two costs a GetSecretValue per lookup, on every task.
"""

from __future__ import annotations

import json

from tests.airflow_env import configure

configure()

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from infra.airflow_values import (  # noqa: E402
    IRSA_COMPONENTS,
    KUBERNETES_CONNECTION_ID,
    SECRETS_MANAGER_BACKEND,
    SLACK_CONNECTION_ID,
    SMTP_CONNECTION_ID,
    TASK_LOG_CONNECTION_ID,
    ImageRef,
    airflow_values,
    pool_plan,
)
from stacks.airflow_wiring import airflow_settings  # noqa: E402
from stacks.config import load_stack_file, stack_file  # noqa: E402

REGION = "eu-west-1"


def _secrets_config() -> dict:
    settings = airflow_settings(load_stack_file(stack_file("prod")))
    values = airflow_values(
        settings, pool_plan(settings, "db.m7g.large"), task_log_bucket="offline-task-logs",
        role_arns={c: f"arn:aws:iam::123456789012:role/{c}" for c in IRSA_COMPONENTS},
        image=ImageRef("123456789012.dkr.ecr.eu-west-1.amazonaws.com/batch-platform/prod/airflow", "3.2.2-0"),
    )
    return values["config"]["secrets"]


@pytest.fixture
def backend(monkeypatch):
    from airflow.providers.amazon.aws.secrets.secrets_manager import SecretsManagerBackend

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "offline")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "offline")
    config = _secrets_config()
    assert config["backend"] == SECRETS_MANAGER_BACKEND
    kwargs = json.loads(config["backend_kwargs"])
    with mock_aws():
        manager = boto3.client("secretsmanager", region_name=REGION)
        prefix = kwargs["connections_prefix"].strip("/")
        manager.create_secret(
            Name=f"{prefix}/{SLACK_CONNECTION_ID}",
            SecretString=json.dumps({"conn_type": "slackwebhook", "password": "https://hooks.slack.invalid/T/B/x"}),
        )
        backend = SecretsManagerBackend(**kwargs)
        calls: list[str] = []
        backend.client.meta.events.register("before-call.secrets-manager.*", lambda model, **_: calls.append(model.name))
        yield backend, calls


def test_local_connections_never_reach_secrets_manager(backend):
    backend, calls = backend
    for conn_id in (TASK_LOG_CONNECTION_ID, KUBERNETES_CONNECTION_ID, TASK_LOG_CONNECTION_ID.upper()):
        assert backend.get_conn_value(conn_id) is None
    assert calls == []


def test_notification_and_spec_connections_are_read_from_secrets_manager(backend):
    backend, calls = backend
    connection = backend.get_connection(SLACK_CONNECTION_ID)
    assert connection.conn_type == "slackwebhook"
    # Not stored yet: looked up (one request) and not found, so Airflow goes on to its other sources.
    assert backend.get_conn_value(SMTP_CONNECTION_ID) is None
    assert backend.get_conn_value("team_a_slack") is None
    # An id that merely starts like a local one is not local.
    assert backend.get_conn_value(f"{TASK_LOG_CONNECTION_ID}_archive") is None
    assert calls == ["GetSecretValue"] * 4


def test_variables_and_config_never_reach_secrets_manager(backend):
    backend, calls = backend
    assert backend.get_variable("anything") is None
    assert backend.get_config("core__fernet_key") is None
    assert calls == []


def test_the_kubernetes_connection_is_the_dag_librarys_default():
    from batch_platform.settings import load

    assert load({}).kubernetes_conn_id == KUBERNETES_CONNECTION_ID

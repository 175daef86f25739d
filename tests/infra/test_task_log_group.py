"""Task logs that outlive the pod: Airflow's own CloudWatch handler, configured as the chart values say.

A task pod writes through ``CloudWatchRemoteLogIO`` (amazon provider) into moto's CloudWatch Logs and
dies before the end of the task (no ``upload``, no ``close``); a second handler, as the API server
builds it from the same settings, reads the lines back.
"""

from __future__ import annotations

import json

import pytest

from infra.task_log_group import READ_ACTIONS, WRITE_ACTIONS, log_group_arn, task_log_policy

NAME = "/batch-platform/prod/airflow/task-logs"
ARN = log_group_arn("aws", "eu-west-1", "123456789012", NAME)
RELATIVE = "dag_id=team-a.nightly.export/run_id=scheduled__2026-12-01T02_00_00+00_00/task_id=run/attempt=1.log"


def values_logging(prod_plan) -> tuple[dict, list]:
    values = prod_plan.one("kubernetes:helm.sh/v3:Release", "prod-airflow-release").input("values")
    return values["config"]["logging"], values["env"]


def test_prod_streams_task_logs_to_its_durable_group(prod_plan, dev_plan):
    logging_config, _ = values_logging(prod_plan)
    assert logging_config["remote_base_log_folder"] == f"cloudwatch://{ARN}"
    group = prod_plan.one("aws:cloudwatch/logGroup:LogGroup", "prod-task-log-group-group")
    assert group.input("name") == NAME and group.input("retentionInDays") == 365
    assert group.options["retainOnDelete"] is True
    assert dev_plan.one("aws:cloudwatch/logGroup:LogGroup", "dev-task-log-group-group").input("retentionInDays") == 30


def test_airflow_parses_the_group_from_the_configured_folder():
    from urllib.parse import urlsplit

    parts = urlsplit(f"cloudwatch://{ARN}")
    arn = parts.netloc + parts.path  # exactly what CloudWatchRemoteLogIO.from_config does
    assert arn.split(":")[6] == NAME and arn.split(":")[3] == "eu-west-1"


def test_writers_write_and_the_api_server_only_reads(prod_plan):
    policies = {p.name: json.loads(p.input("policy")) for p in prod_plan.of_type("aws:iam/rolePolicy:RolePolicy")}
    api = policies["prod-task-log-group-api-server"]["Statement"][0]
    worker = policies["prod-task-log-group-worker"]["Statement"][0]
    assert sorted(api["Action"]) == sorted(READ_ACTIONS)
    assert set(worker["Action"]) == set(WRITE_ACTIONS) | set(READ_ACTIONS)
    assert worker["Resource"] == [ARN, f"{ARN}:*"]


def test_every_action_is_a_cloudwatch_logs_operation():
    import botocore.session

    operations = botocore.session.get_session().get_service_model("logs").operation_names
    for action in json.loads(task_log_policy(ARN, write=True))["Statement"][0]["Action"]:
        assert action.split(":")[1] in operations


@pytest.fixture
def cloudwatch(monkeypatch, tmp_path, prod_plan):
    import boto3
    from moto import mock_aws

    logging_config, env = values_logging(prod_plan)
    for item in env:  # the connection the chart values give every component (no credentials)
        monkeypatch.setenv(item["name"], item["value"])
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID", logging_config["remote_log_conn_id"])
    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER", logging_config["remote_base_log_folder"])
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__LOGGING__DELETE_LOCAL_LOGS", logging_config["delete_local_logs"])
    with mock_aws():
        boto3.client("logs", region_name="eu-west-1").create_log_group(logGroupName=NAME)
        yield tmp_path


def test_a_pod_that_dies_mid_task_leaves_its_log_readable(cloudwatch):
    import structlog

    from airflow.providers.amazon.aws.log.cloudwatch_task_handler import CloudWatchRemoteLogIO

    writer = CloudWatchRemoteLogIO.from_config()
    path = cloudwatch / RELATIVE
    path.parent.mkdir(parents=True)
    logger = structlog.BytesLogger(path.open("wb"))
    (proc,) = writer.processors
    for i, line in enumerate(["export started", "wrote 10000 rows", "wrote 20000 rows"]):
        proc(logger, "info", {"event": line, "logger": "airflow.task", "timestamp": f"2026-12-01T02:00:0{i}+00:00"})
    # Watchtower's thread sends the queue at least every minute; then the pod is OOM-killed: no
    # upload(), no close(), the local file is gone with the pod.
    writer.handler.flush()
    path.unlink()

    reader = CloudWatchRemoteLogIO.from_config()  # as the API server builds it
    messages, logs = reader.read(RELATIVE, ti=None)
    events = [json.loads(line)["event"] for line in logs]
    assert events == ["export started", "wrote 10000 rows", "wrote 20000 rows"], messages

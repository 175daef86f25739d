"""Spec -> DAG -> Kubernetes Job, rendered offline exactly as the operator would submit it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batch_platform import settings as platform_settings
from batch_platform.factory import build_dag, dag_from_spec_file, job_operator_kwargs
from batch_platform.spec import parse_spec_data
from tests.airflow_env import DAGS_FOLDER
from tests.job_render import offline_kubernetes_connection, render_job

FULL_SPEC = {
    "name": "team-a.nightly.export",
    "description": "Nightly export.",
    "image": "registry.internal/batch/export:1.0.0",
    "command": ["java", "-jar", "/app/export.jar", "--build", "$(BUILD_NUMBER)"],
    "schedule": {"cron": ["H 2 * * *"]},
    "max_active_runs": 1,
    "retries": 3,
    "retry_delay_seconds": 120,
    "timeout_minutes": 30,
    "env": {"MODE": "full"},
    "env_from_secrets": ["export-db"],
    "secret_env": [{"name": "API_PASSWORD", "secret": "export-api", "key": "password"}],
    "params": [
        {"name": "TARGET", "type": "string", "default": "prod"},
        {"name": "DRY_RUN", "type": "boolean", "default": False},
        {"name": "REGION", "type": "choice", "choices": ["eu", "us"]},
    ],
    "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
    "notifications": {"slack": {"channel": "#alerts"}, "email": {"to": ["ops@example.com"]}},
    "triggers": [{"dag_id": "team-a.nightly.report", "when": "always", "conf": {"TARGET": "{{ params.TARGET }}"}}],
    "tags": ["team-a"],
    "jenkins": {"full_name": "team-a/nightly/export", "kind": "freestyle"},
}


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory):
    mp = offline_kubernetes_connection(tmp_path_factory.mktemp("kube"))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def rendered(kubeconfig):
    spec = parse_spec_data(FULL_SPEC, "jobs/team-a.nightly.export.yaml")
    dag = build_dag(spec, platform_settings.load({}))
    return dag, render_job(dag)


def test_job_runs_in_the_batch_namespace_with_its_service_account(rendered):
    _, job = rendered
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert job["metadata"]["namespace"] == "batch-jobs"
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "batch-job-runner"
    assert pod["restartPolicy"] == "Never"


def test_job_lands_on_the_batch_node_group(rendered):
    _, job = rendered
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"workload": "batch"}
    assert pod["tolerations"] == [{"key": "workload", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}]


def test_job_limits_retries_and_cleanup(rendered):
    dag, job = rendered
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 30 * 60
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    task = dag.get_task("run")
    assert task.wait_until_job_complete is True
    assert task.retries == 3 and task.retry_delay == timedelta(seconds=120)
    assert task.execution_timeout == timedelta(minutes=35)


def test_job_labels_name_the_job_and_the_run(rendered):
    _, job = rendered
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels["batch.platform/job"] == "team-a.nightly.export"
        assert labels["batch.platform/run-id"].startswith("scheduled__2024-05-01T02")
        assert len(labels["batch.platform/run-id"]) <= 63
    assert job["metadata"]["annotations"]["batch.platform/jenkins-full-name"] == "team-a/nightly/export"
    assert job["metadata"]["name"].startswith("job-team-a-nightly-export")


def test_container_image_command_and_resources(rendered):
    _, job = rendered
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.internal/batch/export:1.0.0"
    assert container["command"] == ["java", "-jar", "/app/export.jar", "--build", "$(BUILD_NUMBER)"]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "4Gi"}}
    assert {"name": "workspace", "mountPath": "/workspace"} in container["volumeMounts"]


def test_environment_params_jenkins_variables_and_secrets(rendered):
    _, job = rendered
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["MODE"] == "full"
    assert env["TARGET"] == "prod"
    assert env["DRY_RUN"] == "false"  # Jenkins spelling of booleans
    assert env["REGION"] == "eu"
    assert env["BUILD_NUMBER"] == "scheduled__2024-05-01T02:00:00+00:00"
    assert env["JOB_NAME"] == "team-a/nightly/export"
    assert env["BUILD_URL"].startswith("https://airflow.internal/dags/team-a.nightly.export/")
    assert env["WORKSPACE"] == "/workspace"
    assert env["API_PASSWORD"] == {"secretKeyRef": {"name": "export-api", "key": "password"}}
    assert container["envFrom"] == [{"secretRef": {"name": "export-db"}}]


def test_dag_level_settings(rendered):
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    dag, _ = rendered
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.is_paused_upon_creation is False
    assert set(dag.tags) == {"batch", "team-a"}
    assert "team-a/nightly/export" in dag.doc_md
    assert dag.params["REGION"] == "eu"
    callbacks = dag.on_failure_callback
    # The documented Slack connection is an incoming webhook (docs/airflow.md); tests/e2e/ sends both
    # through the real hooks to a local webhook and mail relay.
    assert [type(c) for c in callbacks] == [SlackWebhookNotifier, SmtpNotifier]
    assert callbacks[0].slack_webhook_conn_id == "slack_notifications"
    assert callbacks[1].smtp_conn_id == "smtp_notifications"


def test_downstream_trigger_task(rendered):
    dag, _ = rendered
    trigger = dag.get_task("trigger_team_a_nightly_report")
    assert trigger.trigger_dag_id == "team-a.nightly.report"
    assert trigger.trigger_rule == "all_done"
    assert trigger.upstream_task_ids == {"run"}


def test_disabled_job_is_paused_on_creation():
    spec = parse_spec_data({**FULL_SPEC, "paused": True}, "jobs/team-a.nightly.export.yaml")
    assert build_dag(spec, platform_settings.load({})).is_paused_upon_creation is True


def test_platform_settings_come_from_the_environment():
    platform = platform_settings.load(
        {"BATCH_NAMESPACE": "other", "BATCH_NODE_LABEL": "pool=x", "BATCH_NODE_TAINT": "pool=x:NoExecute"}
    )
    spec = parse_spec_data(FULL_SPEC, "jobs/team-a.nightly.export.yaml")
    kwargs = job_operator_kwargs(spec, platform)
    assert kwargs["namespace"] == "other"
    assert kwargs["node_selector"] == {"pool": "x"}
    assert kwargs["tolerations"][0].effect == "NoExecute"
    assert kwargs["service_account_name"] == "batch-job-runner"


@pytest.mark.parametrize(
    ("env", "message"),
    [({"BATCH_NODE_LABEL": "nolabel"}, "BATCH_NODE_LABEL"), ({"BATCH_NODE_TAINT": "a=b:Sometimes"}, "BATCH_NODE_TAINT"),
     ({"BATCH_TTL_SECONDS_AFTER_FINISHED": "soon"}, "BATCH_TTL_SECONDS_AFTER_FINISHED")],
)
def test_bad_platform_settings_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        platform_settings.load(env)


def test_example_spec_renders(kubeconfig):
    dag = dag_from_spec_file(DAGS_FOLDER / "jobs" / "finance.ledger-reconcile.py")
    job = render_job(dag)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["STRICT"] == "true"
    assert env["BANK_API_TOKEN"] == {"secretKeyRef": {"name": "bank-api", "key": "token"}}


def test_platform_contract_defaults():
    platform = platform_settings.load({})
    assert platform.namespace == "batch-jobs"
    assert platform.service_account == "batch-job-runner"
    assert platform.node_selector == {"workload": "batch"}
    assert (platform.toleration.key, platform.toleration.value, platform.toleration.effect) == (
        "workload", "batch", "NoSchedule"
    )
    assert (platform.slack_conn_id, platform.smtp_conn_id) == ("slack_notifications", "smtp_notifications")


def test_notification_connections_default_from_settings_and_can_be_set_per_spec():
    spec = parse_spec_data(FULL_SPEC, "jobs/team-a.nightly.export.yaml")
    dag = build_dag(spec, platform_settings.load({"BATCH_SLACK_CONN_ID": "slack_other"}))
    assert dag.on_failure_callback[0].slack_webhook_conn_id == "slack_other"
    custom = {**FULL_SPEC, "notifications": {"email": {"to": ["a@example.com"], "conn_id": "smtp_team_a"}}}
    dag = build_dag(parse_spec_data(custom, "jobs/team-a.nightly.export.yaml"), platform_settings.load({}))
    assert dag.on_failure_callback[0].smtp_conn_id == "smtp_team_a"


def test_failure_messages_without_a_task_instance_link_to_the_run(rendered):
    # Airflow gives a DAG failure callback no task instance when none ran (e.g. a run timed out
    # before its task started): the message then links to the run's page (tests/e2e/ covers the
    # task-log link of a real failed try).
    import copy

    dag, _ = rendered
    slack, mail = (copy.copy(n) for n in dag.on_failure_callback)
    context = {"dag": dag, "run_id": "manual__2026-01-02T03:04:05+00:00", "reason": "timed out"}
    run_url = "http://localhost:8080/dags/team-a.nightly.export/runs/manual__2026-01-02T03%3A04%3A05%2B00%3A00"
    slack.render_template_fields(context, dag.get_template_env())
    assert slack.text == (
        ":red_circle: Batch job team-a.nightly.export failed (run manual__2026-01-02T03:04:05+00:00). "
        f"Log: {run_url}"
    )
    mail.render_template_fields(context, dag.get_template_env())
    assert mail.subject == "[batch] team-a.nightly.export failed (run manual__2026-01-02T03:04:05+00:00)"
    assert f'<a href="{run_url}">' in mail.html_content

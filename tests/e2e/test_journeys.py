"""What Jenkins gave its users, checked on a running Airflow (tests/e2e/conftest.py starts it).

Each test is one journey a Jenkins user would walk; the runs they need are started together at the
beginning (``runs``) so that the LocalExecutor works on them while earlier journeys are checked.
The schedule journey comes last: it needs fire times to pass on the real clock.
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from batch_platform.jenkins_cron import parse_spec
from stacks.dr.airflow_api import AirflowApi, AirflowApiError, Credentials
from stacks.dr.rehearsal import CANARY_VARIABLE
from tests.e2e.airflow_stack import (
    TASK_LOG_BUCKET,
    AirflowProcesses,
    Secrets,
    airflow_home_like,
    component_environment,
    json_request,
)
from tests.e2e.conftest import CANARY_DAG, FAILING_JOB, JENKINS_JOB, JENKINS_TIMEZONE, documented_connections
from tests.e2e.servers import PostgresServer, free_port, wait_for

PARAMS_JOB = "finance.ledger-reconcile"  # a job of the repository, with a string and a boolean parameter
PARAMS = {"RUN_DATE": "2026-11-30", "STRICT": False}


def _trigger(e2e, dag_id: str, conf: dict | None = None) -> str:
    body = e2e.api("POST", f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns", {"logical_date": None, "conf": conf or {}})
    return body["dag_run_id"]


def _run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns/{urllib.parse.quote(run_id)}"


def _wait_run(e2e, dag_id: str, run_id: str, states=("success", "failed"), timeout: float = 240) -> dict:
    def finished():
        e2e.airflow.check_alive()
        run = e2e.api("GET", _run_path(dag_id, run_id))
        return run if run["state"] in states else None

    return wait_for(f"run {run_id} of {dag_id} to finish", finished, timeout, interval=1,
                    describe=lambda: e2e.airflow.log("scheduler"))


@pytest.fixture(scope="module")
def runs(e2e):
    """The manual runs of the journeys, triggered at once through the REST API, as the UI does."""
    return {
        "params": _trigger(e2e, PARAMS_JOB, PARAMS),
        "failing": _trigger(e2e, FAILING_JOB),
        "canary": _trigger(e2e, CANARY_DAG),
    }


# --- a manual run with parameters ------------------------------------------------------------------


def test_manual_run_with_parameters_is_in_the_history_and_reaches_the_batch(e2e, runs):
    run_id = runs["params"]
    history = e2e.api("GET", f"/api/v2/dags/{PARAMS_JOB}/dagRuns?order_by=-run_after&limit=20")
    listed = {run["dag_run_id"]: run for run in history["dag_runs"]}
    assert run_id in listed
    assert listed[run_id]["run_type"] == "manual"
    assert listed[run_id]["conf"] == PARAMS

    _wait_run(e2e, PARAMS_JOB, run_id)
    task = e2e.api("GET", f"{_run_path(PARAMS_JOB, run_id)}/taskInstances/run")
    env = {item["name"]: item.get("value") for item in task["rendered_fields"]["env_vars"]}
    # The batch container gets the parameters as Jenkins passed them (booleans as true/false).
    assert env["RUN_DATE"] == "2026-11-30"
    assert env["STRICT"] == "false"


# --- a failing batch: retries, then mail and Slack -------------------------------------------------


@pytest.fixture(scope="module")
def failed_run(e2e, runs):
    run_id = runs["failing"]
    run = _wait_run(e2e, FAILING_JOB, run_id)
    assert run["state"] == "failed"
    return run_id


def test_failing_batch_retries_as_its_spec_says(e2e, failed_run):
    task = e2e.api("GET", f"{_run_path(FAILING_JOB, failed_run)}/taskInstances/run")
    assert task["state"] == "failed"
    assert task["try_number"] == 2  # retries: 1
    tries = e2e.api("GET", f"{_run_path(FAILING_JOB, failed_run)}/taskInstances/run/tries")
    assert [(t["try_number"], t["state"]) for t in tries["task_instances"]] == [(1, "failed"), (2, "failed")]


def _log_link(e2e, run_id: str, try_number: int) -> str:
    return (f"{e2e.airflow.api_url}/dags/{FAILING_JOB}/runs/{urllib.parse.quote(run_id)}/tasks/run"
            f"?try_number={try_number}")


def test_failure_mail_arrives_from_the_documented_connection(e2e, failed_run):
    def mail():
        return [m for m in e2e.smtp.messages if failed_run in (m[2]["Subject"] or "")]

    (mail_from, recipients, message), = wait_for(
        "the failure mail", mail, 120, describe=lambda: e2e.airflow.log("dag-processor"))
    sender = documented_connections()["smtp_notifications"]["extra"]["from_email"]
    assert mail_from == sender and message["From"] == sender
    assert recipients == ["batch-owners@example.com"]
    assert message["Subject"] == f"[batch] {FAILING_JOB} failed (run {failed_run})"
    html = next(part for part in message.walk() if part.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert f"Batch job {FAILING_JOB} failed (run {failed_run})." in html
    assert f'href="{_log_link(e2e, failed_run, 2)}"' in html


def test_failure_slack_message_arrives_at_the_webhook(e2e, failed_run):
    def posted():
        return [p for p in e2e.webhook.posts if failed_run in p.get("text", "")]

    (post,) = wait_for("the Slack message", posted, 120, describe=lambda: e2e.airflow.log("dag-processor"))
    first, *reason = post["text"].split("\n", 1)  # a diagnosis of the Job may follow on its own line
    assert first == f":red_circle: Batch job {FAILING_JOB} failed (run {failed_run}). Log: {_log_link(e2e, failed_run, 2)}"


def test_the_log_link_of_a_message_opens_in_the_ui(e2e, failed_run):
    import urllib.request

    with urllib.request.urlopen(_log_link(e2e, failed_run, 2), timeout=30) as response:
        assert response.status == 200
        assert b"<html" in response.read(2000).lower()


# --- task logs: to S3, read back through the API server --------------------------------------------


def test_task_log_is_uploaded_to_s3_and_read_back_through_the_api(e2e, failed_run):
    prefix = e2e.deployed.settings.task_log_prefix.strip("/")
    key = f"{prefix}/dag_id={FAILING_JOB}/run_id={failed_run}/task_id=run/attempt=2.log"

    def uploaded():
        listed = e2e.s3.list_objects_v2(Bucket=TASK_LOG_BUCKET, Prefix=f"{prefix}/dag_id={FAILING_JOB}/")
        return key in {o["Key"] for o in listed.get("Contents", [])}

    def found():
        listed = e2e.s3.list_objects_v2(Bucket=TASK_LOG_BUCKET, Prefix=f"{prefix}/dag_id={FAILING_JOB}/")
        logs = "\n".join(line for line in e2e.airflow.log("scheduler", tail=10**7).splitlines()
                         if "s3" in line.lower() or "upload" in line.lower())
        return f"{[o['Key'] for o in listed.get('Contents', [])]}\n{logs[-3000:]}"

    wait_for(f"s3://{TASK_LOG_BUCKET}/{key}", uploaded, 60, describe=found)
    stored = e2e.s3.get_object(Bucket=TASK_LOG_BUCKET, Key=key)["Body"].read().decode()
    # The batch could not reach its cluster: the log says why.
    assert "127.0.0.1" in stored
    # delete_local_logs: after the upload the only copy is the bucket's.
    wait_for("the local copy to go", lambda: not list((e2e.airflow.home / "logs").rglob("attempt=2.log")), 30)

    body = e2e.api("GET", f"{_run_path(FAILING_JOB, failed_run)}/taskInstances/run/logs/2?full_content=true")
    served = "\n".join(str(line.get("event", line)) if isinstance(line, dict) else str(line) for line in body["content"])
    assert f"s3://{TASK_LOG_BUCKET}/{key}" in served  # where the API server read it from
    events = [line for line in stored.splitlines() if '"event"' in line][-3:]
    assert events, stored[:500]
    for line in events:
        event = re.search(r'"event":\s*"((?:[^"\\]|\\.)*)"', line).group(1)
        assert event.encode().decode("unicode_escape") in served


# --- the DR rehearsal's canaries, then a restore -----------------------------------------------------


def _run_ids(api_url: str, e2e) -> set[str]:
    token = json_request("POST", f"{api_url}/auth/token",
                         body={"username": e2e.admin, "password": e2e.secrets.admin_password})["access_token"]
    body = json_request("GET", f"{api_url}/api/v2/dags/~/dagRuns?limit=100", token)
    return {run["dag_run_id"] for run in body["dag_runs"]}


def _api_servers_on(e2e, postgres: PostgresServer, fernet_keys: dict[str, str]) -> dict[str, AirflowProcesses]:
    """An API server per fernet key on ``postgres``, started together (each takes a while to boot)."""
    servers = {}
    try:
        for name, fernet_key in fernet_keys.items():
            home = airflow_home_like(e2e.work / name, e2e.airflow.home)
            port = free_port()
            env = component_environment(
                e2e.deployed, home=home, checkout=e2e.checkout, database_url=postgres.url(), api_port=port,
                aws_endpoint=e2e.endpoint,
                secrets=Secrets(fernet_key=fernet_key, admin_password=e2e.secrets.admin_password),
                image_site=e2e.image_site, extra=e2e.extra_env,
            )
            servers[name] = AirflowProcesses(env=env, home=home, api_port=port)
            servers[name].start("api-server")
        for server in servers.values():
            server.wait_api()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def test_dr_canaries_then_restore_with_the_same_and_another_fernet_key(e2e, runs):
    from cryptography.fernet import Fernet

    assert _wait_run(e2e, CANARY_DAG, runs["canary"])["state"] == "success"
    credentials = Credentials(username=e2e.admin, password=e2e.secrets.admin_password)
    api = AirflowApi(e2e.airflow.api_url, credentials)

    # Before: what the rehearsal records (stacks/dr/rehearsal.py, "canaries before").
    health = wait_for("a healthy Airflow", lambda: (h := api.health()).healthy and h, 60,
                      describe=lambda: api.health().summary)
    assert "scheduler=healthy" in health.summary and "dag_processor=healthy" in health.summary
    runs_before = api.dag_run_count()
    assert runs_before >= 3
    value = secrets.token_urlsafe(24)
    assert api.put_variable(CANARY_VARIABLE, value, "DR rehearsal canary") is True  # stored encrypted
    assert api.get_variable(CANARY_VARIABLE) == value
    task = api.latest_finished_task()
    assert task is not None and task.dag_id == CANARY_DAG
    assert api.task_log_lines(task) > 0

    # The snapshot, restored into a fresh server (RDS restores a snapshot into a new instance). The
    # scheduler keeps creating runs of the schedule journey meanwhile: the snapshot holds at least these.
    history = _run_ids(e2e.airflow.api_url, e2e)
    assert set(runs.values()) <= history
    snapshot = e2e.work / "metadata.dump"
    e2e.postgres.dump(snapshot)
    restored = PostgresServer.start()
    try:
        restored.restore(snapshot)

        servers = _api_servers_on(
            e2e, restored, {"same-key": e2e.secrets.fernet_key, "other-key": Fernet.generate_key().decode()}
        )
        try:
            # The recreated stack with the durable fernet key: everything is there and readable.
            after = AirflowApi(servers["same-key"].api_url, credentials)
            assert after.dag_run_count() >= runs_before  # the rehearsal's "DAG run count not lower"
            assert after.get_variable(CANARY_VARIABLE) == value
            assert after.task_log_lines(task) > 0  # no local log on this server: read from S3
            assert history <= _run_ids(servers["same-key"].api_url, e2e)

            # A recreate that generated a new fernet key: the history is there, the canary cannot be
            # read. Airflow answers 500 (it cannot decrypt the value); the rehearsal's check "canary
            # Variable decrypts (fernet key survived)" records the AirflowApiError as its failure.
            other = AirflowApi(servers["other-key"].api_url, credentials)
            assert history <= _run_ids(servers["other-key"].api_url, e2e)
            with pytest.raises(AirflowApiError) as refused:
                other.get_variable(CANARY_VARIABLE)
            assert refused.value.status == 500
            assert str(refused.value) == f"GET /api/v2/variables/{CANARY_VARIABLE}: HTTP 500 Internal Server Error"
            assert f"Can't decrypt _val for key={CANARY_VARIABLE}" in servers["other-key"].log("api-server", tail=10**6)
        finally:
            for server in servers.values():
                server.stop()
    finally:
        restored.stop()


# --- a Jenkins schedule with H and TZ=, converted, fired by the real scheduler ----------------------


def test_jenkins_h_schedule_with_tz_fires_at_jenkins_times(e2e):
    # The implementation we compare with reproduces Jenkins' own test vectors (hudson.scheduler.CronTabTest).
    march = datetime(2013, 3, 21, 16, 21, tzinfo=timezone.utc)
    assert parse_spec("H 17 * * *", seed="stuff").next_fire_time(march) == datetime(2013, 3, 21, 17, 56, tzinfo=timezone.utc)
    assert parse_spec("@hourly", seed="junk").next_fire_time(march) == datetime(2013, 3, 21, 17, 20, tzinfo=timezone.utc)

    # Jenkins' fire times of the job: H hashed from its full name, wall-clock minutes in TZ=.
    jenkins = parse_spec(e2e.jenkins_spec, seed=JENKINS_JOB)
    expected = []
    moment = e2e.started
    while len(expected) < 12:
        moment = jenkins.next_fire_time(moment)
        expected.append(moment)
    zone = ZoneInfo(JENKINS_TIMEZONE)
    hours = {int(h) for h in e2e.jenkins_spec.splitlines()[1].split()[1].split(",")}
    assert all(t.astimezone(zone).hour in hours for t in expected)  # read in Kolkata time, not UTC

    dag = e2e.api("GET", f"/api/v2/dags/{JENKINS_JOB}")
    assert dag["is_paused"] is False and dag["timetable_summary"].endswith(f"({JENKINS_TIMEZONE})")

    def scheduled():
        e2e.airflow.check_alive()
        body = e2e.api("GET", f"/api/v2/dags/{JENKINS_JOB}/dagRuns?run_type=scheduled&order_by=run_after")
        return body["dag_runs"] or None

    # H/2: a fire time comes within two minutes of the DAG's first parse.
    wait_for("the scheduler to create a run", scheduled, 240, interval=2,
             describe=lambda: e2e.airflow.log("scheduler"))
    for _ in range(5):  # a fire time may pass between the calls: read runs and DAG until they agree
        runs = scheduled()
        dag = e2e.api("GET", f"/api/v2/dags/{JENKINS_JOB}")
        if [r["dag_run_id"] for r in scheduled()] == [r["dag_run_id"] for r in runs]:
            break
    fired = [datetime.fromisoformat(r["run_after"].replace("Z", "+00:00")) for r in runs]
    logical = [datetime.fromisoformat(r["logical_date"].replace("Z", "+00:00")) for r in runs]
    # Jenkins' fire times after the DAG was first scheduled, one after the other: none skipped, none extra.
    assert fired[0] in expected, (fired, expected)
    first = expected.index(fired[0])
    assert fired == expected[first : first + len(fired)]
    assert logical == fired

    # The run after: the scheduler computes it when it creates a run, with the timetable it
    # deserializes through the plugin (a wrong or missing timetable makes no runs at all).
    following = jenkins.next_fire_time(fired[-1])
    assert datetime.fromisoformat(dag["next_dagrun_run_after"].replace("Z", "+00:00")) == following
    assert "Failed to deserialize" not in e2e.airflow.log("scheduler", tail=10**7)

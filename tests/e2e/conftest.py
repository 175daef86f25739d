"""One real Airflow for the whole end-to-end session (see tests/e2e/airflow_stack.py and docs/testing.md).

Started once, in this order: moto (S3 bucket, connection secrets), the mail relay and the webhook,
PostgreSQL 17, ``airflow db migrate``, the admin user (the chart's create-user command), then the
scheduler, DAG processor, triggerer and API server. Every server listens on 127.0.0.1 on a free
port; everything is stopped at the end of the session, and the temporary directories removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet

from infra.airflow_values import SLACK_CONNECTION_ID, SMTP_CONNECTION_ID
from tests.e2e.writes import record_image_directories, write_audit_env
from tests.e2e.airflow_stack import (
    REPO_ROOT,
    TASK_LOG_BUCKET,
    AirflowProcesses,
    Secrets,
    component_environment,
    create_admin,
    image_layout,
    deployed_values,
    json_request,
    lay_out_checkout,
    write_airflow_cfg,
)
from tests.e2e.servers import (  # noqa: I001
    PostgresServer,
    SmtpServer,
    WebhookServer,
    free_port,
    self_signed_certificate,
    start_moto,
    wait_for,
)

if str(REPO_ROOT / "dags") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "dags"))
from batch_platform.dag_file import dag_file_text  # noqa: E402 - the DAG library's own template

# The job whose batch cannot reach its cluster: it retries as its spec says, then notifies. The retry
# delay leaves time for the first try's log upload: the S3 handler then deletes the try's whole
# local log directory (shutil.rmtree of its parent), and under the LocalExecutor a second try that
# already writes there would lose its log. With the KubernetesExecutor each try has its own pod.
FAILING_JOB = "e2e.unreachable-cluster"
FAILING_SPEC = textwrap.dedent(
    f"""\
    name: {FAILING_JOB}
    description: A batch whose Kubernetes cluster is unreachable.
    image: registry.internal/batch/shell-runner:1.3.0
    command: [/bin/sh, -ec, "echo never runs"]
    retries: 1
    retry_delay_seconds: 10
    notifications:
      slack: {{channel: "#batch-alerts"}}
      email: {{to: [batch-owners@example.com]}}
    tags: [e2e]
    """
)

# A DAG whose task succeeds (the batch DAGs cannot here: no cluster), for the DR canary's task log.
CANARY_DAG = "e2e_canary"
CANARY_DAG_FILE = textwrap.dedent(
    f'''\
    """A DAG of the end-to-end suite only: one task that succeeds and logs a line."""
    from airflow.sdk import DAG, task

    with DAG(dag_id="{CANARY_DAG}", schedule=None, is_paused_upon_creation=False, tags=["e2e"]):

        @task
        def hello():
            print("canary task ran")

        hello()
    '''
)

# The Jenkins job converted for the schedule journey. Its full name seeds H exactly as in Jenkins.
JENKINS_JOB = "e2e-cron"
JENKINS_TIMEZONE = "Asia/Kolkata"  # UTC+05:30: a wrong zone cannot match the same minutes by chance

SMTP_LOGIN, SMTP_PASSWORD = "relay-user", "relay-password-not-a-secret"


def jenkins_schedule(now: datetime) -> str:
    """``TZ=`` plus an ``H`` line firing every two minutes in this hour and the next, Kolkata time."""
    local = now.astimezone(ZoneInfo(JENKINS_TIMEZONE))
    hours = sorted({local.hour, (local + timedelta(hours=1)).hour})
    return f"TZ={JENKINS_TIMEZONE}\nH/2 {','.join(map(str, hours))} * * *"


def jenkins_config(spec: str) -> str:
    return textwrap.dedent(
        """\
        <?xml version='1.1' encoding='UTF-8'?>
        <project>
          <description>Converted by the end-to-end suite.</description>
          <disabled>false</disabled>
          <triggers>
            <hudson.triggers.TimerTrigger>
              <spec>{spec}</spec>
            </hudson.triggers.TimerTrigger>
          </triggers>
          <builders>
            <hudson.tasks.Shell>
              <command>echo "build $BUILD_NUMBER"</command>
            </hudson.tasks.Shell>
          </builders>
          <publishers/>
          <buildWrappers/>
        </project>
        """
    ).format(spec=spec)


def documented_connections() -> dict[str, dict]:
    """The connection documents docs/airflow.md tells operators to store, by connection id."""
    text = (REPO_ROOT / "docs" / "airflow.md").read_text(encoding="utf-8")
    found = {}
    for conn_id in (SLACK_CONNECTION_ID, SMTP_CONNECTION_ID):
        match = re.search(rf"connections/{conn_id} \\\s*\n\s*--secret-string '([^']+)'", text)
        assert match, f"docs/airflow.md no longer shows the {conn_id} secret"
        found[conn_id] = json.loads(match.group(1))
    return found


class E2E:
    """What the journeys see: the running Airflow, its servers, and helpers around them."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def token(self) -> str:
        body = json_request(
            "POST", f"{self.airflow.api_url}/auth/token",
            body={"username": self.admin, "password": self.secrets.admin_password},
        )
        return body["access_token"]

    def api(self, method: str, path: str, body=None):
        return json_request(method, f"{self.airflow.api_url}{path}", self.token(), body)


@pytest.fixture(scope="session")
def e2e():
    import boto3

    work = Path(tempfile.mkdtemp(prefix="e2e-airflow-"))
    stoppers = []
    try:
        moto, endpoint = start_moto()
        stoppers.append(moto.stop)
        deployed = deployed_values()
        settings = deployed.settings
        aws = {"region_name": settings.region, "endpoint_url": endpoint, "aws_access_key_id": "testing",
               "aws_secret_access_key": "testing"}
        s3 = boto3.client("s3", **aws)
        s3.create_bucket(Bucket=TASK_LOG_BUCKET, CreateBucketConfiguration={"LocationConstraint": settings.region})

        cert, key = self_signed_certificate(work)
        smtp = SmtpServer(login=SMTP_LOGIN, password=SMTP_PASSWORD, cert=cert, key=key).start()
        stoppers.append(smtp.stop)
        webhook = WebhookServer().start()
        stoppers.append(webhook.stop)

        # The notification connections, as docs/airflow.md tells operators to store them, pointing
        # at the local relay and webhook.
        documented = documented_connections()
        slack = dict(documented[SLACK_CONNECTION_ID], password=webhook.url)
        mail = dict(documented[SMTP_CONNECTION_ID], host="127.0.0.1", port=smtp.port, login=SMTP_LOGIN,
                    password=SMTP_PASSWORD)
        secretsmanager = boto3.client("secretsmanager", **aws)
        for conn_id, document in ((SLACK_CONNECTION_ID, slack), (SMTP_CONNECTION_ID, mail)):
            secretsmanager.create_secret(Name=f"{settings.connections_prefix}/{conn_id}",
                                         SecretString=json.dumps(document))

        # The DAG checkout: this repository's dags/ and plugins/, plus the journeys' jobs.
        checkout = lay_out_checkout(work)
        jobs = checkout / "dags" / "jobs"
        (jobs / f"{FAILING_JOB}.yaml").write_text(FAILING_SPEC)
        (jobs / f"{FAILING_JOB}.py").write_text(dag_file_text(FAILING_JOB))
        (checkout / "dags" / f"{CANARY_DAG}.py").write_text(CANARY_DAG_FILE)
        started = datetime.now(timezone.utc)
        jenkins_spec = jenkins_schedule(started)
        jenkins_home = work / "jenkins"
        (jenkins_home / "jobs" / JENKINS_JOB).mkdir(parents=True)
        (jenkins_home / "jobs" / JENKINS_JOB / "config.xml").write_text(jenkins_config(jenkins_spec))
        converted = subprocess.run(
            [sys.executable, "-m", "migration", "jenkins", str(jenkins_home / "jobs"), "--out", str(jobs),
             "--report-dir", str(work / "migration-report")],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert converted.returncode == 0, converted.stdout + converted.stderr

        # An unreachable cluster: a kubeconfig whose API server is a closed port on loopback.
        kubeconfig = work / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "e2e",
            "clusters": [{"name": "e2e", "cluster": {"server": f"https://127.0.0.1:{free_port()}",
                                                      "insecure-skip-tls-verify": True}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}],
            "users": [{"name": "e2e", "user": {"token": "e2e"}}],
        }))

        postgres = PostgresServer.start()
        stoppers.append(postgres.stop)
        home, site = image_layout(work / "image")
        # The official base image creates both (its Dockerfile: mkdir -pv ${AIRFLOW_HOME}/dags .../logs).
        for directory in ("dags", "logs"):
            (home / directory).mkdir(exist_ok=True)
        # The image's directories, before any component ran: a component's mkdir of one of them is no
        # write, but each container has its own root, so one another component created does not count.
        record_image_directories(home, work)
        secrets = Secrets(fernet_key=Fernet.generate_key().decode())
        api_port = free_port()
        extra = {"KUBECONFIG": str(kubeconfig), "SSL_CERT_FILE": str(cert), **write_audit_env(work, site)}
        # The chart mounts its rendered airflow.cfg: without one Airflow would write a default there.
        write_airflow_cfg(home, deployed)
        env = component_environment(
            deployed, home=home, checkout=checkout, database_url=postgres.url(), api_port=api_port,
            aws_endpoint=endpoint, secrets=secrets, image_site=site, extra=extra,
        )
        airflow = AirflowProcesses(env=env, home=home, api_port=api_port)
        stoppers.append(airflow.stop)
        airflow.run("db", "migrate")
        admin = create_admin(airflow, deployed, secrets)
        airflow.start("api-server", "dag-processor", "scheduler", "triggerer")
        airflow.wait_api()
        context = E2E(
            airflow=airflow, postgres=postgres, deployed=deployed, secrets=secrets, admin=admin, smtp=smtp,
            webhook=webhook, s3=s3, secretsmanager=secretsmanager, aws=aws, endpoint=endpoint, work=work,
            checkout=checkout, started=started, jenkins_spec=jenkins_spec, extra_env=extra, image_site=site,
        )
        expected = {path.stem for path in jobs.glob("*.yaml")} | {CANARY_DAG}

        def parsed():
            airflow.check_alive()
            body = context.api("GET", "/api/v2/dags?limit=100")
            return expected <= {dag["dag_id"] for dag in body["dags"]}

        wait_for("the DAG processor to parse the checkout", parsed, 240, interval=2,
                 describe=lambda: airflow.log("dag-processor"))
        yield context
    finally:
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception:  # noqa: BLE001 - stop the rest whatever one did
                pass
        if not os.environ.get("E2E_KEEP_WORK"):  # set it to read the components' logs after a failure
            shutil.rmtree(work, ignore_errors=True)

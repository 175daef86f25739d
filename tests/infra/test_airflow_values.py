"""The chart values: a pure function of the settings, checked by a strict model of the chart's keys."""

from __future__ import annotations

import copy
import dataclasses
import json

import airflow
import pydantic
import pytest

from infra import versions
from infra.airflow_values import (
    IRSA_COMPONENTS,
    ChartValues,
    ImageDags,
    ImageRef,
    airflow_values,
    pool_plan,
)
from infra.irsa import IRSA_ANNOTATION
from stacks.airflow_wiring import airflow_settings
from stacks.config import load_stack_file, stack_file

ROLE_ARNS = {c: f"arn:aws:iam::123456789012:role/offline-{c}" for c in IRSA_COMPONENTS}
SYSTEM_TOLERATION = {"key": "workload", "operator": "Equal", "value": "system", "effect": "NoSchedule"}
COMPONENTS = ("scheduler", "apiServer", "triggerer", "dagProcessor", "pgbouncer")
IMAGE = ImageRef("123456789012.dkr.ecr.eu-west-1.amazonaws.com/batch-platform/prod/airflow", "3.2.2-0123456789ab")


def values_for(stack: str, instance_class: str = "db.m7g.large") -> dict:
    settings = airflow_settings(load_stack_file(stack_file(stack)))
    return airflow_values(
        settings, pool_plan(settings, instance_class), task_log_bucket="offline-task-logs", role_arns=ROLE_ARNS,
        image=IMAGE,
    )


@pytest.fixture(scope="module")
def prod() -> dict:
    return values_for("prod")


@pytest.fixture(scope="module")
def dev() -> dict:
    return values_for("dev", "db.t4g.medium")


def test_versions_are_pinned_in_one_place(prod):
    assert versions.AIRFLOW_CHART_VERSION == "1.22.0"
    assert prod["airflowVersion"] == versions.AIRFLOW_VERSION


def test_every_airflow_container_runs_the_platform_image(prod, dev):
    # The chart's pod template (task pods) falls back to the default image, not to images.airflow:
    # setting only the defaults gives every container, task pods included, the same image.
    for values in (prod, dev):
        assert values["defaultAirflowRepository"] == IMAGE.repository
        assert values["defaultAirflowTag"] == IMAGE.tag
        assert "images" not in values


def test_image_is_the_airflow_the_tests_run():
    # The DAG library's tests run the installed Airflow: it must be the version that deploys.
    assert versions.AIRFLOW_VERSION == airflow.__version__
    assert versions.AIRFLOW_BASE_IMAGE_TAG.startswith(f"{airflow.__version__}-python")


def test_executor_external_database_and_durable_secrets(prod):
    assert prod["executor"] == "KubernetesExecutor"
    assert prod["postgresql"] == {"enabled": False}
    assert prod["redis"] == {"enabled": False}
    assert prod["data"] == {"metadataSecretName": "airflow-metadata"}
    assert prod["fernetKeySecretName"] == "airflow-fernet-key"
    assert prod["apiSecretKeySecretName"] == "airflow-api-secret-key"
    assert prod["jwtSecretName"] == "airflow-jwt-secret"
    assert prod["allowJobLaunching"] is True and prod["allowPodLaunching"] is True


def test_bootstrap_jobs_run_without_helm_hooks(prod):
    for job in ("migrateDatabaseJob", "createUserJob"):
        assert prod[job]["enabled"] is True
        assert prod[job]["useHelmHooks"] is False
        assert prod[job]["applyCustomEnv"] is False


def test_create_user_waits_for_the_migrated_schema(prod):
    # Both Jobs start together (no hooks): the user is created only once the schema is migrated,
    # checked with Airflow's own command, parsed here by Airflow's CLI parser.
    import shlex

    from airflow.cli import cli_parser

    script = prod["createUserJob"]["args"][2]
    wait, create = script.split(" && ", 1)
    assert create.startswith("exec airflow users create ")
    args = cli_parser.get_parser().parse_args(shlex.split(wait)[1:])
    assert args.func.__name__ == "check_migrations"
    assert args.migration_wait_timeout == 1200


def test_no_default_admin_password(prod):
    job = prod["createUserJob"]
    assert job["defaultUser"]["password"] == ""
    password = next(e for e in job["env"] if e["name"] == "AIRFLOW_ADMIN_PASSWORD")
    assert password == {
        "name": "AIRFLOW_ADMIN_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "airflow-admin", "key": "password"}},
    }
    assert '--password "$AIRFLOW_ADMIN_PASSWORD"' in job["args"][2]
    assert "admin/admin" not in json.dumps(prod)


def test_prod_runs_every_component_active_active_with_budgets(prod):
    for component in COMPONENTS:
        section = prod[component]
        assert section["replicas"] >= 2, component
        assert section["podDisruptionBudget"] == {"enabled": True, "config": {"maxUnavailable": 1}}, component
    assert prod["dagProcessor"]["enabled"] is True


def test_dev_runs_one_of_each(dev):
    for component in COMPONENTS:
        assert dev[component]["replicas"] == 1, component
        assert dev[component]["podDisruptionBudget"]["enabled"] is True


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_component_has_requests_limits_and_runs_on_the_system_group(stack, dev, prod):
    values = {"dev": dev, "prod": prod}[stack]
    sections = [values[c] for c in COMPONENTS] + [
        values["workers"], values["statsd"], values["migrateDatabaseJob"], values["createUserJob"],
    ]
    for section in sections:
        assert set(section["resources"]) == {"requests", "limits"}
        assert set(section["resources"]["requests"]) == {"cpu", "memory"}
        assert section["nodeSelector"] == {"workload": "system"}
        assert section["tolerations"] == [SYSTEM_TOLERATION]
    assert values["nodeSelector"] == {"workload": "system"}
    assert values["pgbouncer"]["metricsExporterSidecar"]["resources"]["limits"]
    assert values["dags"]["gitSync"]["resources"]["limits"]


def test_log_components_use_irsa_service_accounts(prod):
    accounts = {
        "scheduler": prod["scheduler"]["serviceAccount"],
        "api_server": prod["apiServer"]["serviceAccount"],
        "triggerer": prod["triggerer"]["serviceAccount"],
        "dag_processor": prod["dagProcessor"]["serviceAccount"],
        "worker": prod["workers"]["kubernetes"]["serviceAccount"],
    }
    for component, account in accounts.items():
        assert account["annotations"] == {IRSA_ANNOTATION: ROLE_ARNS[component]}
        assert account["name"] == f"airflow-{component.replace('_', '-')}"
    # The deprecated worker account is never created and names the same account; creating the
    # task pods' account there instead would render none in chart 1.22 (apache/airflow#66598).
    assert prod["workers"]["serviceAccount"] == {"create": False, "name": "airflow-worker"}
    assert prod["workers"]["kubernetes"]["serviceAccount"]["create"] is True


def test_remote_logging_to_the_bucket_prefix_and_nothing_local(prod):
    logging = prod["config"]["logging"]
    assert logging["remote_logging"] == "True"
    assert logging["remote_base_log_folder"] == "s3://offline-task-logs/airflow/task-logs"
    assert logging["remote_log_conn_id"] == "aws_task_logs"
    assert logging["delete_local_logs"] == "True"
    assert prod["logs"] == {"persistence": {"enabled": False}}
    assert prod["triggerer"]["persistence"] == {"enabled": False}
    conn = next(e for e in prod["env"] if e["name"] == "AIRFLOW_CONN_AWS_TASK_LOGS")
    assert json.loads(conn["value"]) == {"conn_type": "aws", "extra": {"region_name": "eu-west-1"}}


def test_pgbouncer_pools_come_from_the_instance_class(prod, dev):
    assert prod["pgbouncer"]["enabled"] is True
    assert prod["pgbouncer"]["configSecretName"] == "airflow-pgbouncer-config"
    # The chart ignores pgbouncer.sslmode once configSecretName is set: TLS is in our pgbouncer.ini.
    assert "sslmode" not in prod["pgbouncer"]
    assert prod["pgbouncer"]["maxClientConn"] == 180
    assert prod["pgbouncer"]["metadataPoolSize"] == 180
    assert prod["pgbouncer"]["resultBackendPoolSize"] == 0
    # dev: 1 scheduler, 1 API server x 1 worker, 1 triggerer, 1 DAG processor, 2 jobs = 6 processes
    assert dev["pgbouncer"]["maxClientConn"] == 90
    assert prod["config"]["database"] == {"sql_alchemy_pool_size": 5, "sql_alchemy_max_overflow": 10}


def test_dags_from_git_with_a_deploy_key_secret(prod, dev):
    git = prod["dags"]["gitSync"]
    assert git["enabled"] is True
    assert git["repo"] == "git@github.com:example-org/batch-dags.git"
    assert git["branch"] == git["ref"] == "release"
    assert git["subPath"] == "dags"
    assert git["sshKeySecret"] == "airflow-git-ssh"
    assert git["knownHosts"].startswith("github.com ssh-ed25519 ")
    assert "sshKey" not in git
    assert dev["dags"]["gitSync"]["branch"] == "main"
    assert "images" not in prod


def test_dags_baked_into_an_image():
    settings = airflow_settings(load_stack_file(stack_file("dev")))
    from dataclasses import replace

    baked = replace(settings, dags=ImageDags(repository="123456789012.dkr.ecr.eu-west-1.amazonaws.com/dags", tag="abc123"))
    values = airflow_values(
        baked, pool_plan(baked, "db.t4g.medium"), task_log_bucket="b", role_arns=ROLE_ARNS, image=IMAGE
    )
    assert values["dags"] == {"gitSync": {"enabled": False}}
    # The DAG image (built FROM the platform image) runs everywhere, task pods included.
    assert values["defaultAirflowRepository"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dags"
    assert values["defaultAirflowTag"] == "abc123"
    assert "images" not in values


def test_notifications_come_from_secrets_manager(prod):
    secrets = prod["config"]["secrets"]
    assert secrets["backend"] == "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    assert json.loads(secrets["backend_kwargs"]) == {
        "connections_prefix": "batch-platform/prod/airflow/connections",
        # tests/infra/test_connection_lookups.py runs the backend with these kwargs.
        "connections_lookup_pattern": "^(?!(aws_task_logs|kubernetes_default)$)",
        "variables_prefix": None,
        "config_prefix": None,
        "region_name": "eu-west-1",
    }


def test_metrics_go_to_the_cloudwatch_agent_not_to_the_charts_exporter(prod, dev):
    for values in (prod, dev):
        metrics = values["config"]["metrics"]
        assert metrics["statsd_on"] == "True"
        assert metrics["statsd_host"] == "cloudwatch-agent.amazon-cloudwatch.svc.cluster.local"
        assert metrics["statsd_port"] == 8125
        assert metrics["legacy_names_on"] == "False"
        assert values["statsd"]["enabled"] is False


def test_api_base_url_from_the_hostname(prod, dev):
    assert prod["config"]["api"]["base_url"] == "https://airflow.batch.example.com"
    assert "base_url" not in dev["config"]["api"]


def _walk(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,), value
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, path + (i,))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_value_in_the_values(stack, dev, prod):
    values = {"dev": dev, "prod": prod}[stack]
    inline_secret_keys = {
        "fernetKey", "jwtSecret", "apiSecretKey", "webserverSecretKey", "sshKey", "metadataConnection",
        "keytabBase64Content", "brokerUrl",
    }
    for path, value in _walk(values):
        assert path[-1] not in inline_secret_keys, path
        if path[-1] == "password":
            assert value == "", path
    # The only env values are plain (no credentials); secrets arrive through secretKeyRef.
    assert [e["name"] for e in values["env"]] == ["AIRFLOW_CONN_AWS_TASK_LOGS"]
    # Every secret-bearing setting is a reference to a Kubernetes Secret.
    assert all(isinstance(prod[k], str) for k in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName"))


def test_missing_role_arn_is_an_error():
    settings = airflow_settings(load_stack_file(stack_file("dev")))
    with pytest.raises(ValueError, match=r"missing IAM role ARNs for \['worker'\]"):
        airflow_values(
            settings,
            pool_plan(settings, "db.t4g.medium"),
            task_log_bucket="b",
            role_arns={c: "arn" for c in IRSA_COMPONENTS if c != "worker"},
            image=IMAGE,
        )


@pytest.mark.parametrize(
    "path",
    [
        ("schedular",),  # a typo at the top level, which the chart's own schema lets through
        ("scheduler", "replica"),
        ("workers", "kubernetes", "serviceAcount"),
        ("config", "logginng"),
        ("pgbouncer", "metricsExporterSidecar", "statsSecret"),
    ],
)
def test_model_rejects_unknown_keys_anywhere(prod, path):
    broken = copy.deepcopy(prod)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "typo"
    with pytest.raises(pydantic.ValidationError) as excinfo:
        ChartValues.model_validate(broken)
    assert any(err["type"] == "extra_forbidden" and err["loc"][-1] == path[-1] for err in excinfo.value.errors())


def test_model_rejects_helm_hooks_and_missing_budgets(prod):
    broken = copy.deepcopy(prod)
    broken["migrateDatabaseJob"]["useHelmHooks"] = True
    del broken["scheduler"]["podDisruptionBudget"]
    with pytest.raises(pydantic.ValidationError) as excinfo:
        ChartValues.model_validate(broken)
    locs = {tuple(err["loc"]) for err in excinfo.value.errors()}
    assert ("migrateDatabaseJob", "useHelmHooks") in locs
    assert ("scheduler", "podDisruptionBudget") in locs


def test_values_are_deterministic(prod):
    assert values_for("prod") == prod


def test_plugins_come_from_the_image_in_every_component(prod, dev):
    # A plugins folder in the git checkout would exist only where the chart mounts the DAGs: not in
    # the scheduler (a DAG processor runs) nor the API server, which deserialize the Jenkins timetable.
    # tests/dags/test_components_without_dag_folder.py deserializes one under this configuration.
    for values in (prod, dev):
        assert "plugins_folder" not in values["config"]["core"]
    assert prod["dags"]["gitSync"]["subPath"] == "dags"


def test_an_image_keeps_airflows_default_plugins_folder():
    settings = airflow_settings(load_stack_file(stack_file("prod")))
    baked = dataclasses.replace(settings, dags=ImageDags(repository="123456789012.dkr.ecr.eu-west-1.amazonaws.com/dags", tag="1.0.0"))
    values = airflow_values(
        baked, pool_plan(baked, "db.m7g.large"), task_log_bucket="b", role_arns=ROLE_ARNS, image=IMAGE
    )
    assert "plugins_folder" not in values["config"]["core"]


DIGEST = "sha256:" + "ab" * 32


def test_a_known_digest_pins_every_airflow_container_and_the_task_pods(monkeypatch):
    settings = airflow_settings(load_stack_file(stack_file("prod")))
    pinned = ImageRef(IMAGE.repository, IMAGE.tag, DIGEST)
    values = airflow_values(
        settings, pool_plan(settings, "db.m7g.large"), task_log_bucket="b", role_arns=ROLE_ARNS, image=pinned
    )
    # The chart's own containers: defaultAirflowDigest takes precedence over the tag.
    assert (values["defaultAirflowRepository"], values["defaultAirflowTag"], values["defaultAirflowDigest"]) == (
        IMAGE.repository, IMAGE.tag, DIGEST,
    )
    # Task pods: the provider's own KubeConfig builds their image from the two executor options (the
    # chart renders worker_container_repository from defaultAirflowRepository; the tag is ours).
    from airflow.providers.cncf.kubernetes.kube_config import KubeConfig

    executor = values["config"]["kubernetes_executor"]
    monkeypatch.setenv("AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_REPOSITORY", values["defaultAirflowRepository"])
    monkeypatch.setenv("AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_TAG", executor["worker_container_tag"])
    assert KubeConfig().kube_image == f"{IMAGE.repository}:{IMAGE.tag}@{DIGEST}"


def test_without_a_digest_the_image_goes_by_tag(prod):
    assert "defaultAirflowDigest" not in prod
    assert "worker_container_tag" not in prod["config"]["kubernetes_executor"]


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "ab" * 16, "sha256:" + "AB" * 32, ""])
def test_a_malformed_digest_is_refused(digest):
    with pytest.raises(ValueError, match="expected sha256:<64 hex digits>"):
        ImageRef(IMAGE.repository, IMAGE.tag, digest)


def test_without_the_image_the_chart_jobs_are_left_out_until_it_exists():
    """A Job's pod template cannot change once created: the Jobs wait for the update that pins the digest."""
    settings = airflow_settings(load_stack_file(stack_file("dev")))
    kwargs = dict(task_log_bucket="b", role_arns=ROLE_ARNS, image=IMAGE)
    first = airflow_values(settings, pool_plan(settings, "db.t4g.medium"), image_available=False, **kwargs)
    assert first["migrateDatabaseJob"]["enabled"] is False and first["createUserJob"]["enabled"] is False
    later = airflow_values(settings, pool_plan(settings, "db.t4g.medium"), **kwargs)
    assert later["migrateDatabaseJob"]["enabled"] is True and later["createUserJob"]["enabled"] is True
    # Nothing else differs: the Jobs' own settings are there, ready for the next update.
    first["migrateDatabaseJob"]["enabled"] = first["createUserJob"]["enabled"] = True
    assert first == later

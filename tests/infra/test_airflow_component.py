"""The Airflow and BatchNamespace components, recorded under the offline mocks for dev and prod.

A small program creates a Kubernetes provider and passes realistic fake outputs of the cluster and
data components to ``stacks.airflow_wiring.build_airflow`` with the real stack files' config.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest

from infra import k8s_objects
from infra.irsa import IRSA_ANNOTATION
from stacks.airflow_image import AirflowImage
from stacks.airflow_wiring import build_airflow
from stacks.config import StackConfigError, load_stack_file, stack_file
from stacks.offline import Plan, record

RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET = "kubernetes:core/v1:Secret"
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/OFFLINE"
ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/OFFLINE"
DB_PASSWORD = "offline-db-p@ss"
FERNET = "offline-fernet-key-value"
API_KEY = "offline-api-secret-key-value"
JWT = "offline-jwt-secret-value"
INSTANCE_CLASS = {"dev": "db.t4g.medium", "prod": "db.m7g.large"}
IMAGE_REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/batch-platform/test/airflow"
IMAGE_TAG = "3.2.2-0123456789ab"


def _program(stack: str):
    config = load_stack_file(stack_file(stack))

    def program():
        provider = k8s.Provider("cluster", kubeconfig="apiVersion: v1\nkind: Config\n")
        return build_airflow(
            config,
            stack,
            kubernetes_provider=provider,
            oidc_provider_arn=OIDC_ARN,
            oidc_issuer=ISSUER,
            database_instance_class=INSTANCE_CLASS[stack],
            database_port=5432,
            metadata_connection_uri=pulumi.Output.secret(
                f"postgresql://airflow:{DB_PASSWORD.replace('@', '%40')}@offline-db.eu-west-1.rds.amazonaws.com:5432/airflow?sslmode=require"
            ),
            fernet_key=pulumi.Output.secret(FERNET),
            api_secret_key=pulumi.Output.secret(API_KEY),
            jwt_secret=pulumi.Output.secret(JWT),
            task_log_bucket_name="offline-task-logs",
            task_log_bucket_arn="arn:aws:s3:::offline-task-logs",
            image=AirflowImage(IMAGE_REPOSITORY, IMAGE_TAG, True, pulumi.Output.from_input(IMAGE_REPOSITORY)),
        )

    return program


@pytest.fixture(scope="module")
def plans() -> dict[str, Plan]:
    return {stack: record(_program(stack), stack=stack) for stack in ("dev", "prod")}


@pytest.fixture(params=["dev", "prod"])
def plan(request, plans) -> Plan:
    return plans[request.param]


def values(plan: Plan) -> dict:
    return plan.one(RELEASE).inputs["values"]


def test_release_of_the_pinned_official_chart(plan):
    release = plan.one(RELEASE)
    assert release.input("chart") == "airflow"
    assert release.input("version") == "1.22.0"
    assert release.input("repositoryOpts.repo") == "https://airflow.apache.org"
    assert release.input("namespace") == "airflow"
    assert release.input("name") == "airflow"
    assert release.input("createNamespace") is False
    assert release.parent_name == f"{plan.stack}-airflow"
    # The release waits for its Secrets and namespace.
    dependencies = set(release.options["dependsOn"])
    assert {r.urn for r in plan.of_type(SECRET) if r.input("metadata.namespace") == "airflow"} <= dependencies


def test_release_values_per_tier(plans):
    prod, dev = values(plans["prod"]), values(plans["dev"])
    for component in ("scheduler", "apiServer", "triggerer", "dagProcessor"):
        assert prod[component]["replicas"] >= 2
        assert dev[component]["replicas"] == 1
        assert prod[component]["podDisruptionBudget"]["enabled"] is True
    assert prod["executor"] == dev["executor"] == "KubernetesExecutor"
    assert prod["migrateDatabaseJob"]["useHelmHooks"] is False
    assert prod["createUserJob"]["applyCustomEnv"] is False
    # Task logs stream to the stack's CloudWatch group (infra/task_log_group.py; tests/infra/test_task_log_group.py).
    assert prod["config"]["logging"]["remote_base_log_folder"] == (
        "cloudwatch://arn:aws:logs:eu-west-1:123456789012:log-group:/batch-platform/prod/airflow/task-logs"
    )
    assert prod["pgbouncer"]["metadataPoolSize"] == 180
    assert dev["pgbouncer"]["replicas"] == 1


def test_values_carry_the_irsa_role_arns(plan):
    v = values(plan)
    roles = {r.name: r for r in plan.of_type(ROLE)}
    expected = {
        "scheduler": v["scheduler"],
        "api-server": v["apiServer"],
        "triggerer": v["triggerer"],
        "dag-processor": v["dagProcessor"],
        "worker": v["workers"]["kubernetes"],
    }
    for component, section in expected.items():
        name = f"{plan.stack}-airflow-{component}"
        assert name in roles
        assert section["serviceAccount"]["annotations"][IRSA_ANNOTATION] == f"arn:aws:iam::123456789012:role/{name}"


def test_each_role_trusts_exactly_its_service_account(plan):
    for role in plan.of_type(ROLE):
        trust = json.loads(role.input("assumeRolePolicy"))
        condition = trust["Statement"][0]["Condition"]["StringEquals"]
        subject = condition["oidc.eks.eu-west-1.amazonaws.com/id/OFFLINE:sub"]
        if role.name.startswith(f"{plan.stack}-airflow-"):
            component = role.name.removeprefix(f"{plan.stack}-airflow-")
            assert subject == f"system:serviceaccount:airflow:airflow-{component}"
        else:
            assert subject == "system:serviceaccount:batch-jobs:batch-job-runner"


def test_log_policies_are_scoped_to_the_bucket_prefix(plan):
    from infra.airflow_values import IRSA_COMPONENTS

    # The components' own policies (the task-log group and the SSO secret grant theirs apart).
    own = {f"{plan.stack}-airflow-{c.replace('_', '-')}" for c in IRSA_COMPONENTS}
    policies = {p.name: json.loads(p.input("policy")) for p in plan.of_type(POLICY) if p.name in own}
    assert len(policies) == len(own)
    for name, doc in policies.items():
        statements = {s["Sid"]: s for s in doc["Statement"]}
        objects, listing, connections = statements["TaskLogObjects"], statements["TaskLogListing"], statements["Connections"]
        assert objects["Resource"] == "arn:aws:s3:::offline-task-logs/airflow/task-logs/*"
        # No s3:prefix condition: HeadObject of a new log needs ListBucket without one
        # (tests/infra/test_task_log_policy.py runs the S3 task handler against this policy).
        assert listing == {
            "Sid": "TaskLogListing",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::offline-task-logs",
        }
        assert connections["Resource"] == (
            f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:batch-platform/{plan.stack}/airflow/connections/*"
        )
        assert connections["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        if name.endswith("api-server"):
            assert objects["Action"] == ["s3:GetObject"]  # the UI only reads logs
        else:
            assert objects["Action"] == ["s3:GetObject", "s3:PutObject"]
        assert "*" not in json.dumps([s["Action"] for s in doc["Statement"]])


def test_notification_connections_live_in_secrets_manager(plan):
    names = sorted(r.input("name") for r in plan.of_type("aws:secretsmanager/secret:Secret"))
    prefix = f"batch-platform/{plan.stack}/airflow/connections"
    git_key = f"batch-platform/{plan.stack}/airflow/git-ssh-key"  # also valued by an operator
    # The OIDC client secret (valued by an operator too) where SSO is on (prod's stack file).
    sso = [f"batch-platform/{plan.stack}/airflow/sso-client-secret"] if plan.stack == "prod" else []
    assert names == sorted([f"{prefix}/slack_notifications", f"{prefix}/smtp_notifications", git_key, *sso])
    for secret in plan.of_type("aws:secretsmanager/secret:Secret"):
        assert "secretString" not in secret.inputs  # values are set by an operator, never in code


def test_kubernetes_secrets_hold_pulumi_secrets_only(plan):
    secrets = {r.input("metadata.name"): r for r in plan.of_type(SECRET)}
    assert set(secrets) == {
        "airflow-metadata", "airflow-fernet-key", "airflow-api-secret-key", "airflow-jwt-secret",
        "airflow-pgbouncer-config", "airflow-pgbouncer-stats", "airflow-admin", "airflow-git-ssh",
    }
    for secret in secrets.values():
        assert secret.inputs["stringData"] == "[secret]"
        assert "stringData" in secret.secret_paths
    raw = {name: r.raw_inputs["stringData"] for name, r in secrets.items()}
    assert raw["airflow-fernet-key"] == {"fernet-key": FERNET}
    assert raw["airflow-api-secret-key"] == {"api-secret-key": API_KEY}
    assert raw["airflow-jwt-secret"] == {"jwt-secret": JWT}
    assert raw["airflow-metadata"]["connection"] == (
        "postgresql://airflow:offline-db-p%40ss@airflow-pgbouncer.airflow.svc.cluster.local:6543/airflow-metadata"
    )
    ini = raw["airflow-pgbouncer-config"]["pgbouncer.ini"]
    assert "host=offline-db.eu-west-1.rds.amazonaws.com port=5432 dbname=airflow" in ini
    assert "server_tls_sslmode = require" in ini
    assert raw["airflow-pgbouncer-config"]["users.txt"] == f'"airflow" "{DB_PASSWORD}"\n'
    # The admin password is the generated RandomPassword's result, never the chart's admin/admin.
    password_length = int(plan.one("random:index/randomPassword:RandomPassword").input("length"))
    assert len(raw["airflow-admin"]["password"]) == password_length >= 32
    assert raw["airflow-admin"]["password"] != "admin"


def test_no_secret_value_reaches_the_release_or_any_plain_input(plan):
    everything = json.dumps([r.inputs for r in plan.resources]) + json.dumps(plan.outputs)
    for secret in (DB_PASSWORD, "offline-db-p%40ss", FERNET, API_KEY, JWT):
        assert secret not in everything
    assert plan.one(RELEASE).secret_paths == []


def test_directly_created_kubernetes_objects_match_the_schema(plan):
    created = [r for r in plan.resources if r.type.startswith("kubernetes:") and r.type != RELEASE]
    assert len(created) >= 17
    for resource in created:
        k8s_objects.validate(resource.raw_inputs, load_stack_file(stack_file("prod")).cluster.kubernetes_version)


def test_ui_is_private_behind_tls_in_prod(plans):
    services = plans["prod"].of_type("kubernetes:core/v1:Service")
    assert len(services) == 1
    service = services[0]
    annotations = service.input("metadata.annotations")
    lb = "service.beta.kubernetes.io/aws-load-balancer-"
    assert annotations[f"{lb}internal"] == "true"
    assert annotations[f"{lb}scheme"] == "internal"
    assert annotations[f"{lb}type"] == "nlb"
    assert annotations[f"{lb}ssl-cert"].startswith("arn:aws:acm:eu-west-1:")
    assert annotations[f"{lb}ssl-ports"] == "https"
    spec = service.input("spec")
    assert spec["type"] == "LoadBalancer"
    assert spec["ports"] == [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8080}]
    assert spec["selector"] == {"tier": "airflow", "component": "api-server", "release": "airflow"}
    assert plans["prod"].outputs["airflow_url"] == "https://airflow.batch.example.com"


def test_dev_has_no_load_balancer(plans):
    assert plans["dev"].of_type("kubernetes:core/v1:Service") == []
    assert plans["dev"].outputs["airflow_url"] == "http://airflow-api-server.airflow.svc.cluster.local:8080"


def test_batch_namespace_objects(plan):
    ns = {r.input("metadata.name"): r for r in plan.of_type("kubernetes:core/v1:Namespace")}
    assert ns["batch-jobs"].input("metadata.labels")["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["airflow"].input("metadata.labels")["pod-security.kubernetes.io/enforce"] == "restricted"
    account = plan.one("kubernetes:core/v1:ServiceAccount")
    assert account.input("metadata.name") == "batch-job-runner"
    assert account.input("metadata.annotations")[IRSA_ANNOTATION] == (
        f"arn:aws:iam::123456789012:role/{plan.stack}-batch-job-runner"
    )
    binding = plan.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert binding.input("metadata.namespace") == "batch-jobs"
    assert [s["name"] for s in binding.input("subjects")] == ["airflow-worker", "airflow-triggerer"]
    assert plan.one("kubernetes:core/v1:ResourceQuota").input("metadata.namespace") == "batch-jobs"
    assert plan.one("kubernetes:core/v1:LimitRange").input("metadata.namespace") == "batch-jobs"
    policies = sorted(
        p.input("metadata.name")
        for p in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.input("metadata.namespace") == "batch-jobs"
    )
    assert policies == ["allow-dns", "allow-https-egress", "default-deny-all"]
    # Every Kubernetes object goes through the cluster's provider.
    for r in plan.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider and "pulumi:providers:kubernetes::cluster::" in r.provider
    assert plan.outputs["batch_namespace"] == "batch-jobs"
    assert plan.outputs["airflow_namespace"] == "airflow"


def test_dev_quota_is_smaller(plans):
    assert plans["dev"].one("kubernetes:core/v1:ResourceQuota").input("spec.hard")["pods"] == "30"
    assert plans["prod"].one("kubernetes:core/v1:ResourceQuota").input("spec.hard")["pods"] == "100"


def test_an_instance_class_too_small_fails_before_registering(plans):
    config = load_stack_file(stack_file("prod"))
    registered = []

    def program():
        provider = k8s.Provider("cluster", kubeconfig="x")
        registered.append(provider)
        return build_airflow(
            config, "prod", kubernetes_provider=provider, oidc_provider_arn=OIDC_ARN, oidc_issuer=ISSUER,
            database_instance_class="db.z1.huge", database_port=5432, metadata_connection_uri="x",
            fernet_key="x", api_secret_key="x", jwt_secret="x", task_log_bucket_name="b", task_log_bucket_arn="a",
            image=AirflowImage(IMAGE_REPOSITORY, IMAGE_TAG, True, pulumi.Output.from_input(IMAGE_REPOSITORY)),
        )

    with pytest.raises(StackConfigError) as excinfo:
        record(program, stack="prod")
    assert str(excinfo.value).splitlines()[1] == (
        "  - Pulumi.prod.yaml: database.instance_class = \"db.z1.huge\": unknown RDS instance class 'db.z1.huge': "
        "its memory (and so its connection limit) is not in infra/pgbouncer.py RDS_INSTANCE_MEMORY_GIB; add it there"
    )


def test_url_is_the_load_balancer_address_without_a_hostname(monkeypatch):
    config = load_stack_file(stack_file("prod"))
    ui = config.airflow.ui.model_copy(update={"hostname": None})
    config = config.model_copy(update={"airflow": config.airflow.model_copy(update={"ui": ui})})
    monkeypatch.setitem(globals(), "load_stack_file", lambda path: config)
    plan = record(_program("prod"), stack="prod")
    assert plan.outputs["airflow_url"] == "https://offline-placeholder-prod-airflow-ui.elb.eu-west-1.amazonaws.com"

"""The batch-jobs runtime objects (pure manifests), validated against the cluster's Kubernetes schema."""

from __future__ import annotations

import kubernetes_validate
import pytest

from infra import batch_namespace as bn
from infra import k8s_objects
from stacks.airflow_wiring import batch_settings
from stacks.config import load_stack_file, stack_file

ROLE = "arn:aws:iam::123456789012:role/offline-batch"


@pytest.fixture(scope="module")
def prod_settings() -> bn.BatchNamespaceSettings:
    return batch_settings(load_stack_file(stack_file("prod")), database_port=5432)


def by_name(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_every_object_matches_the_kubernetes_schema(prod_settings):
    with_db = bn.BatchNamespaceSettings(**{**prod_settings.__dict__, "database_cidrs": ("10.20.0.0/24",), "database_port": 5432})
    for obj in bn.batch_objects(with_db, ROLE):
        k8s_objects.validate(obj, prod_settings.kubernetes_version)


def test_schema_validation_catches_a_bad_object(prod_settings):
    role = bn.launcher_role_object(prod_settings)
    role["rules"][0]["verb"] = ["get"]  # typo: verbs
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s_objects.validate(role, prod_settings.kubernetes_version)


def test_namespace_enforces_the_restricted_standard(prod_settings):
    labels = bn.namespace_object(prod_settings)["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == f"v{prod_settings.kubernetes_version}"
    assert bn.namespace_object(prod_settings)["metadata"]["name"] == "batch-jobs"


def test_job_service_account_has_the_role_and_no_api_token(prod_settings):
    account = bn.service_account_object(prod_settings, ROLE)
    assert account["metadata"]["name"] == "batch-job-runner"
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE}
    assert account["automountServiceAccountToken"] is False


def test_airflow_task_pods_and_triggerer_may_launch_jobs(prod_settings):
    role = bn.launcher_role_object(prod_settings)
    rules = {(tuple(r["apiGroups"]), r["resources"][0]): set(r["verbs"]) for r in role["rules"]}
    assert rules[(("batch",), "jobs")] == {"create", "get", "list", "watch", "patch", "delete"}
    assert rules[(("batch",), "jobs/status")] >= {"get", "watch"}
    # patch: the provider labels a followed pod already_checked (tests/dags/test_job_launch.py).
    assert rules[(("",), "pods")] == {"get", "list", "watch", "patch", "delete"}
    assert rules[(("",), "pods/log")] == {"get"}
    assert rules[(("",), "pods/status")] == {"get"}
    assert rules[(("",), "events")] == {"get", "list", "watch"}
    binding = bn.launcher_binding_object(prod_settings)
    assert binding["metadata"]["namespace"] == "batch-jobs"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "airflow-job-launcher"}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "airflow-worker", "namespace": "airflow"},
        {"kind": "ServiceAccount", "name": "airflow-triggerer", "namespace": "airflow"},
    ]


def test_binding_without_launchers_is_an_error():
    with pytest.raises(ValueError, match="at least one Airflow service account"):
        bn.launcher_binding_object(bn.BatchNamespaceSettings())


def test_quota_and_limits(prod_settings):
    quota = bn.quota_object(prod_settings)["spec"]["hard"]
    assert quota == {
        "requests.cpu": "32", "requests.memory": "128Gi", "limits.cpu": "64", "limits.memory": "256Gi",
        "pods": "100", "count/jobs.batch": "200",
    }
    limits = bn.limit_range_object(prod_settings)["spec"]["limits"][0]
    assert limits["type"] == "Container"
    assert limits["defaultRequest"] == {"cpu": "500m", "memory": "1Gi"}
    assert limits["max"] == {"cpu": "8", "memory": "32Gi"}


def test_default_deny_then_dns_and_https_except_instance_metadata(prod_settings):
    policies = bn.network_policy_objects(prod_settings)
    deny = by_name(policies, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = by_name(policies, "NetworkPolicy", "allow-dns")["spec"]["egress"][0]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert dns["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
    https = by_name(policies, "NetworkPolicy", "allow-https-egress")["spec"]["egress"][0]
    assert https == {
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }
    # No policy allows ingress, and the database is closed unless asked for.
    assert all("ingress" not in p["spec"] for p in policies)
    assert [p["metadata"]["name"] for p in policies] == ["default-deny-all", "allow-dns", "allow-https-egress"]


def test_vpc_only_https_and_database_egress_when_asked():
    settings = bn.BatchNamespaceSettings(
        https_egress="vpc", vpc_cidr="10.20.0.0/16", database_cidrs=("10.20.1.0/24", "10.20.2.0/24"), database_port=5432,
        launchers=(bn.ServiceAccountRef("airflow", "airflow-worker"),),
    )
    policies = bn.network_policy_objects(settings)
    https = by_name(policies, "NetworkPolicy", "allow-https-egress")["spec"]["egress"][0]
    assert https["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
    db = by_name(policies, "NetworkPolicy", "allow-database-egress")["spec"]["egress"][0]
    assert db == {
        "to": [{"ipBlock": {"cidr": "10.20.1.0/24"}}, {"ipBlock": {"cidr": "10.20.2.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 5432}],
    }
    for obj in policies:
        k8s_objects.validate(obj, settings.kubernetes_version)


def test_database_egress_in_config_uses_the_database_subnets():
    config = load_stack_file(stack_file("dev"))
    config = config.model_copy(update={"batch": config.batch.model_copy(update={"database_egress": True})})
    settings = batch_settings(config, database_port=5432)
    # The database tier of infra.cidr.plan_subnets("10.10.0.0/16", 2).
    assert settings.database_cidrs == ("10.10.216.0/24", "10.10.217.0/24")
    assert settings.database_port == 5432


def test_each_role_object_is_a_fresh_copy(prod_settings):
    bn.launcher_role_object(prod_settings)["rules"][0]["verbs"].append("escalate")
    assert "escalate" not in bn.launcher_role_object(prod_settings)["rules"][0]["verbs"]

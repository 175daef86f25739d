"""The autoscaler's IAM policy is scoped to one cluster, and its Helm values discover exactly that cluster."""

import json

from infra.cluster_autoscaler import autoscaler_policy, autoscaler_values
from infra.irsa import IRSA_ANNOTATION

POLICY = json.loads(autoscaler_policy("batch-platform-prod", "eu-west-1", "123456789012"))
STATEMENTS = {s["Sid"]: s for s in POLICY["Statement"]}


def test_scaling_and_terminating_need_this_clusters_ownership_tag():
    scale = STATEMENTS["ScaleThisClustersNodeGroups"]
    assert sorted(scale["Action"]) == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert scale["Condition"] == {
        "StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/batch-platform-prod": "owned"}
    }


def test_no_statement_grants_a_mutating_action_without_the_condition():
    for statement in POLICY["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        mutating = [a for a in actions if a.split(":")[1].startswith(("Set", "Terminate", "Update", "Create", "Delete"))]
        if mutating:
            assert "Condition" in statement, statement


def test_only_describe_calls_are_on_every_resource():
    discover = STATEMENTS["Discover"]
    assert discover["Resource"] == "*"
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in discover["Action"])


def test_node_groups_can_be_described_only_in_this_cluster():
    assert STATEMENTS["DescribeThisClustersNodeGroups"]["Resource"] == (
        "arn:aws:eks:eu-west-1:123456789012:nodegroup/batch-platform-prod/*"
    )


def test_values_discover_this_clusters_asgs_and_run_on_the_system_group_with_its_irsa_role():
    values = autoscaler_values(
        cluster_name="c1", region="eu-west-1", role_arn="arn:aws:iam::123456789012:role/ca", image_tag="v1.35.2",
        service_account="cluster-autoscaler",
    )
    assert values["autoDiscovery"] == {
        "clusterName": "c1",
        "tags": ["k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/c1"],
    }
    assert values["rbac"]["serviceAccount"] == {
        "create": True,
        "name": "cluster-autoscaler",
        "annotations": {IRSA_ANNOTATION: "arn:aws:iam::123456789012:role/ca"},
    }
    assert values["nodeSelector"] == {"workload": "system"}
    assert values["tolerations"] == [{"key": "workload", "operator": "Equal", "value": "system", "effect": "NoSchedule"}]
    assert values["awsRegion"] == "eu-west-1" and values["image"] == {"tag": "v1.35.2"}

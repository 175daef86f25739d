"""The Cluster component on its own: private-only endpoint, no extra admins, percentage rolls."""

from __future__ import annotations

import pytest

from infra.cluster import Cluster, ClusterArgs, NodeGroupSpec
from infra.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from stacks.offline import record


def program():
    cluster = Cluster(
        "c",
        ClusterArgs(
            cluster_name="solo",
            vpc_id="vpc-1",
            private_subnet_ids=["subnet-a", "subnet-b"],
            node_groups=[
                NodeGroupSpec(role="system", instance_types=["m6i.large"], min_size=2, max_size=2, desired_size=2),
                NodeGroupSpec(
                    role="batch",
                    instance_types=["m6i.xlarge"],
                    min_size=0,
                    max_size=5,
                    desired_size=0,
                    capacity_type="SPOT",
                    max_unavailable_percentage=50,
                ),
            ],
        ),
    )
    return {"endpoint": cluster.endpoint, "releases": cluster.node_group_release_versions}


@pytest.fixture(scope="module")
def plan():
    return record(program, stack="component")


def test_without_public_cidrs_the_endpoint_is_private_only(plan):
    cluster = plan.one("eks:index:Cluster")
    assert cluster.input("endpointPrivateAccess") is True
    assert cluster.input("endpointPublicAccess") is False
    assert cluster.input("publicAccessCidrs") is None


def test_without_admin_roles_no_access_entry_is_created(plan):
    assert plan.one("eks:index:Cluster").input("accessEntries") == {}


def test_a_percentage_roll_is_sent_alone(plan):
    batch = plan.one("aws:eks/nodeGroup:NodeGroup", "c-batch")
    assert batch.input("updateConfig") == {"maxUnavailablePercentage": 50}
    assert batch.input("capacityType") == "SPOT"
    assert plan.one("aws:eks/nodeGroup:NodeGroup", "c-system").input("updateConfig") == {"maxUnavailable": 1}


def test_defaults_are_the_secure_ones(plan):
    cluster = plan.one("eks:index:Cluster")
    assert cluster.input("version") == "1.35"
    assert cluster.input("enabledClusterLogTypes") == ["api", "audit", "authenticator"]
    assert plan.one("aws:cloudwatch/logGroup:LogGroup").input("retentionInDays") == 365


def test_unsupported_kubernetes_version_is_refused_before_registration():
    with pytest.raises(ValueError, match="Kubernetes 1.29 has no pinned add-on versions; supported: 1.34, 1.35"):
        record(
            lambda: Cluster(
                "c", ClusterArgs(vpc_id="v", private_subnet_ids=[], node_groups=[], kubernetes_version="1.29")
            )
            and {},
            stack="component",
        )


def test_autoscaler_without_an_image_for_the_version_is_refused():
    with pytest.raises(ValueError, match="no Cluster Autoscaler image pinned for Kubernetes 1.29"):
        record(
            lambda: ClusterAutoscaler(
                "ca",
                ClusterAutoscalerArgs(
                    cluster_name="c", kubernetes_version="1.29", region="eu-west-1", oidc_provider_arn="a", oidc_issuer="i"
                ),
            )
            and {},
            stack="component",
        )

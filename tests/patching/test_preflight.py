"""Preflight checks before a roll, the PDB selector query, and the canary Job against the real schema."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra import k8s_objects
from infra.scheduling import BATCH, node_selector, toleration
from infra.versions import DEFAULT_KUBERNETES_VERSION
from stacks.patching.preflight import (
    BlockingPdb,
    CanarySpec,
    ClusterState,
    NodeGroupState,
    NodeState,
    canary_job,
    check,
    selector_string,
)

V = DEFAULT_KUBERNETES_VERSION
MINOR = int(V.split(".")[1])
TARGET = f"{V}.3-20260801"
CLUSTER = ClusterState("batch-platform-prod", "ACTIVE", V)
GROUP = NodeGroupState("system", "system-2026", "ACTIVE", f"{V}.3-20260720", V, 3, 3, 6)
NODES = [NodeState(f"ip-10-0-0-{i}", True, f"v{V}.3-eks-4dbc6fc") for i in range(3)]
PDB = BlockingPdb("airflow", "airflow-scheduler", 0, ("airflow-scheduler-0", "airflow-scheduler-1"))


def run(cluster=CLUSTER, group=GROUP, target=TARGET, updates=(), nodes=NODES, pdbs=(), unhealthy=(), force=False):
    return check(
        cluster,
        group,
        family="AL2023",
        target=target,
        updates_in_progress=list(updates),
        nodes=list(nodes),
        blocking_pdbs=list(pdbs),
        unhealthy_workloads=list(unhealthy),
        force=force,
    )


def test_a_healthy_cluster_may_roll():
    result = run()
    assert result.ok and result.problems == () and result.warnings == ()


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"cluster": replace(CLUSTER, status="UPDATING")}, "cluster batch-platform-prod is UPDATING, expected ACTIVE"),
        ({"cluster": replace(CLUSTER, health_issues=("Ec2SubnetInvalidConfiguration: x",))}, "health issue: Ec2SubnetInvalidConfiguration"),
        ({"group": replace(GROUP, status="DEGRADED")}, "node group system (system-2026) is DEGRADED"),
        ({"updates": ["VersionUpdate 1234 of node group batch-2026"]}, "an update is already in progress: VersionUpdate 1234"),
        ({"group": replace(GROUP, desired_size=7)}, "size bounds do not hold: min 3 <= desired 7 <= max 6"),
        ({"group": replace(GROUP, min_size=4)}, "size bounds do not hold: min 4 <= desired 3 <= max 6"),
        ({"target": f"1.{MINOR + 1}.0-20260801"}, "cannot run on the control plane"),
        ({"nodes": [NodeState("old", True, f"v1.{MINOR - 4}.9-eks-1")]}, "more than 3 minor versions behind"),
        ({"nodes": [NodeState("new", True, f"v1.{MINOR + 1}.0-eks-1")]}, "newer than the control plane"),
        ({"nodes": [NodeState("sick", False, f"v{V}.3-eks-1")]}, "node sick of node group system (system-2026) is not Ready"),
        ({"pdbs": [PDB]}, "PodDisruptionBudget airflow/airflow-scheduler allows 0 disruptions"),
        ({"unhealthy": ["Deployment airflow/airflow-scheduler has 1/2 ready replicas"]}, "Airflow is not healthy"),
    ],
)
def test_each_reason_not_to_roll_is_named(kwargs, expected):
    result = run(**kwargs)
    assert not result.ok
    assert any(expected in problem for problem in result.problems), result.problems


def test_a_kubelet_three_minors_behind_is_within_the_skew_policy():
    assert run(nodes=[NodeState("old", True, f"v1.{MINOR - 3}.9-eks-1")]).ok


def test_force_turns_a_blocking_pdb_into_a_warning_only():
    blocked = run(pdbs=[PDB])
    assert "set cluster.patching.force: true" in blocked.problems[0]
    forced = run(pdbs=[PDB], force=True)
    assert forced.ok and "cluster.patching.force is on" in forced.warnings[0]
    # Force is about budgets only: everything else still stops the roll.
    assert not run(pdbs=[PDB], force=True, updates=["x"]).ok


def test_selector_string_is_the_api_query_of_a_label_selector():
    assert selector_string(None) == ""
    assert selector_string({"matchLabels": {"component": "scheduler", "release": "airflow"}}) == "component=scheduler,release=airflow"
    assert (
        selector_string(
            {
                "match_labels": {"a": "1"},
                "match_expressions": [
                    {"key": "tier", "operator": "In", "values": ["x", "y"]},
                    {"key": "env", "operator": "NotIn", "values": ["test"]},
                    {"key": "app", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ],
            }
        )
        == "a=1,tier in (x,y),env notin (test),app,!legacy"
    )
    with pytest.raises(ValueError, match="operator 'Gt'"):
        selector_string({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})


def test_the_canary_job_is_valid_and_lands_on_the_batch_group():
    job = canary_job(CanarySpec(namespace="batch-jobs", name="node-patching-canary-1-35-3", image="busybox:1.37.0", timeout_seconds=1200))
    k8s_objects.validate(job, V)  # the real schema of the cluster's version, strict
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == node_selector(BATCH) and pod["tolerations"] == [toleration(BATCH)]
    assert job["spec"]["activeDeadlineSeconds"] == 1200 and job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"


def test_the_canary_pod_meets_the_restricted_pod_security_standard():
    # The controls of the restricted level (kubernetes.io, "Pod Security Standards"), which the batch
    # namespace enforces: a pod missing one is refused by the Job controller (FailedCreate).
    pod = canary_job(CanarySpec(namespace="batch-jobs", name="c", image="busybox", timeout_seconds=60))["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] in ("RuntimeDefault", "Localhost")
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
    assert all(set(volume) - {"name"} <= allowed_volumes for volume in pod["volumes"])
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"]
        assert "limits" in container["resources"] and "requests" in container["resources"]

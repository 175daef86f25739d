"""Finding 4 of issue 11: raising min_size above the desired size the state holds works without a hand step."""

from __future__ import annotations

import pytest

from infra.node_scaling import IGNORED_DESIRED_SIZE, ScalingDecision, Sizes, group_of_role, scaling_decision
from stacks.offline import canned, run_plan

CLUSTER = "batch-platform-dev"


@pytest.mark.parametrize(
    "wanted, live, decision",
    [
        # A new group starts at the stack file's size, then belongs to the autoscaler.
        (Sizes(2, 3, 2), None, ScalingDecision(2, True)),
        # Bounds unchanged: the autoscaler's size (here 3) is not touched.
        (Sizes(2, 3, 2), Sizes(2, 3, 3), ScalingDecision(2, True)),
        # min raised above the live size: the live size moves up to the new minimum.
        (Sizes(3, 6, 3), Sizes(2, 6, 2), ScalingDecision(3, False)),
        # min raised but the autoscaler is above it already: its size is kept.
        (Sizes(3, 6, 3), Sizes(2, 6, 5), ScalingDecision(5, False)),
        # max lowered below the live size: down to the new maximum.
        (Sizes(0, 2, 0), Sizes(0, 5, 4), ScalingDecision(2, False)),
    ],
)
def test_scaling_decision(wanted, live, decision):
    assert scaling_decision(wanted, live) == decision


def test_group_of_role_takes_the_newest_of_a_prefix():
    names = ["batch-20260101000000000000000001", "system-20250101000000000000000001", "system-20260101000000000000000002"]
    assert group_of_role(names, "system-") == "system-20260101000000000000000002"
    assert group_of_role(names, "gpu-") is None


def live_cluster(system: tuple[int, int, int], batch: tuple[int, int, int]) -> dict:
    return canned.clusters_found(
        {CLUSTER: {"tags": {}, "node_groups": {"system-offline-1": system, "batch-offline-1": batch}}}
    )


def system_group(plan):
    return plan.one("aws:eks/nodeGroup:NodeGroup", "dev-cluster-system")


def test_min_size_raise_sends_a_consistent_desired_size(stack_copy):
    """Before the fix the desired size stayed ignored, so Pulumi sent the old one (2) with min 3: EKS
    refuses it. The stack file's desired_size must lie within the bounds, so it is raised too."""
    root = stack_copy(
        "dev", {"cluster.node_groups.system.min_size": 3, "cluster.node_groups.system.desired_size": 3}
    )
    plan = run_plan("dev", root, invokes=live_cluster((2, 3, 2), (0, 3, 0)))
    group = system_group(plan)
    assert group.input("scalingConfig") == {"minSize": 3, "maxSize": 3, "desiredSize": 3}
    assert IGNORED_DESIRED_SIZE not in group.options["ignoreChanges"]


def test_unchanged_bounds_leave_the_desired_size_to_the_autoscaler():
    plan = run_plan("dev", invokes=live_cluster((2, 3, 3), (0, 3, 1)))
    for role in ("system", "batch"):
        group = plan.one("aws:eks/nodeGroup:NodeGroup", f"dev-cluster-{role}")
        assert group.options["ignoreChanges"] == [IGNORED_DESIRED_SIZE]

"""Finding 1 of issue 11: the cluster creator already has an access entry (EKS bootstrap), never a second one."""

from __future__ import annotations

import pytest

from infra.cluster_access import CREATOR_TAG, admin_entries, creator_tag_value, principal_key
from stacks.offline import canned, run_plan

ADMIN = "arn:aws:iam::111122223333:role/batch-platform-admin"
SESSION = "arn:aws:sts::111122223333:assumed-role/batch-platform-admin/ci-run-42"
OTHER = "arn:aws:sts::111122223333:assumed-role/someone-else/alice"
CLUSTER = "batch-platform-dev"


def entries(plan) -> dict:
    return plan.one("eks:index:Cluster", f"{plan.stack}-cluster-eks").input("accessEntries")


def principals(plan) -> set[str]:
    return {entry["principalArn"] for entry in entries(plan).values()}


@pytest.mark.parametrize(
    "arn, key",
    [
        (SESSION, "111122223333:role/batch-platform-admin"),
        (ADMIN, "111122223333:role/batch-platform-admin"),
        # An SSO role has a path; its sessions do not show it. Same principal.
        ("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0a1b", "111122223333:role/AWSReservedSSO_Admin_0a1b"),
        ("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com", "111122223333:role/AWSReservedSSO_Admin_0a1b"),
        ("arn:aws:iam::111122223333:user/deployer", "111122223333:user/deployer"),
        ("arn:aws-us-gov:sts::111122223333:assumed-role/r/s", "111122223333:role/r"),
        ("not-an-arn", None),
    ],
)
def test_principal_key_names_the_role_behind_a_session(arn, key):
    assert principal_key(arn) == key


def test_the_creator_is_left_out_and_nobody_else():
    creator = creator_tag_value(principal_key(SESSION))
    other = "arn:aws:iam::111122223333:role/batch-platform-oncall"
    assert admin_entries([ADMIN, other], creator) == [other]
    assert admin_entries([ADMIN, other], None) == [ADMIN, other]
    # Same name in another account is another principal.
    assert admin_entries(["arn:aws:iam::444455556666:role/batch-platform-admin"], creator) == [
        "arn:aws:iam::444455556666:role/batch-platform-admin"
    ]


def test_first_up_by_an_admin_role_creates_no_duplicate_entry():
    """Before the fix the dev plan had an entry for the admin role running the update: 409 on a real account."""
    plan = run_plan("dev", invokes=canned.caller_identity(SESSION))
    assert ADMIN not in principals(plan)
    cluster = plan.one("eks:index:Cluster", "dev-cluster-eks")
    assert cluster.input("clusterTags") == {CREATOR_TAG: "111122223333:role/batch-platform-admin"}


def test_first_up_by_another_identity_keeps_every_admin_entry():
    plan = run_plan("dev", invokes=canned.caller_identity(OTHER))
    assert principals(plan) == {ADMIN}
    assert plan.one("eks:index:Cluster", "dev-cluster-eks").input("clusterTags") == {
        CREATOR_TAG: "111122223333:role/someone-else"
    }


def test_a_later_run_by_someone_else_keeps_the_creator_recorded_at_creation():
    """A person runs the second up after CI created the cluster: nothing may move between entries."""
    tags = {CREATOR_TAG: "111122223333:role/batch-platform-admin"}
    invokes = {**canned.caller_identity(OTHER), **canned.clusters_found({CLUSTER: {"tags": tags}})}
    plan = run_plan("dev", invokes=invokes)
    assert ADMIN not in principals(plan)
    assert plan.one("eks:index:Cluster", "dev-cluster-eks").input("clusterTags") == tags


def test_a_cluster_created_before_the_tag_keeps_all_its_entries():
    invokes = {**canned.caller_identity(SESSION), **canned.clusters_found({CLUSTER: {"tags": {}}})}
    plan = run_plan("dev", invokes=invokes)
    assert principals(plan) == {ADMIN}
    assert plan.one("eks:index:Cluster", "dev-cluster-eks").input("clusterTags") is None

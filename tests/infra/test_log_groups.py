"""Service log groups: retained on destroy, adopted again when AWS (re)created them meanwhile."""

from __future__ import annotations

import pytest

from infra.durable import log_group_exists
from infra.log_groups import service_log_group
from stacks.offline import canned, record

NAME = "/aws/eks/batch-platform-dev/cluster"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def program():
    import pulumi

    class Holder(pulumi.ComponentResource):
        def __init__(self):
            super().__init__("batch-platform:test:Holder", "holder")
            self.group = service_log_group("logs", name=NAME, retention_in_days=90, tags={"team": "batch"}, parent=self)

    holder = Holder()
    return {"name": holder.group.name}


def test_exact_names_only():
    assert log_group_exists([NAME, f"{NAME}-old"], NAME)
    assert not log_group_exists([f"{NAME}-old"], NAME)
    assert not log_group_exists([], NAME)


def test_first_creation_has_our_retention_and_is_retained():
    group = record(program).one(LOG_GROUP)
    assert group.input("name") == NAME
    assert group.input("retentionInDays") == 90
    assert group.options["retainOnDelete"] is True
    assert group.options["importId"] is None


@pytest.mark.parametrize("existing", [[NAME], [NAME, f"{NAME}-archive"]])
def test_a_group_left_by_the_service_is_adopted_with_our_settings(existing):
    plan = record(program, invokes=canned.log_groups_found(existing))
    group = plan.one(LOG_GROUP)
    assert group.options["importId"] == NAME
    # Adoption declares the configured state: the import then updates the group to it.
    assert group.input("retentionInDays") == 90
    assert group.input("tags") == {"team": "batch"}


def test_a_group_with_a_longer_name_is_not_ours():
    plan = record(program, invokes=canned.log_groups_found([f"{NAME}-archive"]))
    assert plan.one(LOG_GROUP).options["importId"] is None


def test_every_service_log_group_of_the_stacks_is_durable(dev_plan, prod_plan):
    for plan in (dev_plan, prod_plan):
        groups = plan.of_type(LOG_GROUP)
        names = {g.input("name") for g in groups}
        assert f"/aws/eks/batch-platform-{plan.stack}/cluster" in names
        assert f"/aws/vpc/{plan.stack}-network/flow-logs" in names
        assert any(n.startswith("/aws/rds/instance/") for n in names)
        assert all(g.options["retainOnDelete"] for g in groups)

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


# --- several groups under one prefix, one lookup (Container Insights, RDS log exports) -----------------

PREFIX = "/aws/containerinsights/batch-platform-dev/"
KINDS = ("application", "dataplane", "host")
LOOKUP = "aws:cloudwatch/getLogGroups:getLogGroups"


def several(prefix: str = PREFIX, names: tuple[str, ...] = tuple(PREFIX + k for k in KINDS)):
    import pulumi

    from infra.log_groups import ServiceLogGroup, service_log_groups

    def program_():
        class Holder(pulumi.ComponentResource):
            def __init__(self):
                super().__init__("batch-platform:test:Holder", "holder")
                specs = [ServiceLogGroup(resource_name=n.rsplit("/", 1)[1], name=n, retention_in_days=30, tags={"Name": n}) for n in names]
                self.groups = service_log_groups(specs, lookup_prefix=prefix, parent=self)

        holder = Holder()
        return {"names": [g.name for g in holder.groups]}

    return program_


def imports(plan) -> dict[str, str | None]:
    return {g.input("name"): g.options["importId"] for g in plan.of_type(LOG_GROUP)}


def test_several_groups_are_looked_up_once_on_their_prefix():
    plan = record(several())
    assert [(i.token, i.args) for i in plan.invokes if i.token == LOOKUP] == [(LOOKUP, {"logGroupNamePrefix": PREFIX})]
    assert imports(plan) == {PREFIX + k: None for k in KINDS}
    assert all(g.options["retainOnDelete"] and g.input("retentionInDays") == 30 for g in plan.of_type(LOG_GROUP))


def test_only_the_group_that_exists_is_adopted_the_others_are_created():
    # The destroy kept all three, then someone deleted two of them: the recreate adopts the one left.
    plan = record(several(), invokes=canned.log_groups_found([PREFIX + "dataplane"]))
    assert imports(plan) == {PREFIX + "application": None, PREFIX + "dataplane": PREFIX + "dataplane", PREFIX + "host": None}


def test_other_groups_under_the_prefix_are_neither_adopted_nor_registered():
    existing = [PREFIX + "application", PREFIX + "application-old", PREFIX + "prometheus", "/aws/eks/batch-platform-dev/cluster"]
    plan = record(several(), invokes=canned.log_groups_found(existing))
    assert imports(plan) == {PREFIX + "application": PREFIX + "application", PREFIX + "dataplane": None, PREFIX + "host": None}


@pytest.mark.parametrize(
    ("prefix", "names", "message"),
    [
        ("", (PREFIX + "host",), "an empty lookup prefix would list every log group of the account"),
        (PREFIX, (PREFIX + "host", "/aws/eks/batch-platform-dev/cluster"), "['/aws/eks/batch-platform-dev/cluster'] are not under the lookup prefix"),
        (PREFIX, (), "no log groups to look up"),
    ],
)
def test_a_prefix_that_does_not_cover_every_group_is_refused_before_any_group_registers(prefix, names, message):
    from infra.log_groups import lookup_prefix_problem

    assert message in lookup_prefix_problem(prefix, list(names))
    with pytest.raises(Exception, match="lookup prefix|no log groups"):
        record(several(prefix, names))


def test_the_stacks_look_up_each_component_s_groups_once_within_the_stack_s_own_names(dev_plan, prod_plan):
    for plan in (dev_plan, prod_plan):
        prefixes = sorted(i.args["logGroupNamePrefix"] for i in plan.invokes if i.token == LOOKUP)
        names = [g.input("name") for g in plan.of_type(LOG_GROUP)]
        # One lookup per component namespace: the four Container Insights groups and the two RDS
        # exports each share one; none lists more of the account than the stack's own names.
        assert len(prefixes) == len(set(prefixes)) == 5, prefixes
        assert f"/aws/containerinsights/batch-platform-{plan.stack}/" in prefixes
        assert f"/aws/rds/instance/batch-platform-{plan.stack}-airflow/" in prefixes
        assert all(plan.stack in p and (p.endswith("/") or p in names) for p in prefixes), prefixes
        assert all(any(n.startswith(p) for p in prefixes) for n in names)

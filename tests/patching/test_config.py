"""Config cluster.patching: defaults, the prod rule, the force policy reaching the node groups, the CLI's checks."""

from __future__ import annotations

import copy
import io

import pytest
import yaml

from stacks import cli
from stacks.config import StackConfigError, load_stack_file, stack_file, validate
from stacks.environment import build_environment
from stacks.offline import record


def document(stack: str) -> dict:
    return copy.deepcopy(yaml.safe_load(stack_file(stack).read_text(encoding="utf-8"))["config"])


def test_defaults_are_the_no_human_flow():
    dev, prod = load_stack_file(stack_file("dev")), load_stack_file(stack_file("prod"))
    assert dev.cluster.patching.promote_from is None and prod.cluster.patching.promote_from == "dev"
    for config in (dev, prod):
        patching = config.cluster.patching
        assert (patching.enabled, patching.soak_days, patching.max_lag_days, patching.force) == (True, 3, 10, False)


def test_prod_must_name_the_stack_that_proves_its_releases():
    config = document("prod")
    del config["batch-platform:cluster"]["patching"]
    with pytest.raises(StackConfigError) as info:
        validate(config, "Pulumi.prod.yaml")
    assert (
        "Pulumi.prod.yaml: cluster.patching.promote_from = null: prod takes only AMI releases proven in another "
        "stack: set it to the stack that proves them first (e.g. dev)"
    ) in str(info.value)


@pytest.mark.parametrize(
    "patching, expected",
    [
        ({"soak_days": -1}, "cluster.patching.soak_days"),
        ({"max_lag_days": 0}, "cluster.patching.max_lag_days"),
        ({"promote_from": "dev prod"}, "cluster.patching.promote_from"),
        ({"forse": True}, "cluster.patching.forse"),
    ],
)
def test_bad_patching_values_are_named(patching, expected):
    config = document("dev")
    config["batch-platform:cluster"]["patching"] = patching
    with pytest.raises(StackConfigError, match=expected):
        validate(config, "Pulumi.dev.yaml")


def test_force_reaches_every_node_group_as_force_update_version():
    config = document("dev")
    config["batch-platform:cluster"]["patching"] = {"force": True}
    validated = validate(config, "Pulumi.dev.yaml")
    plan = record(lambda: build_environment(validated, "dev"), stack="dev", region=validated.region)
    groups = [r for r in plan.resources if r.type == "aws:eks/nodeGroup:NodeGroup"]
    assert len(groups) == 2 and all(g.input("forceUpdateVersion") is True for g in groups)


def test_promote_from_must_be_a_stack_of_the_project(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml"):
        (tmp_path / name).write_text(stack_file("prod").with_name(name).read_text())
    err = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(err):
        assert cli.main(["--project-dir", str(tmp_path), "patch-status", "prod"]) == 2
    assert "cluster.patching.promote_from: unknown stack 'dev'" in err.getvalue()

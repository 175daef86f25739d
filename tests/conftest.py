"""Shared fixtures: the offline plans of the real stack files, built once per test session.

Building a plan runs the whole program under Pulumi mocks; the plans are read-only for tests.
"""

from __future__ import annotations

import pytest

from stacks.offline import Plan, run_plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return run_plan("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return run_plan("prod")


@pytest.fixture
def stack_copy(tmp_path):
    """Copy Pulumi.yaml and one stack file to tmp_path with edits applied; returns the new root.

    ``edits`` maps a dotted path under the project's namespace (``cluster.node_groups.system.min_size``)
    to its new value; the first part is the config key (``batch-platform:cluster``).
    """
    import shutil

    import yaml

    from stacks.config.loader import PROJECT_ROOT

    def make(stack: str, edits: dict, name: str = "edited"):
        root = tmp_path / name
        root.mkdir()
        shutil.copy(PROJECT_ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
        document = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
        for dotted, value in edits.items():
            first, *rest = dotted.split(".")
            node = document["config"]
            key = f"batch-platform:{first}"
            for part in rest:
                node = node.setdefault(key, {})
                key = part
            node[key] = value
        (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return root

    return make

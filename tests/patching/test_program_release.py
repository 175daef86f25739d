"""The Pulumi program deploys what the patch procedure decided: the record's target, else AWS's recommended
release; a pin set by hand wins. A plain ``pulumi up`` therefore never bypasses prod's gate."""

from __future__ import annotations

import json

import pytest

from infra.amis import release_from_record
from stacks.config import load_stack_file, stack_file
from stacks.environment import build_environment
from stacks.offline import record

TARGET = "1.35.3-20260801"
TOKEN = "aws:ssm/getParametersByPath:getParametersByPath"


@pytest.mark.parametrize(
    "text, expected",
    [
        (None, None),
        ("", None),
        ("not json", None),
        ("[1, 2]", None),
        (json.dumps({"entries": []}), None),
        (json.dumps({"target": TARGET, "entries": []}), TARGET),
        (json.dumps({"target": "1.34.9-20260801"}), None),  # after a control-plane upgrade: follow AWS
        (json.dumps({"target": 135}), None),
    ],
)
def test_release_from_record(text, expected):
    assert release_from_record(text, "AL2023", "1.35") == expected


def records(system_text: str):
    def answer(args, region):
        folder = args["path"]
        names = [f"{folder}/system", f"{folder}/batch"]
        values = [system_text, json.dumps({"target": "1.34.9-20260801", "entries": []})]
        return {"arns": names, "names": names, "types": ["String", "String"], "values": values, "insecureValues": values, "path": folder, "id": folder, "withDecryption": True}

    return {TOKEN: answer}


@pytest.fixture(scope="module")
def prod_plan():
    config = load_stack_file(stack_file("prod"))
    return record(lambda: build_environment(config, "prod"), stack="prod", region=config.region,
                  invokes=records(json.dumps({"target": TARGET, "entries": []})))


def test_a_group_runs_its_recorded_target_and_falls_back_to_aws(prod_plan):
    system = prod_plan.one("aws:eks/nodeGroup:NodeGroup", "prod-cluster-system")
    batch = prod_plan.one("aws:eks/nodeGroup:NodeGroup", "prod-cluster-batch")
    assert system.input("releaseVersion") == TARGET
    # The batch record names a release of another Kubernetes version: the canned recommended one.
    assert batch.input("releaseVersion") == "1.35.0-20000101"
    assert prod_plan.outputs["node_group_release_versions"] == {"system": TARGET, "batch": "1.35.0-20000101"}
    [lookup] = {i.args["path"] for i in prod_plan.invokes if i.token == TOKEN}
    assert lookup == "/batch-platform/prod/node-patching"

"""Every policy over whole plans: the stacks' offline plans and the recorded samples, zero violations.

The stack plans come from the program's own environment (``python -m stacks plan <stack> --json``,
written to build/ by ``make test``); the samples (fixtures/) hold one of every governed type as the
SDKs register it, so every policy is proven to run even on types the stacks do not have yet.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import policies
from conftest import FIXTURES, REPO_ROOT, load, run_pack

PLANS_DIR = Path(os.environ.get("POLICY_PLANS_DIR", REPO_ROOT / "build"))


def _plan(stack: str) -> dict:
    path = PLANS_DIR / f"plan-{stack}.json"
    if not path.exists():
        pytest.fail(
            f"{path} is missing: write it with the program's environment first, "
            f"e.g. `.venv/bin/python -m stacks plan {stack} --json > build/plan-{stack}.json` (make test does)"
        )
    return load(path)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_plans_pass_every_policy(stack, no_ssm):
    document = _plan(stack)
    assert document["stack"] == stack and document["offline"] is True
    found, evaluated = run_pack(document)
    assert found == []
    present = {r["type"] for r in document["resources"]}
    for policy in policies.all_policies():
        # a policy whose types are in the plan must really have looked at them
        if present & set(policy.resource_types):
            assert evaluated[policy.name] > 0, policy.name
    assert sum(evaluated.values()) == sum(1 for r in document["resources"] for p in policies.all_policies() if r["type"] in p.resource_types)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_samples_pass_every_policy_and_every_policy_runs(stack, no_ssm):
    found, evaluated = run_pack(load(FIXTURES / f"sample-{stack}.json"))
    assert found == []
    assert all(count > 0 for count in evaluated.values()), evaluated


def test_a_violating_sample_is_caught(no_ssm):
    document = load(FIXTURES / "sample-prod.json")
    for item in document["resources"]:
        if item["type"] == policies.RDS_INSTANCE:
            item["inputs"]["publiclyAccessible"] = True
            item["options"]["protect"] = False
        if item["type"] == policies.S3_PUBLIC_ACCESS_BLOCK:
            item["inputs"]["blockPublicPolicy"] = False
    found, _ = run_pack(document)
    assert [f.split(":")[0] for f in found] == [
        "rds-not-publicly-accessible",
        "rds-deletion-protection-prod",
        "s3-buckets-encrypted-private-tls-only",
    ]


def test_dev_sample_tracks_the_ssm_answer_the_plan_recorded(no_ssm):
    document = load(FIXTURES / "sample-dev.json")
    for item in document["placeholders"]:
        item["result"]["value"] = "1.33.0-20991231"  # SSM now recommends a newer AMI than the plan uses
    found, _ = run_pack(document)
    assert len(found) == 1 and found[0].startswith("eks-node-release-version-tracks-ssm")

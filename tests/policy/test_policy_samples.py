"""The policy pack's sample plans (policy/tests/fixtures) are what the real SDKs register today.

The policy tests run in the pack's own virtualenv, without pulumi-aws and friends; they read these
recorded documents. Regenerate after an SDK upgrade: ``UPDATE_POLICY_SAMPLES=1 pytest tests/policy``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stacks.offline import canned

from tests.policy.samples import sample_document, ssm_answer

FIXTURES = Path(__file__).resolve().parents[2] / "policy" / "tests" / "fixtures"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_sample_plans_are_current(stack, monkeypatch):
    if "aws:ssm/getParameter:getParameter" not in canned.INVOKES:
        monkeypatch.setitem(canned.INVOKES, "aws:ssm/getParameter:getParameter", ssm_answer)
    document = json.loads(json.dumps(sample_document(stack), sort_keys=True, default=str))
    path = FIXTURES / f"sample-{stack}.json"
    if os.environ.get("UPDATE_POLICY_SAMPLES") == "1":
        path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    assert path.exists(), f"{path} missing: run UPDATE_POLICY_SAMPLES=1 pytest tests/policy"
    assert json.loads(path.read_text()) == document, f"{path} is stale: run UPDATE_POLICY_SAMPLES=1 pytest tests/policy"

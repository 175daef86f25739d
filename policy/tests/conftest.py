"""Helpers of the policy tests: build the arguments the Pulumi engine would pass to a policy.

``policies.py`` is imported directly (the policy directory is put on sys.path); ``__main__.py`` is
never imported, since constructing the ``PolicyPack`` starts its gRPC server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping

import pytest

POLICY_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(POLICY_DIR))

from pulumi_policy import (  # noqa: E402
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

import policies  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO_ROOT = POLICY_DIR.parent


def urn(stack: str, type_: str, name: str) -> str:
    return f"urn:pulumi:{stack}::batch-platform::{type_}::{name}"


def options(protect: bool = False, parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )


def aws_provider(stack: str, region: str) -> PolicyProviderResource:
    return PolicyProviderResource("pulumi:providers:aws", {"region": region}, urn(stack, "pulumi:providers:aws", "aws"), "aws")


def resource_args(
    type_: str,
    props: Mapping[str, Any],
    *,
    stack: str = "dev",
    name: str = "subject",
    protect: bool = False,
    config: Mapping[str, Any] | None = None,
    region: str = "eu-west-1",
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type=type_,
        props=props,
        urn=urn(stack, type_, name),
        name=name,
        opts=options(protect),
        provider=aws_provider(stack, region),
        config=config,
    )


def violations(policy, args) -> list[str]:
    found: list[str] = []
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


def policy_named(name: str):
    return next(p for p in policies.all_policies() if p.name == name)


# -- plan documents (python -m stacks plan <stack> --json, or the recorded samples) ----------


def plan_resources(document: Mapping[str, Any]) -> list[PolicyResource]:
    """The plan's resources as the engine hands them to stack policies (dependencies resolved)."""
    stack = document["stack"]
    by_urn: dict[str, PolicyResource] = {}
    for item in document["resources"]:
        by_urn[item["urn"]] = PolicyResource(
            resource_type=item["type"],
            props=item["inputs"],
            urn=item["urn"],
            name=item["name"],
            opts=options(item["options"]["protect"], item.get("parent")),
            provider=aws_provider(stack, document["region"]),
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
    for item in document["resources"]:
        resource = by_urn[item["urn"]]
        resource.parent = by_urn.get(item.get("parent") or "")
        resource.dependencies = [by_urn[u] for u in item["options"]["dependsOn"] if u in by_urn]
    return list(by_urn.values())


def plan_config(document: Mapping[str, Any]) -> dict[str, Any]:
    """Policy config for an offline plan: the SSM answers the plan recorded stand in for SSM."""
    answers = {
        p["args"]["name"]: p["result"]["value"]
        for p in document.get("placeholders", [])
        if p["invoke"] == "aws:ssm/getParameter:getParameter"
    }
    return {"prodStacks": ["prod"], "ssmReleaseVersions": answers}


def run_pack(document: Mapping[str, Any]) -> tuple[list[str], dict[str, int]]:
    """Every policy over a plan: (violations, number of resources each policy evaluated)."""
    from pulumi_policy import StackValidationPolicy

    config = plan_config(document)
    resources = plan_resources(document)
    found: list[str] = []
    evaluated: dict[str, int] = {}
    for policy in policies.all_policies():
        def report(message, urn=None, policy=policy):
            found.append(f"{policy.name}: {urn or ''}: {message}")

        relevant = [r for r in resources if r.resource_type in policy.resource_types]
        evaluated[policy.name] = len(relevant)
        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(resources, config=config), report)
            continue
        for resource in resources:  # like the engine: every resource, the policy picks its types
            args = ResourceValidationArgs(
                resource_type=resource.resource_type,
                props=resource.props,
                urn=resource.urn,
                name=resource.name,
                opts=resource.opts,
                provider=resource.provider,
                config=config,
            )
            policy.validate(args, lambda message, urn=None, r=resource: report(message, r.urn))
    return found, evaluated


@pytest.fixture
def no_ssm(monkeypatch):
    """Policies must not reach AWS in tests: any SSM read fails loudly."""

    def refuse(name, region):
        raise AssertionError(f"SSM read of {name} in a test")

    monkeypatch.setattr(policies, "SSM_LOOKUP", refuse)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())

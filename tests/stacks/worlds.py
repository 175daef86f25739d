"""The AWS account as a run finds it, at each step of a user's journey, as canned lookup answers.

A run's lookups (does the repository exist, which secrets, which cluster...) answer differently on
the first run, a retry, a second run and the recreate after a destroy. ``world_after(plan, ...)``
builds the answers of the account after ``plan`` was applied: whatever the plan registered exists,
minus what the step says is not there (an image never pushed, a key never set, a destroyed cluster).
"""

from __future__ import annotations

from typing import Any

from infra.airflow_image import checkout_tag
from infra.cluster_access import CREATOR_TAG
from stacks.offline import Plan, canned
from stacks.offline.render import render_json

import json

OPERATOR = "arn:aws:sts::123456789012:assumed-role/platform-operator/alice"
CI = "arn:aws:sts::123456789012:assumed-role/platform-ci/run-1"


def names_of(plan: Plan, type_: str, key: str = "name") -> list[str]:
    return [r.input(key) for r in plan.of_type(type_)]


def world_after(
    plan: Plan,
    *,
    caller: str = OPERATOR,
    image_pushed: bool = True,
    git_key_set: bool = True,
    cluster: bool = True,
    desired_sizes: dict[str, int] | None = None,
    exclude_secrets: tuple[str, ...] = (),
    empty_secrets: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Answers of the account once ``plan`` has been applied (see the module docstring).

    ``desired_sizes``: role -> the size the Cluster Autoscaler moved the group to since.
    ``exclude_secrets``: secrets that do not exist (never created); ``empty_secrets``: created, no value.
    """
    secrets = [n for n in names_of(plan, "aws:secretsmanager/secret:Secret") if n not in exclude_secrets]
    git_keys = [n for n in secrets if n.endswith("/git-ssh-key")]
    without_value = list(empty_secrets) + ([] if git_key_set else git_keys)
    answers: dict[str, Any] = {
        **canned.caller_identity(caller),
        **canned.secrets_found(secrets, without_value=without_value),
        **canned.buckets_found(names_of(plan, "aws:s3/bucket:Bucket", "bucket")),
        **canned.log_groups_found(names_of(plan, "aws:cloudwatch/logGroup:LogGroup")),
        **canned.repositories_found(
            {name: [checkout_tag()] if image_pushed else [] for name in names_of(plan, "aws:ecr/repository:Repository")}
        ),
    }
    if cluster:
        eks = plan.one("eks:index:Cluster")
        groups = {}
        for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
            role = group.input("nodeGroupNamePrefix").rstrip("-")
            sizes = group.input("scalingConfig")
            desired = (desired_sizes or {}).get(role, sizes["desiredSize"])
            groups[f"{role}-20260101000000000000000001"] = (sizes["minSize"], sizes["maxSize"], desired)
        tags = eks.input("clusterTags") or {}
        answers.update(canned.clusters_found({eks.input("name"): {"tags": tags, "node_groups": groups}}))
    return answers


def document(plan: Plan) -> dict[str, Any]:
    """The plan as ``python -m stacks plan --json`` writes it (what ``--compare`` reads)."""
    return json.loads(render_json(plan))


__all__ = ["CI", "CREATOR_TAG", "OPERATOR", "document", "world_after"]

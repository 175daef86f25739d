"""The physical names a stack's name ends up in, checked against AWS's rules before anything registers.

A Pulumi stack name may hold characters (``.``, ``_``) and lengths that some of the names derived from
it cannot: the EKS cluster name, the KMS alias, the RDS identifier, the S3 bucket name (63 characters
with the account ID and the region in it). Without this check the first such name fails mid-update
(some resources created) or as a traceback. The rules come from botocore's service models where they
carry them (``min``, ``max``, ``pattern`` of the request shapes, read at run time), and from the
services' documented rules where botocore has none (RDS identifiers, S3 bucket names: see
``infra.database.is_valid_identifier`` and ``infra.task_log_bucket.bucket_name_problem``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from infra.database import is_valid_identifier
from infra.task_log_bucket import bucket_name_problem
from stacks.config import Problem

# (service, operation, request member) whose botocore shape holds the rule for a kind of name.
BOTOCORE_RULES = {
    "EKS cluster name": ("eks", "CreateCluster", "name"),
    "KMS alias": ("kms", "CreateAlias", "AliasName"),
    "ECR repository name": ("ecr", "CreateRepository", "repositoryName"),
    "CloudWatch log group name": ("logs", "CreateLogGroup", "logGroupName"),
    "Secrets Manager secret name": ("secretsmanager", "CreateSecret", "Name"),
}
RDS_IDENTIFIER_MAX = 63  # RDS user guide, "DB instance identifier": 1 to 63 letters, digits or hyphens
ACCOUNT_ID_LENGTH = 12


@lru_cache(maxsize=None)
def botocore_rule(kind: str) -> dict:
    """``{"min": ..., "max": ..., "pattern": ...}`` of the request member that takes ``kind``."""
    service, operation, member = BOTOCORE_RULES[kind]
    shapes = _service_model(service)["shapes"]
    request = shapes[_service_model(service)["operations"][operation]["input"]["shape"]]
    shape = shapes[request["members"][member]["shape"]]
    return {k: shape[k] for k in ("min", "max", "pattern") if k in shape}


@lru_cache(maxsize=None)
def _service_model(service: str) -> dict:
    """botocore's service-2 model of ``service``, as shipped with the installed botocore (no session)."""
    from botocore.loaders import Loader

    return Loader().load_service_model(service, "service-2")


def botocore_problem(kind: str, name: str) -> Optional[str]:
    """Why AWS refuses ``name`` as a ``kind`` (None when botocore's rule accepts it)."""
    rule = botocore_rule(kind)
    low, high = rule.get("min", 0), rule.get("max")
    if len(name) < low or (high is not None and len(name) > high):
        return f"{kind} {name!r} has {len(name)} characters; AWS accepts {low} to {high}"
    pattern = rule.get("pattern")
    if pattern and not re.fullmatch(pattern.removeprefix("^").removesuffix("$"), name):
        return f"{kind} {name!r} does not match AWS's pattern {pattern}"
    return None


def derived_names(project: str, stack: str, region: str) -> list[tuple[str, str]]:
    """(kind, name) of every AWS name built from the stack's name (the ones with rules to break)."""
    cluster = f"{project}-{stack}"
    database = f"{project}-{stack}-airflow"
    prefix = f"{project}/{stack}/airflow"
    return [
        ("EKS cluster name", cluster),
        ("KMS alias", f"alias/{cluster}-secrets"),
        ("CloudWatch log group name", f"/aws/eks/{cluster}/cluster"),
        ("CloudWatch log group name", f"/aws/rds/instance/{database}/postgresql"),
        ("CloudWatch log group name", f"/aws/vpc/{stack}-network/flow-logs"),
        ("ECR repository name", f"{project}/{stack}/airflow"),
        ("Secrets Manager secret name", f"{prefix}/admin-password"),
        ("RDS DB instance identifier", database),
        ("S3 bucket name", f"{project}-{stack}-task-logs-{'0' * ACCOUNT_ID_LENGTH}-{region}"),
    ]


def longest_stack_name(project: str, region: str) -> int:
    """The S3 bucket name is the tightest limit: 63 characters with project, account ID and region."""
    return 63 - len(f"{project}--task-logs-{'0' * ACCOUNT_ID_LENGTH}-{region}")


def stack_name_problems(project: str, stack: str, region: str) -> list[Problem]:
    """One problem per derived name AWS would refuse (empty when the stack name fits them all)."""
    advice = (
        f"use a stack name of lowercase letters, digits and single hyphens, at most "
        f"{longest_stack_name(project, region)} characters in {region}"
    )
    found = []
    for kind, name in derived_names(project, stack, region):
        if kind in BOTOCORE_RULES:
            problem = botocore_problem(kind, name)
        elif kind == "RDS DB instance identifier":
            problem = (
                None
                if is_valid_identifier(name, RDS_IDENTIFIER_MAX)
                else f"{kind} {name!r}: AWS accepts 1 to {RDS_IDENTIFIER_MAX} letters, digits and single hyphens, "
                "starting with a letter"
            )
        else:
            reason = bucket_name_problem(name)
            problem = f"{kind} {name!r} (with the 12-digit account ID): {reason}" if reason else None
        if problem:
            found.append(Problem("(stack name)", stack, f"{problem}; {advice}"))
    return found

"""CloudWatch log groups that AWS services deliver to by name: kept on destroy, adopted again on up.

EKS (control-plane logs), RDS (log exports) and VPC flow logs write to a log group by its fixed
name. We create the group first so that it gets our retention, but on ``pulumi destroy`` the service
wins a race: its last deliveries, after the group is deleted, create it again (with no retention)
outside the state, and the next ``pulumi up`` fails with ResourceAlreadyExistsException
(terraform-aws-eks issues 920 and 2763 show EKS doing it through its service-linked role).

So these groups follow the durable pattern of ``infra.durable``: registered with
``retain_on_delete`` (their logs are also the audit trail of what ran before a destroy), looked up
by name before registering, and adopted with the ``import`` option when they exist. Since Pulumi
3.20x an import whose inputs differ from the existing group succeeds and then updates it, so an
adopted group gets the configured retention and tags back.

A component that owns several groups under one name prefix (Container Insights' four groups of a
cluster, an RDS instance's log exports) looks them all up with one call on that prefix
(``service_log_groups``): each lookup is a round trip to the engine before the program can go on,
and the answer is the same list. The prefix is the component's own namespace (it ends with the
cluster's or the instance's name and ``/``), never a broader one: the lookup pages through every
group under it (``DescribeLogGroups`` returns 50 a page), and ``/`` would list the whole account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from infra.durable import log_group_exists


@dataclass(frozen=True, kw_only=True)
class ServiceLogGroup:
    """One log group a service writes to by name."""

    resource_name: str
    name: str
    retention_in_days: int
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the group (default none)."""


def lookup_prefix_problem(prefix: str, names: Sequence[str]) -> str | None:
    """Why ``prefix`` cannot be the one lookup of the groups ``names`` (None when it can)."""
    if not names:
        return "no log groups to look up"
    if not prefix:
        return f"an empty lookup prefix would list every log group of the account (groups {list(names)})"
    outside = [n for n in names if not n.startswith(prefix)]
    if outside:
        return f"the log groups {outside} are not under the lookup prefix {prefix!r}"
    return None


def service_log_groups(
    groups: Sequence[ServiceLogGroup], *, lookup_prefix: str, parent: pulumi.Resource
) -> list[aws.cloudwatch.LogGroup]:
    """The log groups ``groups``, all under ``lookup_prefix``, found with one lookup on that prefix.

    Each is registered with our retention and tags, retained on destroy, and adopted (imported)
    when a group of exactly its name exists: a group that exists among others that do not is the
    only one adopted.
    """
    problem = lookup_prefix_problem(lookup_prefix, [g.name for g in groups])
    if problem:
        raise ValueError(problem)
    found = aws.cloudwatch.get_log_groups(log_group_name_prefix=lookup_prefix, opts=pulumi.InvokeOptions(parent=parent))
    names = found.log_group_names or []
    registered = []
    for group in groups:
        existing = log_group_exists(names, group.name)
        if existing:
            pulumi.log.info(f"adopting the existing log group {group.name}", parent)
        registered.append(
            aws.cloudwatch.LogGroup(
                group.resource_name,
                name=group.name,
                retention_in_days=group.retention_in_days,
                tags=dict(group.tags),
                opts=pulumi.ResourceOptions(
                    parent=parent, retain_on_delete=True, import_=group.name if existing else None
                ),
            )
        )
    return registered


def service_log_group(
    resource_name: str,
    *,
    name: str,
    retention_in_days: int,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.cloudwatch.LogGroup:
    """The log group ``name`` with our retention, retained on destroy and adopted when it already exists."""
    group = ServiceLogGroup(resource_name=resource_name, name=name, retention_in_days=retention_in_days, tags=tags)
    return service_log_groups([group], lookup_prefix=name, parent=parent)[0]

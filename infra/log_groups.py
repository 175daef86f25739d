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
"""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_aws as aws

from infra.durable import log_group_exists


def service_log_group(
    resource_name: str,
    *,
    name: str,
    retention_in_days: int,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.cloudwatch.LogGroup:
    """The log group ``name`` with our retention, retained on destroy and adopted when it already exists."""
    found = aws.cloudwatch.get_log_groups(log_group_name_prefix=name, opts=pulumi.InvokeOptions(parent=parent))
    existing = log_group_exists(found.log_group_names or [], name)
    if existing:
        pulumi.log.info(f"adopting the existing log group {name}", parent)
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=name,
        retention_in_days=retention_in_days,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=True, import_=name if existing else None),
    )

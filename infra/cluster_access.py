"""Who may administer an EKS cluster, given that EKS already made the cluster's creator an admin.

pulumi-eks always creates the cluster with ``accessConfig.bootstrapClusterCreatorAdminPermissions:
true`` (``nodejs/eks/cluster/cluster.ts``; no override, pulumi/pulumi-eks#2373). EKS then gives the
IAM principal whose credentials created the cluster an access entry with AmazonEKSClusterAdminPolicy.
That principal is the *issuer* of the deployer's session: for ``arn:aws:sts::<acct>:assumed-role/
<name>/<session>`` it is the role ``arn:aws:iam::<acct>:role/<path><name>`` (what
``aws.iam.get_session_context`` answers, as terraform-aws-eks does for its
``enable_cluster_creator_admin_permissions``). An access entry of ours for the same principal fails
the first ``pulumi up`` with ``409 ResourceInUseException`` (terraform-aws-eks#3293).

So the stack creates access entries for ``cluster.admin_role_arns`` *minus the creator*. The creator
must be the same on every run, whoever runs it: a CI role creates the cluster, a person runs the next
``up``. A run that computed "the creator" from its own caller would delete the entry of the first
deployer and create one for a principal EKS already entered. The creator is therefore recorded where
it cannot drift: a tag on the cluster, written at creation (``CREATOR_TAG``) and read back on every
later run. A cluster created before that tag existed has none: then nobody is skipped, as before.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional, Sequence

CREATOR_TAG = "batch-platform/cluster-creator"
"""Cluster tag holding ``principal_key`` of the principal that created the cluster."""

_IAM_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):(?P<kind>role|user)/(?P<path>.*)$")
_STS_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<name>[^/]+)/(?P<session>.+)$"
)
# Characters EKS accepts in a tag value (EKS API reference, TagResource): letters, digits, spaces and _.:/=+-@
_TAG_VALUE_UNSAFE = re.compile(r"[^\w .:/=+\-@]")


def principal_key(arn: str) -> Optional[str]:
    """``<account>:role/<name>`` (or ``user/<name>``) of an IAM role, user or assumed-role ARN; None otherwise.

    IAM role names are unique within an account whatever their path, and an assumed-role ARN drops
    the path, so the key leaves it out: ``role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1``
    and the session ``assumed-role/AWSReservedSSO_Admin_1/alice`` are the same principal.
    """
    sts = _STS_ARN.match(arn or "")
    if sts:
        return f"{sts['account']}:role/{sts['name']}"
    iam = _IAM_ARN.match(arn or "")
    if iam:
        return f"{iam['account']}:{iam['kind']}/{iam['path'].rsplit('/', 1)[-1]}"
    return None


def creator_tag_value(key: str) -> str:
    """The tag value recording ``key`` (a principal key; at most 12+1+5+64 characters, under EKS's 256)."""
    return _TAG_VALUE_UNSAFE.sub("_", key)


def admin_entries(admin_role_arns: Sequence[str], creator_tag: Optional[str]) -> list[str]:
    """The admin roles that need an access entry of ours: all but the cluster's creator.

    ``creator_tag`` is the value of ``CREATOR_TAG`` (None when unknown: every role gets an entry).
    """
    if not creator_tag:
        return list(admin_role_arns)
    return [
        arn for arn in admin_role_arns if creator_tag_value(principal_key(arn) or arn) != creator_tag
    ]


def existing_cluster(names: Iterable[str], wanted: str) -> bool:
    """Whether a ListClusters answer holds the cluster named exactly ``wanted``."""
    return wanted in set(names or ())


def recorded_creator(tags: Optional[Mapping[str, str]]) -> Optional[str]:
    """The creator recorded on an existing cluster (None: created before the tag, or not by us)."""
    return (tags or {}).get(CREATOR_TAG) or None

"""A managed node group's scaling config when the Cluster Autoscaler owns its desired size.

The autoscaler changes ``desiredSize`` behind Pulumi's back, so the program must not send the stack
file's ``desired_size`` on every run (it would undo every scale-up): the node group ignores changes to
``scalingConfig.desiredSize``. But EKS's UpdateNodegroupConfig takes the three sizes together and
refuses ``minSize > desiredSize`` (``InvalidParameterException: Minimum capacity N can't be greater
than desired size M``) and ``desiredSize > maxSize``; with the desired size ignored, Pulumi sends the
one in its state (the size at the last update, not the live one), so raising ``min_size`` above it,
or lowering ``max_size`` below it, fails (terraform-aws-eks#3306, #3683).

The rule, decided from the group's live sizes (read before registering it):

* the group does not exist yet: send ``desired_size`` from the stack file (its initial size);
* ``min_size`` and ``max_size`` equal the live ones: nothing in the scaling config changes, keep
  ignoring the desired size (the autoscaler keeps it);
* otherwise the update sends the scaling config anyway: send the live desired size moved into the new
  ``[min_size, max_size]`` and stop ignoring it for this run, so the three values EKS receives are
  consistent and the autoscaler's current size is kept wherever the new bounds allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

IGNORED_DESIRED_SIZE = "scalingConfig.desiredSize"


@dataclass(frozen=True)
class Sizes:
    min_size: int
    max_size: int
    desired_size: int


@dataclass(frozen=True)
class ScalingDecision:
    desired_size: int
    """The desired size to send."""
    ignore_desired: bool
    """Whether ``scalingConfig.desiredSize`` stays in ``ignore_changes`` for this run."""


def scaling_decision(wanted: Sizes, live: Optional[Sizes]) -> ScalingDecision:
    """What to send for a group whose stack-file sizes are ``wanted`` and whose live sizes are ``live``."""
    if live is None:
        return ScalingDecision(wanted.desired_size, True)
    if (live.min_size, live.max_size) == (wanted.min_size, wanted.max_size):
        return ScalingDecision(wanted.desired_size, True)
    return ScalingDecision(min(max(live.desired_size, wanted.min_size), wanted.max_size), False)


def group_of_role(names: Iterable[str], prefix: str) -> Optional[str]:
    """The node group a role's ``node_group_name_prefix`` generated, in a ListNodegroups answer.

    During a create-before-delete replacement two groups share the prefix for a while: the last one
    in name order is taken (generated suffixes grow with time), and either holds the live sizes.
    """
    found = sorted(n for n in names or () if n.startswith(prefix))
    return found[-1] if found else None

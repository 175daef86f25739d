"""Config section ``cluster.patching``: how the nodes patch themselves (``python -m stacks patch-nodes``).

The defaults are the no-human flow: dev takes every AMI release AWS recommends, prod takes the
newest release dev has proven for ``soak_days``, and ``patch-status`` alarms past ``max_lag_days``.
Why these numbers: docs/nodes-and-patching.md ("Choosing soak_days and max_lag_days"), measured by
``make patch-lag`` over the real EKS AMI release history.
"""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from stacks.config.base import Section
from stacks.config.problems import Problem

# Stack names are Pulumi.<stack>.yaml file names: keep them to what a stack file name can be.
_STACK_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class PatchingConfig(Section):
    """The node patch procedure: which release this stack takes, how long a release soaks, when lag alarms."""

    enabled: bool = Field(
        True,
        description="Whether patch-nodes rolls this stack's node groups; false = it reports and changes nothing.",
    )
    promote_from: Optional[str] = Field(
        None,
        pattern=_STACK_NAME,
        description="Stack whose proven releases this stack takes (prod: dev); unset = take the newest release "
        "AWS recommends (dev). Required in prod.",
    )
    soak_days: float = Field(
        3,
        ge=0,
        le=60,
        description="With promote_from: days a release must have been proven in that stack before this one "
        "takes it. Longer than the ~7 days between AMI releases makes this stack skip releases.",
    )
    max_lag_days: float = Field(
        10,
        gt=0,
        le=365,
        description="patch-status exits 1 when a newer release has been available longer than this "
        "(and publishes the lag as a CloudWatch metric for the alarm).",
    )
    force: bool = Field(
        False,
        description="Roll even when a PodDisruptionBudget allows no disruption: preflight only warns and EKS "
        "evicts past the PDB after its drain timeout (force_update_version). Off: the roll waits.",
    )
    canary_image: str = Field(
        "public.ecr.aws/docker/library/busybox:1.37.0",
        min_length=1,
        description="Image of the canary batch Job that proves a new node runs work (it must be pullable "
        "from the batch nodes).",
    )
    canary_timeout_minutes: float = Field(
        20,
        gt=0,
        le=240,
        description="How long the canary Job may take, node scale-up from zero included, before the proof fails.",
    )

    def problems(self, tier: str, path: str) -> list[Problem]:
        if tier == "prod" and self.promote_from is None and self.enabled:
            return [
                Problem(
                    f"{path}.promote_from",
                    None,
                    "prod takes only AMI releases proven in another stack: set it to the stack that proves "
                    "them first (e.g. dev)",
                )
            ]
        return []

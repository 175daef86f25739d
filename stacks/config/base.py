"""Shared building blocks of the config model: the strict base class and common value types."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from stacks.config.problems import Problem

# CloudWatch Logs accepts only these retention periods (days); anything else fails at deploy time.
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)


def _cloudwatch_retention(days: int) -> int:
    if days not in CLOUDWATCH_RETENTION_DAYS:
        raise ValueError(
            f"expected a CloudWatch Logs retention period in days, one of {list(CLOUDWATCH_RETENTION_DAYS)}"
        )
    return days


RetentionDays = Annotated[int, AfterValidator(_cloudwatch_retention)]


class Section(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors (typos must not pass)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def problems(self, tier: str, path: str) -> list[Problem]:
        """Cross-field and per-tier rules that a field type alone cannot express.

        ``tier`` is ``dev`` or ``prod``; ``path`` is this section's dotted key path. Sections
        override this; each returned Problem names the offending key under ``path``.
        """
        return []

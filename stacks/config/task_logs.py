"""Config section ``task_logs``: the S3 bucket holding Airflow task logs (kept across stack destroy)."""

from __future__ import annotations

from pydantic import Field

from stacks.config.base import Section
from stacks.config.problems import Problem


class TaskLogsConfig(Section):
    """How long task logs are kept."""

    expiration_days: int = Field(
        365, ge=1, description="Days after which a task log is deleted (its version becomes noncurrent)."
    )
    noncurrent_version_expiration_days: int = Field(
        30, ge=1, description="Days an overwritten or deleted log version is kept before it is removed for good."
    )

    def problems(self, tier: str, path: str) -> list[Problem]:
        if tier == "prod" and self.expiration_days < 90:
            return [
                Problem(
                    f"{path}.expiration_days",
                    self.expiration_days,
                    "prod keeps task logs at least 90 days (a quarterly job's previous run must still be readable)",
                )
            ]
        return []

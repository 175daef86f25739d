"""Config section ``task_logs``: the S3 bucket holding Airflow task logs (kept across stack destroy)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stacks.config.base import RetentionDays, Section
from stacks.config.problems import Problem


class TaskLogsConfig(Section):
    """Where task logs go and how long they are kept."""

    destination: Literal["cloudwatch", "s3"] = Field(
        "cloudwatch",
        description="cloudwatch (default): each line is sent while the task runs, so the log of a pod that dies "
        "mid-run stays readable in the UI; s3: the log file is uploaded to the task-log bucket when the task ends "
        "(a pod that dies first loses it).",
    )
    cloudwatch_retention_days: RetentionDays = Field(
        365, description="Days task logs are kept in the CloudWatch log group (destination cloudwatch)."
    )

    expiration_days: int = Field(
        365, ge=1, description="Days after which a task log is deleted (its version becomes noncurrent)."
    )
    noncurrent_version_expiration_days: int = Field(
        30, ge=1, description="Days an overwritten or deleted log version is kept before it is removed for good."
    )

    def problems(self, tier: str, path: str) -> list[Problem]:
        if tier == "prod" and self.destination == "cloudwatch" and self.cloudwatch_retention_days < 90:
            return [
                Problem(
                    f"{path}.cloudwatch_retention_days",
                    self.cloudwatch_retention_days,
                    "prod keeps task logs at least 90 days (a quarterly job's previous run must still be readable)",
                )
            ]
        if tier == "prod" and self.expiration_days < 90:
            return [
                Problem(
                    f"{path}.expiration_days",
                    self.expiration_days,
                    "prod keeps task logs at least 90 days (a quarterly job's previous run must still be readable)",
                )
            ]
        return []

"""Config section ``database``: Airflow's metadata database (RDS for PostgreSQL)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field

from infra.aws_catalog import rds_instance_class_problem
from infra.database import (
    PERFORMANCE_INSIGHTS_RETENTION_DAYS,
    WindowError,
    daily_window,
    snapshot_reference_problem,
    weekly_window,
    windows_overlap,
)
from infra.versions import POSTGRES_MAJOR_VERSION, SUPPORTED_POSTGRES_MAJOR_VERSIONS
from stacks.config.base import RetentionDays, Section
from stacks.config.problems import Problem

# Automated backups are the point-in-time recovery horizon: a week is the least in any tier (a
# problem found on Monday must still be recoverable from the Friday before); prod keeps two.
MIN_BACKUP_RETENTION_DAYS = 7
MIN_PROD_BACKUP_RETENTION_DAYS = 14


def min_max_allocated_storage(allocated: int) -> int:
    """RDS refuses an autoscaling maximum less than 10% above the allocated storage (GiB, rounded up)."""
    return (allocated * 11 + 9) // 10


def _instance_class(value: str) -> str:
    problem = rds_instance_class_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _major_as_text(value: object) -> object:
    # YAML and `pulumi config set --path` turn 17 into a number; a major version is a name, not a quantity.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _engine_version(value: str) -> str:
    if value not in SUPPORTED_POSTGRES_MAJOR_VERSIONS:
        raise ValueError(
            f"expected a PostgreSQL major version supported by both Airflow 3.2 and RDS standard support, "
            f"one of {list(SUPPORTED_POSTGRES_MAJOR_VERSIONS)}"
        )
    return value


def _daily(value: str) -> str:
    try:
        daily_window(value)
    except WindowError as exc:
        raise ValueError(str(exc)) from None
    return value


def _weekly(value: str) -> str:
    try:
        weekly_window(value)
    except WindowError as exc:
        raise ValueError(str(exc)) from None
    return value.lower()


def _snapshot(value: Optional[str]) -> Optional[str]:
    if value is not None:
        problem = snapshot_reference_problem(value)
        if problem:
            raise ValueError(problem)
    return value


def _pi_retention(days: int) -> int:
    if days not in PERFORMANCE_INSIGHTS_RETENTION_DAYS:
        raise ValueError("expected 7 (free), a multiple of 31 up to 713, or 731")
    return days


class DatabaseConfig(Section):
    """The metadata database: size, availability, backups, protection, restore source, diagnostics."""

    instance_class: Annotated[str, AfterValidator(_instance_class)] = Field(
        "db.m7g.large",
        description="RDS instance class, e.g. db.m7g.large (prod) or db.t4g.small (dev); one whose memory "
        "infra/pgbouncer.py knows, large enough for PgBouncer's pools.",
    )
    allocated_storage: int = Field(
        100, ge=20, le=65536, description="GiB of gp3 storage at creation (gp3 needs at least 20)."
    )
    max_allocated_storage: int = Field(
        500, le=65536, description="GiB that storage autoscaling may grow to (must exceed allocated_storage by 10%)."
    )
    engine_version: Annotated[str, BeforeValidator(_major_as_text), AfterValidator(_engine_version)] = Field(
        POSTGRES_MAJOR_VERSION,
        description="PostgreSQL major version; RDS applies minor versions in the maintenance window.",
    )
    multi_az: bool = Field(True, description="Standby in a second AZ with automatic failover.")
    allow_single_az_in_prod: bool = Field(
        False, description="Explicit waiver letting prod run without a standby (e.g. a cost-cut test stack)."
    )
    backup_retention_days: int = Field(
        14, ge=1, le=35, description="Days of automated backups and point-in-time recovery (RDS maximum 35)."
    )
    backup_window: Annotated[str, AfterValidator(_daily)] = Field(
        "02:00-03:00", description="Daily backup window, hh:mm-hh:mm UTC, at least 30 minutes."
    )
    maintenance_window: Annotated[str, AfterValidator(_weekly)] = Field(
        "sun:03:30-sun:04:30",
        description="Weekly maintenance window, ddd:hh:mm-ddd:hh:mm UTC, at least 30 minutes, apart from backups.",
    )
    deletion_protection: bool = Field(
        True,
        description="RDS deletion protection and the Pulumi protect option of the instance (both follow this key).",
    )
    apply_immediately: bool = Field(
        False, description="Apply modifications at once instead of in the maintenance window."
    )
    restore_from_snapshot: Annotated[Optional[str], AfterValidator(_snapshot)] = Field(
        None,
        description="Snapshot identifier or ARN to create the instance from; ignored once the instance exists.",
    )
    performance_insights_retention_days: Annotated[int, AfterValidator(_pi_retention)] = Field(
        7, description="Performance Insights retention: 7 (free) or months of 31 days."
    )
    monitoring_interval_seconds: Literal[1, 5, 10, 15, 30, 60] = Field(
        60, description="Enhanced monitoring (OS metrics) granularity."
    )
    slow_statement_ms: int = Field(
        1000, ge=0, le=3_600_000, description="Statements slower than this are logged (log_min_duration_statement)."
    )
    log_retention_days: RetentionDays = Field(
        365, description="Retention of the exported PostgreSQL logs in CloudWatch Logs."
    )

    def problems(self, tier: str, path: str) -> list[Problem]:
        found = []
        days = self.backup_retention_days
        if days < MIN_BACKUP_RETENTION_DAYS:
            found.append(
                Problem(
                    f"{path}.backup_retention_days",
                    days,
                    f"expected at least {MIN_BACKUP_RETENTION_DAYS} days: automated backups are the "
                    "point-in-time recovery horizon",
                )
            )
        elif tier == "prod" and days < MIN_PROD_BACKUP_RETENTION_DAYS:
            found.append(
                Problem(
                    f"{path}.backup_retention_days",
                    days,
                    f"prod keeps at least {MIN_PROD_BACKUP_RETENTION_DAYS} days of automated backups",
                )
            )
        if tier == "prod" and not self.multi_az and not self.allow_single_az_in_prod:
            found.append(
                Problem(
                    f"{path}.multi_az",
                    self.multi_az,
                    "prod needs a Multi-AZ standby (losing the AZ would stop Airflow until a restore); "
                    f"set {path}.allow_single_az_in_prod: true to waive this explicitly",
                )
            )
        if self.max_allocated_storage < self.allocated_storage:
            found.append(
                Problem(
                    f"{path}.max_allocated_storage",
                    self.max_allocated_storage,
                    f"expected at least allocated_storage ({self.allocated_storage} GiB): autoscaling only grows storage",
                )
            )
        elif self.max_allocated_storage < min_max_allocated_storage(self.allocated_storage):
            found.append(
                Problem(
                    f"{path}.max_allocated_storage",
                    self.max_allocated_storage,
                    f"expected at least {min_max_allocated_storage(self.allocated_storage)} GiB: RDS "
                    "requires the autoscaling maximum to be 10% above allocated_storage",
                )
            )
        if windows_overlap(self.backup_window, self.maintenance_window):
            found.append(
                Problem(
                    f"{path}.maintenance_window",
                    self.maintenance_window,
                    f"overlaps the backup window {self.backup_window} (UTC, every day): RDS refuses overlapping windows",
                )
            )
        return found

    def region_problems(self, region: str, path: str) -> list[Problem]:
        """Rules that need the stack's region (called by the root model)."""
        if self.restore_from_snapshot is None:
            return []
        problem = snapshot_reference_problem(self.restore_from_snapshot, region)
        return [Problem(f"{path}.restore_from_snapshot", self.restore_from_snapshot, problem)] if problem else []

"""Config sections ``database`` and ``task_logs``: the real stack files with one change, and the exact messages."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.config import StackConfigError, validate
from stacks.config.loader import PROJECT_ROOT

SOURCE = "Pulumi.prod.yaml"


def _file_config(stack: str) -> dict:
    return yaml.safe_load(Path(PROJECT_ROOT, f"Pulumi.{stack}.yaml").read_text())["config"]


def _with(stack: str, section: str, **changes) -> dict:
    config = copy.deepcopy(_file_config(stack))
    config.setdefault(f"batch-platform:{section}", {}).update(changes)
    return config


def _problems(config: dict, source: str = SOURCE) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        validate(config, source)
    return [p.render(source) for p in caught.value.problems]


def test_the_stack_files_are_valid_and_differ_where_intended():
    dev = validate(_file_config("dev"), "Pulumi.dev.yaml")
    prod = validate(_file_config("prod"), SOURCE)
    assert (dev.database.multi_az, prod.database.multi_az) == (False, True)
    assert (dev.database.deletion_protection, prod.database.deletion_protection) == (False, True)
    assert (dev.database.backup_retention_days, prod.database.backup_retention_days) == (7, 14)
    assert (dev.database.instance_class, prod.database.instance_class) == ("db.t4g.small", "db.m7g.large")
    assert (dev.task_logs.expiration_days, prod.task_logs.expiration_days) == (30, 365)
    assert dev.database.engine_version == prod.database.engine_version == "17"
    assert dev.database.restore_from_snapshot is prod.database.restore_from_snapshot is None


def test_defaults_are_production_shaped():
    config = {k: v for k, v in _file_config("prod").items() if k != "batch-platform:database"}
    defaults = validate(config, SOURCE)
    db = defaults.database
    assert (db.multi_az, db.deletion_protection, db.backup_retention_days, db.apply_immediately) == (True, True, 14, False)


BAD = [
    (
        {"backup_retention_days": 3},
        "Pulumi.prod.yaml: database.backup_retention_days = 3: expected at least 7 days: automated backups are "
        "the point-in-time recovery horizon",
    ),
    (
        {"backup_retention_days": 10},
        "Pulumi.prod.yaml: database.backup_retention_days = 10: prod keeps at least 14 days of automated backups",
    ),
    (
        {"backup_retention_days": 40},
        "Pulumi.prod.yaml: database.backup_retention_days = 40: expected <= 35 (Days of automated backups and "
        "point-in-time recovery (RDS maximum 35).)",
    ),
    (
        {"multi_az": False},
        "Pulumi.prod.yaml: database.multi_az = false: prod needs a Multi-AZ standby (losing the AZ would stop "
        "Airflow until a restore); set database.allow_single_az_in_prod: true to waive this explicitly",
    ),
    (
        {"max_allocated_storage": 50},
        "Pulumi.prod.yaml: database.max_allocated_storage = 50: expected at least allocated_storage (100 GiB): "
        "autoscaling only grows storage",
    ),
    (
        {"max_allocated_storage": 105},
        "Pulumi.prod.yaml: database.max_allocated_storage = 105: expected at least 110 GiB: RDS requires the "
        "autoscaling maximum to be 10% above allocated_storage",
    ),
    (
        {"engine_version": "14"},
        "Pulumi.prod.yaml: database.engine_version = \"14\": expected a PostgreSQL major version supported by both "
        "Airflow 3.2 and RDS standard support, one of ['15', '16', '17'] (PostgreSQL major version; RDS applies "
        "minor versions in the maintenance window.)",
    ),
    (
        {"engine_version": "17.4"},
        "Pulumi.prod.yaml: database.engine_version = \"17.4\": expected a PostgreSQL major version supported by "
        "both Airflow 3.2 and RDS standard support, one of ['15', '16', '17'] (PostgreSQL major version; RDS "
        "applies minor versions in the maintenance window.)",
    ),
    (
        {"restore_from_snapshot": "arn:aws:rds:eu-west-1:1234:snapshot:final-1"},
        "Pulumi.prod.yaml: database.restore_from_snapshot = \"arn:aws:rds:eu-west-1:1234:snapshot:final-1\": "
        "expected a snapshot ARN of the form arn:aws:rds:<region>:<12-digit account>:snapshot:<identifier> "
        "(Snapshot identifier or ARN to create the instance from; ignored once the instance exists.)",
    ),
    (
        {"restore_from_snapshot": "final--snapshot-"},
        "Pulumi.prod.yaml: database.restore_from_snapshot = \"final--snapshot-\": expected a snapshot identifier "
        "(a letter, then letters, digits and single hyphens, no trailing hyphen; rds: prefix for automated "
        "snapshots) or a snapshot ARN (Snapshot identifier or ARN to create the instance from; ignored once the "
        "instance exists.)",
    ),
    (
        {"restore_from_snapshot": "arn:aws:rds:us-east-1:123456789012:snapshot:final-1"},
        "Pulumi.prod.yaml: database.restore_from_snapshot = \"arn:aws:rds:us-east-1:123456789012:snapshot:final-1\": "
        "the snapshot is in us-east-1 but the stack is in eu-west-1; copy it first (aws rds copy-db-snapshot "
        "--source-region us-east-1 ...) and restore the copy",
    ),
    (
        {"maintenance_window": "sun:02:30-sun:03:30"},
        "Pulumi.prod.yaml: database.maintenance_window = \"sun:02:30-sun:03:30\": overlaps the backup window "
        "02:00-03:00 (UTC, every day): RDS refuses overlapping windows",
    ),
    (
        {"maintenance_window": "sunday 3am"},
        "Pulumi.prod.yaml: database.maintenance_window = \"sunday 3am\": expected ddd:hh:mm-ddd:hh:mm in UTC, e.g. "
        "sun:03:30-sun:04:30 (Weekly maintenance window, ddd:hh:mm-ddd:hh:mm UTC, at least 30 minutes, apart from "
        "backups.)",
    ),
    (
        {"backup_window": "02:00-02:10"},
        "Pulumi.prod.yaml: database.backup_window = \"02:00-02:10\": expected a window of at least 30 minutes (RDS "
        "rejects shorter ones) (Daily backup window, hh:mm-hh:mm UTC, at least 30 minutes.)",
    ),
    (
        {"performance_insights_retention_days": 30},
        "Pulumi.prod.yaml: database.performance_insights_retention_days = 30: expected 7 (free), a multiple of 31 "
        "up to 713, or 731 (Performance Insights retention: 7 (free) or months of 31 days.)",
    ),
    (
        {"monitoring_interval_seconds": 0},
        "Pulumi.prod.yaml: database.monitoring_interval_seconds = 0: expected 1, 5, 10, 15, 30 or 60 (Enhanced "
        "monitoring (OS metrics) granularity.)",
    ),
    (
        {"allocated_storage": 10},
        "Pulumi.prod.yaml: database.allocated_storage = 10: expected >= 20 (GiB of gp3 storage at creation (gp3 "
        "needs at least 20).)",
    ),
]


@pytest.mark.parametrize("change, message", BAD, ids=[next(iter(c)) + "=" + str(next(iter(c.values()))) for c, _ in BAD])
def test_bad_database_config_is_reported_exactly(change, message):
    assert _problems(_with("prod", "database", **change)) == [message]


def test_a_typo_is_named_with_a_suggestion():
    [problem] = _problems(_with("prod", "database", multy_az=True))
    assert problem.startswith("Pulumi.prod.yaml: database.multy_az = true: unknown key; did you mean multi_az?")


def test_task_logs_in_prod_are_kept_a_quarter_at_least():
    assert _problems(_with("prod", "task_logs", expiration_days=30)) == [
        "Pulumi.prod.yaml: task_logs.expiration_days = 30: prod keeps task logs at least 90 days (a quarterly "
        "job's previous run must still be readable)"
    ]
    assert _problems(_with("prod", "task_logs", noncurrent_version_expiration_days=0)) == [
        "Pulumi.prod.yaml: task_logs.noncurrent_version_expiration_days = 0: expected >= 1 (Days an overwritten "
        "or deleted log version is kept before it is removed for good.)"
    ]


def test_every_problem_is_reported_at_once():
    rules = _problems(_with("prod", "database", multi_az=False, backup_retention_days=10))
    assert [p.split(" = ")[0] for p in rules] == [
        "Pulumi.prod.yaml: database.backup_retention_days",
        "Pulumi.prod.yaml: database.multi_az",
    ]
    config = _with("prod", "database", engine_version="13")
    config["batch-platform:task_logs"]["expiration_days"] = 7
    assert [p.split(" = ")[0] for p in _problems(config)] == [
        "Pulumi.prod.yaml: database.engine_version",
        "Pulumi.prod.yaml: task_logs.expiration_days",
    ]


def test_explicit_waivers_and_accepted_forms():
    single_az = validate(_with("prod", "database", multi_az=False, allow_single_az_in_prod=True), SOURCE)
    assert single_az.database.multi_az is False
    # YAML and `pulumi config set --path` give 16 as a number.
    assert validate(_with("prod", "database", engine_version=16), SOURCE).database.engine_version == "16"
    arn = "arn:aws:rds:eu-west-1:123456789012:snapshot:batch-platform-prod-airflow-final-1a2b3c4d"
    assert validate(_with("prod", "database", restore_from_snapshot=arn), SOURCE).database.restore_from_snapshot == arn
    # dev may keep a week of backups and run single-AZ without a waiver.
    dev = validate(_with("dev", "database", backup_retention_days=7, multi_az=False), "Pulumi.dev.yaml")
    assert dev.database.backup_retention_days == 7

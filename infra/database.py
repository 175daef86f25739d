"""The Database component: Airflow's metadata database on RDS for PostgreSQL.

What it owns, and why each piece is there:

* the instance: gp3 with storage autoscaling, Multi-AZ unless told otherwise, in the isolated
  database subnets, not publicly accessible, encrypted with KMS, automated backups with
  point-in-time recovery that outlive the instance (``delete_automated_backups=False``), a final
  snapshot whose identifier is unique per instance (a second destroy must not collide with the
  first one's snapshot), minor versions applied in the maintenance window, Performance Insights,
  enhanced monitoring and CloudWatch log exports;
* a security group admitting PostgreSQL only from the client security groups it is given (never a
  CIDR), and nothing outbound;
* a parameter group that refuses unencrypted connections and logs slow statements, connections
  and lock waits;
* the log groups RDS exports to, created first so they get a retention (RDS would create them
  with none);
* the enhanced-monitoring role;
* the master password (a Pulumi secret) and the connection string Airflow uses (a Pulumi secret).

Encryption uses the AWS managed key ``aws/rds`` unless a key is given: its lifecycle belongs to AWS,
so the final snapshot and the retained automated backups stay restorable after the stack that made
them is destroyed. A key owned by the stack would be scheduled for deletion with it and take every
backup with it after the waiting period.

``restore_from_snapshot`` creates the instance from a snapshot; the attribute is ignored after
creation so a later ``pulumi up`` never replaces the restored database.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence
from urllib.parse import quote

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.log_groups import ServiceLogGroup, service_log_groups
from infra.versions import POSTGRES_MAJOR_VERSION, RDS_CA_CERT_IDENTIFIER, SUPPORTED_POSTGRES_MAJOR_VERSIONS

POSTGRES_PORT = 5432
ENGINE = "postgres"
MONITORING_SERVICE = "monitoring.rds.amazonaws.com"
ENHANCED_MONITORING_POLICY = "service-role/AmazonRDSEnhancedMonitoringRole"
# The logs PostgreSQL on RDS can export: the server log (statements, connections, lock waits) and
# the log of major version upgrades.
LOG_EXPORTS = ("postgresql", "upgrade")
MONITORING_INTERVALS = (1, 5, 10, 15, 30, 60)
# Performance Insights keeps 7 days for free, or whole months (31 days each) up to 2 years.
PERFORMANCE_INSIGHTS_RETENTION_DAYS = (7, *[31 * m for m in range(1, 24)], 731)

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAILY_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_WEEKLY_WINDOW = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)$"
)
# RDS DB identifiers (instances, snapshots): a letter, then letters, digits and single hyphens.
_IDENTIFIER = re.compile(r"^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*(?<!-)$")
_SNAPSHOT_ARN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:rds:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):(?P<account>\d{12}):snapshot:(?P<id>.+)$"
)
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
MIN_WINDOW_MINUTES = 30


class WindowError(ValueError):
    """A backup or maintenance window is malformed or too short; the message says what RDS expects."""


def daily_window(text: str) -> tuple[int, int]:
    """Parse a backup window ``hh:mm-hh:mm`` (UTC) into (start, length) in minutes of the day."""
    match = _DAILY_WINDOW.match(text)
    if not match:
        raise WindowError("expected hh:mm-hh:mm in UTC, e.g. 02:00-03:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    length = (end - start) % MINUTES_PER_DAY
    if length < MIN_WINDOW_MINUTES:
        raise WindowError(f"expected a window of at least {MIN_WINDOW_MINUTES} minutes (RDS rejects shorter ones)")
    return start, length


def weekly_window(text: str) -> tuple[int, int]:
    """Parse a maintenance window ``ddd:hh:mm-ddd:hh:mm`` (UTC) into (start, length) in minutes of the week."""
    match = _WEEKLY_WINDOW.match(text.lower())
    if not match:
        raise WindowError("expected ddd:hh:mm-ddd:hh:mm in UTC, e.g. sun:03:30-sun:04:30")
    d1, h1, m1, d2, h2, m2 = match.groups()
    start = _DAYS.index(d1) * MINUTES_PER_DAY + int(h1) * 60 + int(m1)
    end = _DAYS.index(d2) * MINUTES_PER_DAY + int(h2) * 60 + int(m2)
    length = (end - start) % MINUTES_PER_WEEK
    if length < MIN_WINDOW_MINUTES:
        raise WindowError(f"expected a window of at least {MIN_WINDOW_MINUTES} minutes (RDS rejects shorter ones)")
    return start, length


def windows_overlap(backup_window: str, maintenance_window: str) -> bool:
    """Whether the daily backup window meets the weekly maintenance window on any day (RDS rejects that)."""
    b_start, b_len = daily_window(backup_window)
    m_start, m_len = weekly_window(maintenance_window)
    for day in range(7):
        start = day * MINUTES_PER_DAY + b_start
        for shift in (-MINUTES_PER_WEEK, 0, MINUTES_PER_WEEK):
            s = start + shift
            if s < m_start + m_len and m_start < s + b_len:
                return True
    return False


def is_valid_identifier(text: str, max_length: int = 255) -> bool:
    """An RDS identifier: starts with a letter, letters/digits/single hyphens, no trailing hyphen."""
    return len(text) <= max_length and bool(_IDENTIFIER.match(text))


def snapshot_reference_problem(reference: str, region: str | None = None) -> str | None:
    """Why ``reference`` cannot name a DB snapshot to restore from (None when it can).

    Accepted: a snapshot identifier (``rds:`` prefix allowed for automated snapshots) or a snapshot
    ARN ``arn:aws:rds:<region>:<12-digit account>:snapshot:<identifier>``. An ARN in another region
    than ``region`` is refused: RDS restores only from a snapshot in the instance's own region
    (copy it first with ``aws rds copy-db-snapshot``).
    """
    if reference.startswith("arn:"):
        match = _SNAPSHOT_ARN.match(reference)
        if not match:
            return "expected a snapshot ARN of the form arn:aws:rds:<region>:<12-digit account>:snapshot:<identifier>"
        if not is_valid_identifier(match["id"].removeprefix("rds:")):
            return "the snapshot identifier in the ARN must start with a letter and hold only letters, digits and single hyphens"
        if region is not None and match["region"] != region:
            return (
                f"the snapshot is in {match['region']} but the stack is in {region}; copy it first "
                f"(aws rds copy-db-snapshot --source-region {match['region']} ...) and restore the copy"
            )
        return None
    if not is_valid_identifier(reference.removeprefix("rds:")):
        return (
            "expected a snapshot identifier (a letter, then letters, digits and single hyphens, no trailing "
            "hyphen; rds: prefix for automated snapshots) or a snapshot ARN"
        )
    return None


def parameter_group_family(engine_version: str) -> str:
    """The parameter group family of a PostgreSQL major version, e.g. ``postgres17``."""
    return f"postgres{engine_version}"


def postgres_parameters(slow_statement_ms: int) -> list[dict[str, str]]:
    """The parameter group settings: TLS only, and the logging an on-call engineer needs.

    Every one of them is dynamic on RDS, so they apply without a reboot.
    """
    settings = {
        # Refuse any connection that is not TLS (the server answers non-TLS attempts with an error).
        "rds.force_ssl": "1",
        # Slow statements, with their text and duration.
        "log_min_duration_statement": str(slow_statement_ms),
        # Who connects and for how long: the trail for "who was connected when it broke".
        "log_connections": "1",
        "log_disconnections": "1",
        # Waits on locks longer than deadlock_timeout (1 s): the usual cause of stuck schedulers.
        "log_lock_waits": "1",
        # Autovacuum runs over 10 s: bloat on task_instance/xcom tables shows up here first.
        "log_autovacuum_min_duration": "10000",
    }
    return [{"name": k, "value": v, "apply_method": "immediate"} for k, v in settings.items()]


def connection_uri(
    user: str, password: str, host: str, port: int, database: str, ssl_root_cert: str | None = None
) -> str:
    """The SQLAlchemy/libpq URI Airflow uses for its metadata database, always over TLS.

    Without ``ssl_root_cert`` the client requires TLS (``sslmode=require``: encrypted, server not
    authenticated). With the path of the RDS CA bundle inside the Airflow containers it also checks
    the server certificate and host name (``sslmode=verify-full``).
    """
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    if ssl_root_cert:
        query = f"sslmode=verify-full&sslrootcert={quote(ssl_root_cert, safe='/')}"
    else:
        query = "sslmode=require"
    return f"postgresql://{credentials}@{host}:{port}/{quote(database, safe='')}?{query}"


def final_snapshot_identifier(instance_identifier: str, suffix: str) -> str:
    """The snapshot RDS takes when this instance is deleted: ``<instance>-final-<suffix>``.

    ``suffix`` comes from a random value created with the instance and renewed whenever a new
    instance would be created (see ``final_snapshot_keepers``), so each deletion writes a snapshot
    of its own: a fixed name would make the second destroy fail on the first one's snapshot.
    """
    identifier = f"{instance_identifier}-final-{suffix}"
    if not is_valid_identifier(identifier):
        raise ValueError(f"invalid final snapshot identifier {identifier!r}")
    return identifier


def final_snapshot_keepers(identifier: str, username: str, database: str) -> dict[str, str]:
    """The inputs whose change makes RDS create a new instance; the snapshot suffix is renewed with them.

    These are the instance's create-only inputs that are not ignored after creation (engine,
    identifier, master user, database name). Destroying and recreating the stack renews the suffix
    anyway, since the random value is destroyed with the stack.
    """
    return {"engine": ENGINE, "identifier": identifier, "username": username, "database": database}


def monitoring_trust_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": MONITORING_SERVICE}, "Action": "sts:AssumeRole"}
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True, kw_only=True)
class DatabaseArgs:
    """Inputs of the Database component."""

    identifier: str
    """The DB instance identifier; also names the final snapshot, the log groups and the endpoint."""

    vpc_id: pulumi.Input[str]
    db_subnet_group_name: pulumi.Input[str]
    """The subnet group of the isolated database subnets (``Network.db_subnet_group_name``)."""

    client_security_group_ids: Sequence[pulumi.Input[str]]
    """Security groups whose members may connect on 5432. At least one; there is no CIDR access."""

    engine_version: str = POSTGRES_MAJOR_VERSION
    """PostgreSQL major version, one of ``SUPPORTED_POSTGRES_MAJOR_VERSIONS``; minors come from RDS."""

    instance_class: str = "db.m7g.large"
    """Graviton general purpose: steady CPU for the scheduler's constant small queries (no burst credits)."""

    allocated_storage: int = 100
    """GiB of gp3 at creation (gp3 gives 3,000 IOPS baseline whatever the size under 400 GiB)."""

    max_allocated_storage: int = 500
    """GiB storage autoscaling may grow to: a full disk stops Airflow, autoscaling avoids the page."""

    multi_az: bool = True
    """A standby in another AZ: failover in a minute or two instead of a restore."""

    backup_retention_days: int = 14
    """Automated backups (and point-in-time recovery) kept this long; also kept after deletion."""

    backup_window: str = "02:00-03:00"
    """Daily backup window, UTC."""

    maintenance_window: str = "sun:03:30-sun:04:30"
    """Weekly window for minor version upgrades and pending modifications, UTC."""

    deletion_protection: bool = True
    """Both RDS deletion protection and the Pulumi ``protect`` option (off only where loss is cheap)."""

    apply_immediately: bool = False
    """Apply modifications now (True) or in the maintenance window (False: no surprise restarts)."""

    restore_from_snapshot: Optional[str] = None
    """Snapshot identifier or ARN to create the instance from; ignored once the instance exists."""

    performance_insights_retention_days: int = 7
    """7 (free) or a multiple of 31 up to 731."""

    monitoring_interval_seconds: int = 60
    """Enhanced monitoring granularity: OS metrics (memory, swap, IO) that CloudWatch lacks."""

    slow_statement_ms: int = 1000
    """Statements running longer are logged with their text."""

    log_retention_days: int = 365
    """Retention of the exported PostgreSQL logs in CloudWatch Logs."""

    database_name: str = "airflow"
    master_username: str = "airflow"

    kms_key_id: Optional[pulumi.Input[str]] = None
    """Key for storage encryption. None: the AWS managed key aws/rds (looked up, so the plan shows it),
    whose lifecycle outlives the stack and so keeps retained backups restorable."""

    ssl_root_cert: Optional[str] = None
    """Path of the RDS CA bundle in the Airflow containers. Set: the connection string uses
    ``sslmode=verify-full``; unset: ``sslmode=require`` (encrypted, server not authenticated)."""

    tags: Mapping[str, str] = field(default_factory=dict)


class Database(pulumi.ComponentResource):
    """Airflow's metadata database: one RDS for PostgreSQL instance and what it needs."""

    identifier: pulumi.Output[str]
    address: pulumi.Output[str]
    """Host name of the instance (stable across failovers)."""
    port: pulumi.Output[int]
    security_group_id: pulumi.Output[str]
    database_name: str
    master_username: str
    master_password: pulumi.Output[str]
    """Secret."""
    metadata_connection_uri: pulumi.Output[str]
    """``postgresql://...?sslmode=...`` for Airflow's ``sql_alchemy_conn``. Secret."""
    final_snapshot_identifier: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:Database", name, None, opts)
        _check(args)
        child = pulumi.ResourceOptions(parent=self)

        def tags(role: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{role}"}

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"PostgreSQL of {args.identifier}: 5432 from its client security groups only",
            tags=tags("sg"),
            opts=child,
        )
        for i, client in enumerate(args.client_security_group_ids):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-postgres-from-client-{i}",
                security_group_id=self.security_group.id,
                referenced_security_group_id=client,
                ip_protocol="tcp",
                from_port=POSTGRES_PORT,
                to_port=POSTGRES_PORT,
                description="PostgreSQL from a client security group",
                tags=tags(f"postgres-from-client-{i}"),
                opts=child,
            )

        parameter_group = aws.rds.ParameterGroup(
            f"{name}-params",
            family=parameter_group_family(args.engine_version),
            description=f"TLS only and diagnostic logging for {args.identifier}",
            parameters=postgres_parameters(args.slow_statement_ms),
            tags=tags("params"),
            opts=child,
        )

        # RDS writes each export to /aws/rds/instance/<identifier>/<log>: one lookup for them all.
        log_prefix = f"/aws/rds/instance/{args.identifier}/"
        log_groups = service_log_groups(
            [
                ServiceLogGroup(
                    resource_name=f"{name}-log-{kind}",
                    name=f"{log_prefix}{kind}",
                    retention_in_days=args.log_retention_days,
                    tags=tags(f"log-{kind}"),
                )
                for kind in LOG_EXPORTS
            ],
            lookup_prefix=log_prefix,
            parent=self,
        )

        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        monitoring_role = aws.iam.Role(
            f"{name}-monitoring",
            assume_role_policy=monitoring_trust_policy(),
            tags=tags("monitoring"),
            opts=child,
        )
        monitoring_policy = aws.iam.RolePolicyAttachment(
            f"{name}-monitoring",
            role=monitoring_role.name,
            policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", ENHANCED_MONITORING_POLICY),
            opts=child,
        )

        kms_key_id = args.kms_key_id
        if kms_key_id is None:
            # DescribeKey on an AWS managed alias creates the key if the account never used it.
            kms_key_id = aws.kms.get_key_output(key_id="alias/aws/rds", opts=pulumi.InvokeOutputOptions(parent=self)).arn

        password = random.RandomPassword(
            f"{name}-master-password",
            length=40,
            # Letters and digits only: RDS forbids / @ " and space, and the value goes into a URI.
            special=False,
            opts=child,
        )
        self.master_password = pulumi.Output.secret(password.result)

        suffix = random.RandomId(
            f"{name}-final-snapshot-suffix",
            byte_length=4,
            keepers=final_snapshot_keepers(args.identifier, args.master_username, args.database_name),
            opts=child,
        )
        self.final_snapshot_identifier = suffix.hex.apply(lambda h: final_snapshot_identifier(args.identifier, h))

        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=args.identifier,
            engine=ENGINE,
            engine_version=args.engine_version,
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            instance_class=args.instance_class,
            storage_type="gp3",
            # A restore takes the snapshot's size: storage autoscaling may have grown it past the
            # configured size, and RDS refuses to restore into less storage than the snapshot holds.
            allocated_storage=None if args.restore_from_snapshot else args.allocated_storage,
            max_allocated_storage=args.max_allocated_storage,
            storage_encrypted=True,
            kms_key_id=kms_key_id,
            multi_az=args.multi_az,
            db_subnet_group_name=args.db_subnet_group_name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            port=POSTGRES_PORT,
            db_name=args.database_name,
            username=args.master_username,
            password=self.master_password,
            parameter_group_name=parameter_group.name,
            ca_cert_identifier=RDS_CA_CERT_IDENTIFIER,
            backup_retention_period=args.backup_retention_days,
            backup_window=args.backup_window,
            maintenance_window=args.maintenance_window,
            delete_automated_backups=False,
            copy_tags_to_snapshot=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=self.final_snapshot_identifier,
            deletion_protection=args.deletion_protection,
            apply_immediately=args.apply_immediately,
            snapshot_identifier=args.restore_from_snapshot,
            performance_insights_enabled=True,
            performance_insights_retention_period=args.performance_insights_retention_days,
            monitoring_interval=args.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role.arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            tags=tags("instance"),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.deletion_protection,
                # snapshotIdentifier only means something at creation; changing or removing it later
                # must never replace the database. kmsKeyId: a restored instance keeps its snapshot's
                # key and RDS cannot re-key an instance in place, so a difference could only ever be
                # "applied" by replacing the database.
                ignore_changes=["snapshotIdentifier", "kmsKeyId"],
                # RDS checks the monitoring role's permissions when it creates the instance.
                depends_on=[*log_groups, monitoring_policy],
                # Restoring a large snapshot into Multi-AZ takes longer than the provider's 40 min.
                custom_timeouts=pulumi.CustomTimeouts(create="120m", update="120m", delete="60m"),
            ),
        )

        self.identifier = instance.identifier
        self.address = instance.address
        self.port = instance.port
        self.security_group_id = self.security_group.id
        self.database_name = args.database_name
        self.master_username = args.master_username
        self.metadata_connection_uri = pulumi.Output.secret(
            pulumi.Output.all(self.master_password, instance.address, instance.port).apply(
                lambda v: connection_uri(args.master_username, v[0], v[1], int(v[2]), args.database_name, args.ssl_root_cert)
            )
        )
        self.register_outputs(
            {
                "identifier": self.identifier,
                "address": self.address,
                "port": self.port,
                "security_group_id": self.security_group_id,
                "final_snapshot_identifier": self.final_snapshot_identifier,
            }
        )


def _check(args: DatabaseArgs) -> None:
    """Invariants of the arguments; stack config reports the same rules earlier with its key paths."""
    if not args.client_security_group_ids:
        raise ValueError("Database needs at least one client security group: there is no other way in")
    if args.engine_version not in SUPPORTED_POSTGRES_MAJOR_VERSIONS:
        raise ValueError(
            f"PostgreSQL {args.engine_version!r} is not supported: expected a major version, one of "
            f"{list(SUPPORTED_POSTGRES_MAJOR_VERSIONS)}"
        )
    if args.max_allocated_storage < args.allocated_storage:
        raise ValueError("max_allocated_storage must be at least allocated_storage")
    if args.restore_from_snapshot is not None:
        problem = snapshot_reference_problem(args.restore_from_snapshot)
        if problem:
            raise ValueError(f"restore_from_snapshot {args.restore_from_snapshot!r}: {problem}")
    if args.monitoring_interval_seconds not in MONITORING_INTERVALS:
        raise ValueError(f"monitoring_interval_seconds must be one of {list(MONITORING_INTERVALS)}")
    if args.performance_insights_retention_days not in PERFORMANCE_INSIGHTS_RETENTION_DAYS:
        raise ValueError("performance_insights_retention_days must be 7, a multiple of 31 up to 713, or 731")

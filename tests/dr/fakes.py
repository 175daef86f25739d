"""Test doubles of the DR rehearsal: a recording fake of ``PulumiStack`` and a controllable clock.

``RecordingStack`` records every call and behaves like the real program (``stacks/environment.py``)
under the Pulumi engine would, on AWS (moto). Its state holds the resources of the real program
that matter to the rehearsal, with the real program's names and options:

* the database ``batch-platform-<stack>-airflow``, ``protect`` = ``database.deletion_protection``
  (which also drives the RDS flag);
* the task-log bucket and one of its settings, ``retain_on_delete``;
* the four Airflow secrets ``batch-platform/<stack>/airflow/<key>`` and their versions,
  ``retain_on_delete``;
* a VPC and the cluster's KMS key, neither (deleted by a destroy);
* optionally a stack-owned KMS key encrypting the database.

``durability`` overrides a role's flags ("protect", "retain" or "none") to build a stack that is
not like the real program.

Pulumi semantics modelled:

* ``destroy`` (``--exclude-protected``): a protected resource stays in the state and in AWS; any
  other leaves the state, and is deleted from AWS unless retained (retained: left in AWS). RDS
  refuses to delete an instance with deletion protection; a deleted instance writes its final
  snapshot (``skip_final_snapshot`` is off in the real program).
* ``up``: a declared resource missing from the state is adopted when it exists in AWS (the real
  program's list lookup and ``import``; only for the resources the program looks up: the bucket
  and the secrets) or created; the database is created from ``database.restore_from_snapshot``
  when set. Airflow's fernet key and admin password are the values of their secrets, as the real
  program hands them to the Helm release: a fernet-key secret created anew means a new key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from cryptography.fernet import Fernet

from infra.airflow_secrets import ADMIN_PASSWORD, FERNET_KEY, KEYS
from stacks.data import database_identifier, durable_secret_prefix, task_log_bucket_name
from stacks.dr.pulumi_ops import DELETION_PROTECTION, REGION, RESTORE_FROM_SNAPSHOT, TIER, StackResource
from stacks.environment import PROJECT

from tests.dr.fake_airflow import AirflowState, log_key

MUTATING = ("set_config", "remove_config", "up", "destroy")
ACCOUNT = "123456789012"  # moto's account
REGION_NAME = "eu-west-1"

PROTECT, RETAIN, NONE = "protect", "retain", "none"


class FakeClock:
    """UTC wall clock that moves only when told: ``sleep`` and the fake stack's operations advance it."""

    def __init__(self, start: datetime = datetime(2025, 3, 1, 9, 0, 0, tzinfo=timezone.utc)):
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class InjectedFailure(RuntimeError):
    pass


@dataclass(frozen=True)
class Role:
    """One resource the fake program declares."""

    role: str
    type: str
    logical: str
    parent_type: str | None
    default: str
    """Its flags in the real program: protect, retain, none, or "config" (database.deletion_protection)."""
    adoptable: bool = False
    """The real program looks it up and imports it when it exists in AWS."""


class RecordingStack:
    """A ``PulumiStack`` whose up/destroy act on moto's RDS, S3, Secrets Manager and KMS."""

    UP_SECONDS = 1200.0
    DESTROY_SECONDS = 600.0

    def __init__(
        self,
        name: str,
        *,
        session: Any,
        clock: FakeClock,
        airflow: AirflowState,
        airflow_url: str,
        tier: str = "dev",
        deletion_protection: str | None = "false",
        durability: dict[str, str] | None = None,
        database_key: str | None = None,
    ):
        """``database_key``: durability of a stack-owned KMS key encrypting the database (None: the
        AWS managed key, like the real program)."""
        self.name = name
        self.rds = session.client("rds")
        self.s3 = session.client("s3")
        self.secretsmanager = session.client("secretsmanager")
        self._session = session
        self.clock = clock
        self.airflow = airflow
        self.airflow_url = airflow_url
        self.database = database_identifier(PROJECT, name)
        self.bucket = task_log_bucket_name(PROJECT, name, ACCOUNT, REGION_NAME)
        self.secret_prefix = durable_secret_prefix(PROJECT, name)
        self.config: dict[str, str] = {TIER: tier, REGION: REGION_NAME}
        if deletion_protection is not None:
            self.config[DELETION_PROTECTION] = deletion_protection
        self.roles = self._roles(database_key is not None)
        self.durability = {r.role: r.default for r in self.roles}
        if database_key is not None:
            self.durability["database-key"] = database_key
        self.durability.update(durability or {})
        self.state: dict[str, StackResource] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.fail_next: dict[str, BaseException] = {}
        """method name -> exception raised on its next call (failure injection)."""
        self.after_up_hooks: list[Callable[["RecordingStack"], None]] = []
        self.after_destroy_hooks: list[Callable[["RecordingStack"], None]] = []
        self.deployed = False
        self.exists_in_backend = True
        self.load_balancer = ""
        """The UI load balancer's DNS name (the stack output): a test sets one and changes it on recreate."""
        self.pending: list = []
        """Pending operations an interrupted up left in the state (``PendingOperation``)."""
        self.locked = False
        self._key_arn: str | None = None
        self._final_snapshot: str | None = None
        self._instances_created = 0
        self._values = {FERNET_KEY: airflow.fernet_key.decode(), ADMIN_PASSWORD: airflow.password}
        """First values of the secrets, as Secrets Manager would generate them."""
        self._apply()  # deployed before the rehearsal
        task = airflow.task_instances[0]
        self.task_log_key = log_key(task["dag_id"], task["dag_run_id"], task["task_id"], task["try_number"])
        lines = [
            {"timestamp": "2025-01-01T00:00:01.000000Z", "level": "info", "event": "Starting java -jar app.jar --job.name=payroll_export"},
            {"timestamp": "2025-01-01T00:03:10.000000Z", "level": "info", "event": "Job: [payroll_export] completed with status COMPLETED"},
        ]
        self.s3.put_object(Bucket=self.bucket, Key=self.task_log_key, Body="".join(json.dumps(line) + "\n" for line in lines).encode())
        airflow.read_remote = self._read_log
        self.calls.clear()

    def _roles(self, with_database_key: bool) -> list[Role]:
        n = self.name
        roles = [
            Role("vpc", "aws:ec2/vpc:Vpc", f"{n}-network-vpc", "batch-platform:infra:Network", NONE),
            Role("cluster-key", "aws:kms/key:Key", f"{n}-cluster-secrets", "batch-platform:infra:Cluster", NONE),
        ]
        if with_database_key:
            roles.append(Role("database-key", "aws:kms/key:Key", f"{n}-database-key", "batch-platform:infra:Database", NONE))
        roles += [
            Role("database", "aws:rds/instance:Instance", f"{n}-database-instance", "batch-platform:infra:Database", "config"),
            Role("bucket", "aws:s3/bucket:Bucket", f"{n}-task-logs-bucket", "batch-platform:infra:TaskLogBucket", RETAIN, adoptable=True),
            Role("bucket-versioning", "aws:s3/bucketVersioning:BucketVersioning", f"{n}-task-logs-versioning", "batch-platform:infra:TaskLogBucket", RETAIN),
        ]
        for key in KEYS:
            parent = "batch-platform:infra:AirflowSecrets"
            roles.append(Role(f"secret:{key}", "aws:secretsmanager/secret:Secret", f"{n}-airflow-secrets-{key}", parent, RETAIN, adoptable=True))
            roles.append(Role(f"version:{key}", "aws:secretsmanager/secretVersion:SecretVersion", f"{n}-airflow-secrets-{key}", parent, RETAIN, adoptable=True))
        return roles

    # -- PulumiStack -------------------------------------------------------------------------

    def _call(self, *entry: Any) -> None:
        self.calls.append(entry)
        failure = self.fail_next.pop(entry[0], None)
        if failure is not None:
            raise failure

    def exists(self) -> bool:
        self._call("exists")
        return self.exists_in_backend

    def outputs(self) -> dict[str, Any]:
        self._call("outputs")
        if not self.deployed:
            return {}
        return {
            "region": REGION_NAME,
            "database_instance_identifier": self.database,
            "database_endpoint": f"{self.database}.offline.{REGION_NAME}.rds.amazonaws.com",
            "database_port": 5432,
            "database_final_snapshot_identifier": self._final_snapshot,
            "task_log_bucket": self.bucket,
            "durable_secret_arns": {key: self.state[f"secret:{key}"].id for key in KEYS if f"secret:{key}" in self.state},
            "cluster_name": f"{PROJECT}-{self.name}",
            "kubeconfig": "apiVersion: v1  # secret: must never reach a file",
            "airflow_namespace": "airflow",
            "airflow_url": self.airflow_url,
            "airflow_load_balancer": self.load_balancer,
        }

    def get_config(self, key: str) -> str | None:
        self._call("get_config", key)
        return self.config.get(key)

    def set_config(self, key: str, value: str) -> None:
        self._call("set_config", key, value)
        self.config[key] = value

    def remove_config(self, key: str) -> None:
        self._call("remove_config", key)
        self.config.pop(key, None)

    def up(self, on_output, targets=None) -> None:
        self._call("up", *([tuple(targets)] if targets else []))
        self._refuse_if_locked("up")
        on_output(f"Updating ({self.name}):")
        self.clock.advance(self.UP_SECONDS)
        if targets:
            self._apply_targets(targets)
        else:
            self._apply()
        for hook in self.after_up_hooks:
            hook(self)
        on_output("Update complete.")

    def destroy(self, on_output) -> None:
        self._call("destroy")
        self._refuse_if_locked("destroy")
        on_output(f"Destroying ({self.name}):")
        self.clock.advance(self.DESTROY_SECONDS)
        self.airflow.up = False
        self.deployed = False
        for role in reversed(self.roles):  # dependents first, like the engine
            if role.role not in self.state or self._protected(role):
                continue
            if not self._retained(role):
                self._delete(role)  # may fail like AWS would: the rest stays in the state
            del self.state[role.role]
        for hook in self.after_destroy_hooks:
            hook(self)
        on_output("Destroy complete.")

    def _refuse_if_locked(self, command: str) -> None:
        if self.locked:
            from stacks.dr.pulumi_ops import PulumiCommandFailed

            raise PulumiCommandFailed(
                command, "", "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
                "to end or delete the lock file with `pulumi cancel`.", 255, concurrent=True,
            )

    def pending_operations(self):
        self._call("pending_operations")
        return list(self.pending)

    def repair(self, on_output, imports):
        self._call("repair", dict(imports))
        self.locked = False
        done = []
        for op in list(self.pending):
            self.pending.remove(op)
            if op.urn in imports:
                role = next(r for r in self.roles if self._urn(r) == op.urn)
                self.state[role.role] = self._record(role)
                done.append(f"imported {op.urn} as {imports[op.urn]}")
            else:
                done.append(f"cleared {op.urn}")
        return done or ["refreshed the state from AWS"]

    def resources(self) -> list[StackResource]:
        self._call("resources")
        if not self.state:
            return []
        stack = f"urn:pulumi:{self.name}::{PROJECT}"
        return [
            StackResource(urn=f"{stack}::pulumi:pulumi:Stack::{PROJECT}-{self.name}", type="pulumi:pulumi:Stack", protect=False),
            StackResource(urn=f"{stack}::pulumi:providers:aws::aws", type="pulumi:providers:aws", protect=False, id="provider-id"),
            *self.state.values(),
        ]

    # -- failure injection helpers -----------------------------------------------------------

    def lose(self, role: str) -> None:
        """Delete a resource from AWS and the state, as a destroy that stopped half-way would."""
        self._delete(self._role(role))
        self.state.pop(role, None)

    def replace_secret(self, key: str) -> None:
        """Delete a secret and create a new one of the same name and value (a new ARN), as a program
        that created instead of adopting would."""
        name = self._secret_name(key)
        value = self._secret_value(key)
        self.secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        self.secretsmanager.create_secret(Name=name, SecretString=value)
        for role in (f"secret:{key}", f"version:{key}"):
            self.state[role] = self._record(self._role(role))

    def delete_bucket(self) -> None:
        """Empty and delete the task-log bucket in AWS (behind the state's back)."""
        self._delete(self._role("bucket"))

    # -- what the program and the engine do --------------------------------------------------

    @property
    def kms(self) -> Any:
        return self._session.client("kms")  # only stacks with a database key use it

    def _role(self, name: str) -> Role:
        return next(r for r in self.roles if r.role == name)

    def _flags(self, role: Role) -> str:
        flags = self.durability[role.role]
        if flags == "config":
            return PROTECT if self.config.get(DELETION_PROTECTION) == "true" else NONE
        return flags

    def _protected(self, role: Role) -> bool:
        return self.state[role.role].protect

    def _retained(self, role: Role) -> bool:
        return self.state[role.role].retain_on_delete

    def _apply(self) -> None:
        # the program's lookups, made once before registering anything
        found = self._found_in_aws()
        for role in self.roles:
            if role.role in self.state:
                self._update(role)
            elif role.role in found:
                pass  # adopted: the program found it and imports it as it is
            else:
                self._create(role)
            self.state[role.role] = self._record(role)
        self.airflow.fernet_key = self._secret_value(FERNET_KEY).encode()
        self.airflow.password = self._secret_value(ADMIN_PASSWORD)
        self.deployed = True
        self.airflow.up = True
        self.airflow.parsed(self.clock.now().isoformat())  # the DAG processor reads the git-sync checkout

    def _urn(self, role: Role) -> str:
        parent = f"{role.parent_type}$" if role.parent_type else ""
        return f"urn:pulumi:{self.name}::{PROJECT}::{parent}{role.type}::{role.logical}"

    def _record(self, role: Role) -> StackResource:
        flags = self._flags(role)
        id_, outputs = self._identity(role)
        return StackResource(urn=self._urn(role), type=role.type, protect=flags == PROTECT, id=id_, outputs=outputs, retain_on_delete=flags == RETAIN)

    def _apply_targets(self, targets) -> None:
        """A targeted up: only the resources named by URN are updated (their options included)."""
        for role in self.roles:
            if self._urn(role) in targets and role.role in self.state:
                self._update(role)
                self.state[role.role] = self._record(role)

    def _read_log(self, key: str) -> str | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
        except self.s3.exceptions.NoSuchKey:
            return None
        except self.s3.exceptions.NoSuchBucket:
            return None

    def _identity(self, role: Role) -> tuple[str, dict[str, Any]]:
        kind, _, key = role.role.partition(":")
        if kind == "database":
            return self.database, {"identifier": self.database, "finalSnapshotIdentifier": self._final_snapshot}
        if kind == "bucket":
            return self.bucket, {"bucket": self.bucket, "arn": f"arn:aws:s3:::{self.bucket}"}
        if kind == "bucket-versioning":
            return self.bucket, {"bucket": self.bucket}
        if kind == "secret":
            found = self.secretsmanager.describe_secret(SecretId=self._secret_name(key))
            return found["ARN"], {"name": found["Name"], "arn": found["ARN"]}
        if kind == "version":
            arn = self.secretsmanager.describe_secret(SecretId=self._secret_name(key))["ARN"]
            version = self.secretsmanager.get_secret_value(SecretId=arn)["VersionId"]
            return f"{arn}|{version}", {"secretId": arn, "arn": arn, "versionId": version}
        if kind == "database-key":
            return self._key_arn.split("/")[-1], {"arn": self._key_arn}
        return f"{role.logical}-id", {}

    def _secret_name(self, key: str) -> str:
        return f"{self.secret_prefix}/{key}"

    def _secret_value(self, key: str) -> str:
        return self.secretsmanager.get_secret_value(SecretId=self._secret_name(key))["SecretString"]

    def _found_in_aws(self) -> set[str]:
        """The adoptable roles that exist in AWS (ListBuckets, ListSecrets: what the program asks)."""
        buckets = {b["Name"] for b in self.s3.list_buckets()["Buckets"]}
        secrets = {s["Name"] for s in self.secretsmanager.list_secrets()["SecretList"]}
        found = set()
        for role in self.roles:
            kind, _, key = role.role.partition(":")
            if not role.adoptable:
                continue
            if (kind == "bucket" and self.bucket in buckets) or (kind in ("secret", "version") and self._secret_name(key) in secrets):
                found.add(role.role)
        return found

    def _create(self, role: Role) -> None:
        kind, _, key = role.role.partition(":")
        if kind == "database-key":
            self._key_arn = self.kms.create_key(Description="database key")["KeyMetadata"]["Arn"]
        elif kind == "database":
            self._create_database()
        elif kind == "bucket":
            self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION_NAME})
        elif kind == "secret":
            value = self._values.pop(key, None) or (Fernet.generate_key().decode() if key == FERNET_KEY else f"generated-{key}-{self._instances_created}")
            self.secretsmanager.create_secret(Name=self._secret_name(key), SecretString=value)

    def _update(self, role: Role) -> None:
        if role.role == "database":
            protect = self.config.get(DELETION_PROTECTION) == "true"
            self.rds.modify_db_instance(DBInstanceIdentifier=self.database, DeletionProtection=protect, ApplyImmediately=True)

    def _create_database(self) -> None:
        protect = self.config.get(DELETION_PROTECTION) == "true"
        self._instances_created += 1
        # the real program draws a new random suffix per instance: every deletion writes its own snapshot
        self._final_snapshot = f"{self.database}-final-{self._instances_created:08x}"
        key = {"KmsKeyId": self._key_arn} if self._key_arn else {}
        if self.config.get(RESTORE_FROM_SNAPSHOT):
            self.rds.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=self.database,
                DBSnapshotIdentifier=self.config[RESTORE_FROM_SNAPSHOT],
                DeletionProtection=protect,
            )  # a restored instance keeps its snapshot's key
        else:
            self.rds.create_db_instance(
                DBInstanceIdentifier=self.database,
                DBInstanceClass="db.t4g.small",
                Engine="postgres",
                MasterUsername="airflow",
                MasterUserPassword="offline-master-password",  # the real program sets a random one
                AllocatedStorage=20,
                StorageEncrypted=True,
                DeletionProtection=protect,
                BackupRetentionPeriod=7,
                **key,
            )

    def _delete(self, role: Role) -> None:
        kind, _, key = role.role.partition(":")
        if kind == "database":
            self.rds.delete_db_instance(
                DBInstanceIdentifier=self.database, SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=self._final_snapshot
            )
        elif kind == "bucket":
            for item in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", []):
                self.s3.delete_object(Bucket=self.bucket, Key=item["Key"])
            self.s3.delete_bucket(Bucket=self.bucket)
        elif kind == "secret":
            # at once: a secret in its recovery window would block the next up (ListSecrets hides it)
            self.secretsmanager.delete_secret(SecretId=self._secret_name(key), ForceDeleteWithoutRecovery=True)
        elif kind == "database-key":
            self.kms.schedule_key_deletion(KeyId=self._key_arn, PendingWindowInDays=7)
            self._key_arn = None
        # a secret version without its secret, a bucket setting, a VPC: nothing the rehearsal reads

    def mutations(self) -> list[tuple[Any, ...]]:
        """The calls that change the stack or its config, in order."""
        return [c for c in self.calls if c[0] in MUTATING]

"""Test doubles of the DR rehearsal: a recording fake of ``PulumiStack`` and a controllable clock.

``RecordingStack`` records every call and behaves like the real program would on AWS (moto):
``up`` creates the database (from ``database.restore_from_snapshot`` when set) or updates its
deletion protection from ``database.deletion_protection``, which also drives the ``protect`` flag;
``destroy`` refuses protected resources like Pulumi does and deletes the rest (a deletion-protected
instance fails to delete, as in RDS). The log bucket is protected unless told otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from stacks.dr.pulumi_ops import DELETION_PROTECTION, REGION, RESTORE_FROM_SNAPSHOT, TIER, StackResource

from tests.dr.fake_airflow import AirflowState

MUTATING = ("set_config", "remove_config", "up", "destroy")


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


class RecordingStack:
    """A ``PulumiStack`` whose up/destroy act on moto's RDS and S3 like the real program would."""

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
        database: str = "dev-airflow-db",
        bucket: str = "dev-task-logs",
        protect_bucket: bool = True,
    ):
        self.name = name
        self.rds = session.client("rds")
        self.s3 = session.client("s3")
        self.clock = clock
        self.airflow = airflow
        self.airflow_url = airflow_url
        self.database = database
        self.bucket = bucket
        self.protect_bucket = protect_bucket
        self.config: dict[str, str] = {TIER: tier, REGION: "eu-west-1"}
        if deletion_protection is not None:
            self.config[DELETION_PROTECTION] = deletion_protection
        self.calls: list[tuple[Any, ...]] = []
        self.fail_next: dict[str, Exception] = {}
        """method name -> exception raised on its next call (failure injection)."""
        self.after_up_hooks: list[Any] = []
        self.deployed = False
        self.exists_in_backend = True
        self.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.s3.put_object(Bucket=bucket, Key="dag_id=payroll_export/run_id=r1/task_id=run_job/attempt=1.log", Body=b"old log\n")
        self._apply()  # deployed before the rehearsal
        self.calls.clear()

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
            "region": "eu-west-1",
            "database_instance_identifier": self.database,
            "task_log_bucket": self.bucket,
            "airflow_url": self.airflow_url,
            "kubeconfig": "apiVersion: v1  # secret: must never reach a file",
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

    def up(self, on_output) -> None:
        self._call("up")
        on_output(f"Updating ({self.name}):")
        self.clock.advance(self.UP_SECONDS)
        self._apply()
        for hook in self.after_up_hooks:
            hook(self)
        on_output("Update complete.")

    def destroy(self, on_output) -> None:
        self._call("destroy")
        on_output(f"Destroying ({self.name}):")
        self.clock.advance(self.DESTROY_SECONDS)
        if self._protected():
            raise InjectedFailure(f"resource {self.database} is protected; set protect=false before destroying it")
        self.rds.delete_db_instance(DBInstanceIdentifier=self.database, SkipFinalSnapshot=True)
        if not self.protect_bucket:
            for item in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", []):
                self.s3.delete_object(Bucket=self.bucket, Key=item["Key"])
        self.airflow.up = False
        self.deployed = False
        on_output("Destroy complete.")

    def resources(self) -> list[StackResource]:
        self._call("resources")
        found = [StackResource(urn=f"urn:pulumi:{self.name}::batch-platform::pulumi:pulumi:Stack::batch-platform-{self.name}", type="pulumi:pulumi:Stack", protect=False)]
        found.append(
            StackResource(
                urn=f"urn:pulumi:{self.name}::batch-platform::aws:s3/bucket:Bucket::{self.name}-task-logs",
                type="aws:s3/bucket:Bucket",
                protect=self.protect_bucket,
                id=self.bucket,
                outputs={"bucket": self.bucket},
            )
        )
        if self.deployed:
            found.append(
                StackResource(
                    urn=f"urn:pulumi:{self.name}::batch-platform::aws:rds/instance:Instance::{self.name}-db",
                    type="aws:rds/instance:Instance",
                    protect=self._protected(),
                    id=self.database,
                    outputs={"identifier": self.database},
                )
            )
        return found

    # -- what the program does ---------------------------------------------------------------

    def _protected(self) -> bool:
        return self.config.get(DELETION_PROTECTION) == "true" and self.deployed

    def _apply(self) -> None:
        protect = self.config.get(DELETION_PROTECTION) == "true"
        try:
            self.rds.describe_db_instances(DBInstanceIdentifier=self.database)
            exists = True
        except self.rds.exceptions.DBInstanceNotFoundFault:
            exists = False
        if exists:
            self.rds.modify_db_instance(DBInstanceIdentifier=self.database, DeletionProtection=protect, ApplyImmediately=True)
        elif self.config.get(RESTORE_FROM_SNAPSHOT):
            self.rds.restore_db_instance_from_db_snapshot(
                DBInstanceIdentifier=self.database,
                DBSnapshotIdentifier=self.config[RESTORE_FROM_SNAPSHOT],
                DeletionProtection=protect,
            )
        else:
            self.rds.create_db_instance(
                DBInstanceIdentifier=self.database,
                DBInstanceClass="db.t4g.medium",
                Engine="postgres",
                MasterUsername="airflow",
                ManageMasterUserPassword=True,
                AllocatedStorage=20,
                StorageEncrypted=True,
                DeletionProtection=protect,
                BackupRetentionPeriod=7,
            )
        self.deployed = True
        self.airflow.up = True

    def mutations(self) -> list[tuple[Any, ...]]:
        """The calls that change the stack or its config, in order."""
        return [c for c in self.calls if c[0] in MUTATING]

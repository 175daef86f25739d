"""The AWS calls of the DR rehearsal, through boto3: RDS instances and snapshots, S3 canary objects.

Everything here is read-only except ``create_snapshot``, ``put_object`` and ``upsert_cname``; nothing
here deletes anything (the rehearsal never deletes a snapshot: ``stacks.dr.cleanup`` does, on
confirmation). Tests run these calls against moto, and against botocore's Stubber (which checks
every request and response against botocore's model) where moto lacks a field or an operation.

``bucket_exists`` and ``describe_secret`` are how the rehearsal proves that the destroy left the
retained durable data (the task-log bucket, the fernet key secret) in AWS before it recreates.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError


class AwsError(Exception):
    """An AWS call failed or a resource is not in the expected state; the message says which."""


@dataclass(frozen=True)
class DbInstance:
    identifier: str
    status: str
    deletion_protection: bool
    latest_restorable_time: datetime | None
    kms_key_id: str | None
    storage_encrypted: bool


@dataclass(frozen=True)
class DbSnapshot:
    identifier: str
    arn: str
    status: str
    create_time: datetime | None
    encrypted: bool
    kms_key_id: str | None
    database_time: datetime | None = None
    """SnapshotDatabaseTime: the most recent transaction applied to the restored instance (RDS's
    definition); the data-loss window starts here, not at SnapshotCreateTime."""
    instance: str | None = None
    snapshot_type: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AutomatedBackup:
    """Retained automated backups of a deleted instance (point-in-time recovery outlives it)."""

    arn: str
    instance: str
    resource_id: str
    status: str
    """active (the instance exists) or retained (it was deleted)."""
    instance_create_time: datetime | None
    earliest_time: datetime | None
    latest_time: datetime | None


@dataclass(frozen=True)
class SecretInfo:
    name: str
    arn: str
    deleted_date: datetime | None
    """Set when the secret is scheduled for deletion (it is then invisible to ListSecrets)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    last_modified: datetime | None = None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AwsOps:
    """boto3 clients of one region; ``sleep`` is injectable so waits are testable without waiting."""

    def __init__(self, region: str, session: Any = None, sleep: Callable[[float], None] = time.sleep):
        session = session or boto3.session.Session(region_name=region)
        self.region = region
        self.rds = session.client("rds", region_name=region)
        self.s3 = session.client("s3", region_name=region)
        self.sts = session.client("sts", region_name=region)
        self.secretsmanager = session.client("secretsmanager", region_name=region)
        self._session = session
        self._route53: Any = None
        self._sleep = sleep

    @property
    def route53(self) -> Any:
        """Only made when a hosted zone is configured (Route 53 is global)."""
        if self._route53 is None:
            self._route53 = self._session.client("route53")
        return self._route53

    # -- identity ----------------------------------------------------------------------------

    def caller_account(self) -> str:
        """The account the credentials belong to; fails clearly when there are no usable credentials."""
        try:
            return self.sts.get_caller_identity()["Account"]
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"AWS credentials do not work in {self.region}: {exc}") from None

    def secret_string(self, secret_id: str) -> str:
        try:
            return self.secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"cannot read secret {secret_id}: {_code(exc)}") from None

    def describe_secret(self, secret_id: str) -> SecretInfo | None:
        """The secret's metadata (never its value), or None when it does not exist."""
        try:
            item = self.secretsmanager.describe_secret(SecretId=secret_id)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return None
            raise AwsError(f"describe secret {secret_id}: {_code(exc)}") from None
        return SecretInfo(item["Name"], item["ARN"], item.get("DeletedDate"))

    # -- RDS ---------------------------------------------------------------------------------

    def describe_instance(self, identifier: str) -> DbInstance | None:
        try:
            found = self.rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
        except ClientError as exc:
            if _code(exc) == "DBInstanceNotFound":
                return None
            raise AwsError(f"describe DB instance {identifier}: {exc}") from None
        item = found[0]
        return DbInstance(
            identifier=item["DBInstanceIdentifier"],
            status=item["DBInstanceStatus"],
            deletion_protection=bool(item.get("DeletionProtection")),
            latest_restorable_time=item.get("LatestRestorableTime"),
            kms_key_id=item.get("KmsKeyId"),
            storage_encrypted=bool(item.get("StorageEncrypted")),
        )

    def create_snapshot(self, instance: str, snapshot: str, tags: dict[str, str]) -> DbSnapshot:
        try:
            item = self.rds.create_db_snapshot(
                DBSnapshotIdentifier=snapshot,
                DBInstanceIdentifier=instance,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )["DBSnapshot"]
        except ClientError as exc:
            raise AwsError(f"create snapshot {snapshot} of {instance}: {exc}") from None
        return _snapshot(item)

    def describe_snapshot(self, snapshot: str) -> DbSnapshot | None:
        try:
            found = self.rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]
        except ClientError as exc:
            if _code(exc) == "DBSnapshotNotFound":
                return None
            raise AwsError(f"describe snapshot {snapshot}: {exc}") from None
        return _snapshot(found[0]) if found else None

    def manual_snapshot_quota(self) -> tuple[int, int] | None:
        """(used, max) of the account's ManualSnapshots quota in this region, or None when the
        credentials may not read it (the preflight then says it could not check)."""
        try:
            quotas = self.rds.describe_account_attributes().get("AccountQuotas") or []
        except (ClientError, BotoCoreError):
            return None
        found = next((q for q in quotas if q.get("AccountQuotaName") == "ManualSnapshots"), None)
        return (int(found["Used"]), int(found["Max"])) if found else None

    def manual_snapshots(self, instance: str) -> list[DbSnapshot]:
        """Every manual snapshot of ``instance`` (also after the instance is deleted), with its tags."""
        found: list[DbSnapshot] = []
        try:
            paginator = self.rds.get_paginator("describe_db_snapshots")
            for page in paginator.paginate(DBInstanceIdentifier=instance, SnapshotType="manual"):
                found += [_snapshot(item) for item in page.get("DBSnapshots", [])]
        except ClientError as exc:
            raise AwsError(f"list snapshots of {instance}: {_code(exc)}") from None
        return found

    def automated_backups(self, instance: str) -> list[AutomatedBackup]:
        """The automated backups (active and retained) of every instance named ``instance``."""
        try:
            items = self.rds.describe_db_instance_automated_backups(DBInstanceIdentifier=instance).get("DBInstanceAutomatedBackups", [])
        except ClientError as exc:
            if _code(exc) == "DBInstanceAutomatedBackupNotFound":
                return []
            raise AwsError(f"list automated backups of {instance}: {_code(exc)}") from None
        return [
            AutomatedBackup(
                arn=item.get("DBInstanceAutomatedBackupsArn", ""),
                instance=item.get("DBInstanceIdentifier", instance),
                resource_id=item.get("DbiResourceId", ""),
                status=item.get("Status", "unknown"),
                instance_create_time=item.get("InstanceCreateTime"),
                earliest_time=(item.get("RestoreWindow") or {}).get("EarliestTime"),
                latest_time=(item.get("RestoreWindow") or {}).get("LatestTime"),
            )
            for item in items
        ]

    def upsert_cname(self, zone_id: str, name: str, target: str, ttl: int = 60) -> str:
        """Point ``name`` at ``target`` (a load balancer's DNS name) in a Route 53 hosted zone; returns
        the change ID."""
        try:
            change = self.route53.change_resource_record_sets(
                HostedZoneId=zone_id,
                ChangeBatch={
                    "Comment": "DR rehearsal: the UI hostname follows the recreated load balancer",
                    "Changes": [
                        {
                            "Action": "UPSERT",
                            "ResourceRecordSet": {"Name": name, "Type": "CNAME", "TTL": ttl, "ResourceRecords": [{"Value": target}]},
                        }
                    ],
                },
            )["ChangeInfo"]
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"point {name} at {target} in hosted zone {zone_id}: {_code(exc)}") from None
        return change["Id"]

    def wait_snapshot_available(
        self,
        snapshot: str,
        *,
        timeout: float,
        delay: float = 15.0,
        on_wait: Callable[[str], None] = lambda status: None,
    ) -> DbSnapshot:
        """Wait with boto3's ``db_snapshot_available`` waiter, reporting the status on every poll.

        The waiter runs one attempt at a time so the caller sees progress; its failure acceptors
        (snapshot failed, deleted...) end the wait at once with the waiter's reason.
        """
        waiter = self.rds.get_waiter("db_snapshot_available")
        waited = 0.0
        while True:
            try:
                waiter.wait(DBSnapshotIdentifier=snapshot, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
            except WaiterError as exc:
                if "Max attempts exceeded" not in str(exc):
                    raise AwsError(f"snapshot {snapshot} will not become available: {exc}") from None
                if waited >= timeout:
                    raise AwsError(f"snapshot {snapshot} not available after {int(waited)} s") from None
                current = self.describe_snapshot(snapshot)
                on_wait(current.status if current else "not found")
                self._sleep(delay)
                waited += delay
                continue
            found = self.describe_snapshot(snapshot)
            if found is None:
                raise AwsError(f"snapshot {snapshot} disappeared right after becoming available")
            return found

    # -- S3 ----------------------------------------------------------------------------------

    def bucket_exists(self, bucket: str) -> bool:
        """Whether the bucket exists (HeadBucket); a bucket these credentials may not read is an error."""
        try:
            self.s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise AwsError(f"head bucket {bucket}: {_code(exc)}") from None
        return True

    def put_object(self, bucket: str, key: str, body: bytes) -> str:
        """Write an object (the bucket's default encryption applies); returns the body's SHA-256."""
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain")
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"put s3://{bucket}/{key}: {_code(exc)}") from None
        return sha256(body)

    def object_sha256(self, bucket: str, key: str) -> str | None:
        """SHA-256 of an object's content, or None when it does not exist."""
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise AwsError(f"get s3://{bucket}/{key}: {_code(exc)}") from None
        return sha256(body)

    def head_object(self, bucket: str, key: str) -> StoredObject | None:
        try:
            item = self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise AwsError(f"head s3://{bucket}/{key}: {_code(exc)}") from None
        return StoredObject(key, item["ETag"], item.get("LastModified"))

    def newest_object(
        self, bucket: str, *, skip_prefix: str, on_page: Callable[[int], None] = lambda keys: None
    ) -> StoredObject | None:
        """The most recently written object outside ``skip_prefix`` (a real task log), over the whole
        bucket: S3 lists keys in alphabetical order only, so no prefix of the listing is enough.
        ``on_page`` gets the number of keys read so far every 100 pages (100,000 keys)."""
        newest: StoredObject | None = None
        paginator = self.s3.get_paginator("list_objects_v2")
        keys = 0
        try:
            for page_number, page in enumerate(paginator.paginate(Bucket=bucket), 1):
                keys += len(page.get("Contents", []))
                if page_number % 100 == 0:
                    on_page(keys)
                for item in page.get("Contents", []):
                    if item["Key"].startswith(skip_prefix):
                        continue
                    if newest is None or item["LastModified"] > newest.last_modified:
                        newest = StoredObject(item["Key"], item["ETag"], item["LastModified"])
        except ClientError as exc:
            raise AwsError(f"list s3://{bucket}: {_code(exc)}") from None
        return newest


def _snapshot(item: dict[str, Any]) -> DbSnapshot:
    return DbSnapshot(
        identifier=item["DBSnapshotIdentifier"],
        arn=item.get("DBSnapshotArn", ""),
        status=item.get("Status", "unknown"),
        create_time=item.get("SnapshotCreateTime"),
        encrypted=bool(item.get("Encrypted")),
        kms_key_id=item.get("KmsKeyId"),
        database_time=item.get("SnapshotDatabaseTime"),
        instance=item.get("DBInstanceIdentifier"),
        snapshot_type=item.get("SnapshotType"),
        tags=tuple((t["Key"], t["Value"]) for t in item.get("TagList") or []),
    )


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") or str(exc)
    return str(exc)

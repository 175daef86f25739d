"""The AWS calls of the DR rehearsal, through boto3: RDS instances and snapshots, S3 canary objects.

Everything here is read-only except ``create_snapshot`` and ``put_object``; nothing deletes anything
(the rehearsal never deletes a snapshot). Tests run these calls against moto.

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
        self._sleep = sleep

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

    def newest_object(self, bucket: str, *, skip_prefix: str, max_pages: int = 20) -> StoredObject | None:
        """The most recently written object outside ``skip_prefix`` (a real task log), scanning at most
        ``max_pages`` pages of 1000 keys so a huge bucket cannot stall the rehearsal."""
        newest: StoredObject | None = None
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page_number, page in enumerate(paginator.paginate(Bucket=bucket)):
                if page_number >= max_pages:
                    break
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
    )


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") or str(exc)
    return str(exc)

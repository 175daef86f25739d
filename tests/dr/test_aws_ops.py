"""The rehearsal's AWS calls against moto (and botocore's Stubber where moto cannot show a transition)."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from stacks.dr.aws_ops import AwsError, AwsOps, sha256


@pytest.fixture
def ops(aws_env) -> AwsOps:
    return AwsOps("eu-west-1", session=aws_env, sleep=lambda s: None)


@pytest.fixture
def database(aws_env) -> str:
    aws_env.client("rds").create_db_instance(
        DBInstanceIdentifier="db1",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        MasterUsername="airflow",
        ManageMasterUserPassword=True,
        AllocatedStorage=20,
        StorageEncrypted=True,
        DeletionProtection=True,
        BackupRetentionPeriod=7,
    )
    return "db1"


def test_caller_account(ops):
    assert ops.caller_account() == "123456789012"


def test_describe_instance_reads_protection_and_latest_restorable_time(ops, database):
    instance = ops.describe_instance(database)
    assert instance.status == "available"
    assert instance.deletion_protection is True
    assert instance.storage_encrypted is True
    assert isinstance(instance.latest_restorable_time, datetime)


def test_describe_instance_returns_none_when_missing(ops):
    assert ops.describe_instance("nope") is None


def test_create_snapshot_and_wait_until_available(ops, database):
    created = ops.create_snapshot(database, "dr-dev-1", {"stack": "dev"})
    assert created.identifier == "dr-dev-1"
    assert created.arn.endswith(":snapshot:dr-dev-1")
    ticks = []
    available = ops.wait_snapshot_available("dr-dev-1", timeout=60, on_wait=ticks.append)
    assert available.status == "available" and available.encrypted is True
    assert ticks == []  # available at the first poll


def test_creating_a_snapshot_of_a_missing_instance_fails_clearly(ops):
    with pytest.raises(AwsError, match="create snapshot dr-x of nope"):
        ops.create_snapshot("nope", "dr-x", {})


def test_describe_snapshot_returns_none_when_missing(ops):
    assert ops.describe_snapshot("nope") is None


def _snapshot(status: str) -> dict:
    return {
        "DBSnapshots": [
            {
                "DBSnapshotIdentifier": "s1",
                "DBSnapshotArn": "arn:aws:rds:eu-west-1:123456789012:snapshot:s1",
                "Status": status,
                "SnapshotCreateTime": datetime(2025, 3, 1, tzinfo=timezone.utc),
                "Encrypted": True,
            }
        ]
    }


def _stubbed_ops(responses: list[dict], sleeps: list[float]) -> tuple[AwsOps, Stubber]:
    ops = AwsOps("eu-west-1", session=boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x"), sleep=sleeps.append)
    stubber = Stubber(ops.rds)
    for response in responses:
        stubber.add_response("describe_db_snapshots", response, {"DBSnapshotIdentifier": "s1"})
    stubber.activate()
    return ops, stubber


def test_the_waiter_reports_each_poll_while_the_snapshot_is_creating():
    sleeps: list[float] = []
    # waiter attempt, status poll for the progress line, twice; then the waiter sees available and we read it
    ops, stubber = _stubbed_ops(
        [_snapshot("creating"), _snapshot("creating"), _snapshot("creating"), _snapshot("creating"), _snapshot("available"), _snapshot("available")],
        sleeps,
    )
    ticks: list[str] = []
    found = ops.wait_snapshot_available("s1", timeout=600, delay=15, on_wait=ticks.append)
    assert found.status == "available"
    assert ticks == ["creating", "creating"]
    assert sleeps == [15, 15]
    stubber.assert_no_pending_responses()


def test_the_waiter_gives_up_after_the_timeout():
    sleeps: list[float] = []
    ops, _ = _stubbed_ops([_snapshot("creating")] * 6, sleeps)
    with pytest.raises(AwsError, match="not available after 30 s"):
        ops.wait_snapshot_available("s1", timeout=30, delay=15)
    assert sleeps == [15, 15]


def test_the_waiter_stops_at_once_on_a_failed_snapshot():
    ops, _ = _stubbed_ops([_snapshot("failed")], [])
    with pytest.raises(AwsError, match="will not become available"):
        ops.wait_snapshot_available("s1", timeout=600)


def test_objects_put_read_and_hashed(ops, aws_env):
    aws_env.client("s3").create_bucket(Bucket="task-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    digest = ops.put_object("task-logs", "dr-rehearsal/dev/canary.log", b"canary\n")
    assert digest == sha256(b"canary\n")
    assert ops.object_sha256("task-logs", "dr-rehearsal/dev/canary.log") == digest
    assert ops.object_sha256("task-logs", "missing") is None
    assert ops.head_object("task-logs", "dr-rehearsal/dev/canary.log").etag
    assert ops.head_object("task-logs", "missing") is None


def test_newest_object_skips_the_canary_prefix(ops, aws_env):
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="task-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert ops.newest_object("task-logs", skip_prefix="dr-rehearsal/") is None
    s3.put_object(Bucket="task-logs", Key="dag_id=a/attempt=1.log", Body=b"1")
    s3.put_object(Bucket="task-logs", Key="dr-rehearsal/dev/canary.log", Body=b"c")
    newest = ops.newest_object("task-logs", skip_prefix="dr-rehearsal/")
    assert newest.key == "dag_id=a/attempt=1.log"


def test_writing_to_a_missing_bucket_fails_clearly(ops):
    with pytest.raises(AwsError, match="put s3://absent/k: NoSuchBucket"):
        ops.put_object("absent", "k", b"x")


def test_secret_string(ops, aws_env):
    aws_env.client("secretsmanager").create_secret(Name="airflow-api", SecretString='{"username": "u", "password": "p"}')
    assert ops.secret_string("airflow-api") == '{"username": "u", "password": "p"}'
    with pytest.raises(AwsError, match="cannot read secret other: ResourceNotFoundException"):
        ops.secret_string("other")


def test_bucket_exists(ops, aws_env):
    aws_env.client("s3").create_bucket(Bucket="task-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert ops.bucket_exists("task-logs") is True
    assert ops.bucket_exists("absent") is False


def test_bucket_exists_reports_a_refusal_instead_of_guessing():
    ops = AwsOps("eu-west-1", session=boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x"))
    with Stubber(ops.s3) as stubber:
        stubber.add_client_error("head_bucket", "403", http_status_code=403, expected_params={"Bucket": "theirs"})
        with pytest.raises(AwsError, match="head bucket theirs: 403"):
            ops.bucket_exists("theirs")


def test_describe_secret_sees_a_scheduled_deletion(ops, aws_env):
    sm = aws_env.client("secretsmanager")
    arn = sm.create_secret(Name="batch-platform/dev/airflow/fernet-key", SecretString="k")["ARN"]
    found = ops.describe_secret("batch-platform/dev/airflow/fernet-key")
    assert (found.name, found.arn, found.deleted_date) == ("batch-platform/dev/airflow/fernet-key", arn, None)
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=30)
    assert ops.describe_secret(arn).deleted_date is not None
    assert ops.describe_secret("batch-platform/dev/airflow/other") is None


def test_the_newest_object_is_found_past_twenty_thousand_keys():
    """S3 lists keys alphabetically: the newest log can be on any page, here the 120th (120,000 keys)."""
    ops = AwsOps("eu-west-1", session=boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x"), sleep=lambda s: None)
    stubber = Stubber(ops.s3)
    old = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for page in range(120):
        newest = page == 119
        response = {
            "Contents": [{"Key": f"dag_id=d{page:03d}/attempt=1.log", "ETag": f'"e{page}"', "LastModified": datetime(2025, 3, 1, tzinfo=timezone.utc) if newest else old}],
            "IsTruncated": not newest,
            "KeyCount": 1,
        }
        if not newest:
            response["NextContinuationToken"] = f"t{page + 1}"
        expected = {"Bucket": "task-logs"} | ({"ContinuationToken": f"t{page}"} if page else {})
        stubber.add_response("list_objects_v2", response, expected)  # checked against botocore's model
    pages: list[int] = []
    with stubber:
        found = ops.newest_object("task-logs", skip_prefix="dr-rehearsal/", on_page=pages.append)
    assert found.key == "dag_id=d119/attempt=1.log"
    assert pages == [100]  # progress every 100 pages
    stubber.assert_no_pending_responses()


def test_a_snapshot_reads_its_database_time_from_the_model_field():
    ops = AwsOps("eu-west-1", session=boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x"), sleep=lambda s: None)
    stubber = Stubber(ops.rds)
    item = {
        **_snapshot("available")["DBSnapshots"][0],
        "SnapshotCreateTime": datetime(2025, 3, 1, 9, 0, 30, tzinfo=timezone.utc),
        "SnapshotDatabaseTime": datetime(2025, 3, 1, 9, 0, 0, tzinfo=timezone.utc),
        "DBInstanceIdentifier": "batch-platform-dev-airflow",
        "SnapshotType": "manual",
        "TagList": [{"Key": "dr-rehearsal", "Value": "r1"}],
    }
    stubber.add_response("describe_db_snapshots", {"DBSnapshots": [item]}, {"DBSnapshotIdentifier": "s1"})
    with stubber:
        found = ops.describe_snapshot("s1")
    assert found.database_time == datetime(2025, 3, 1, 9, 0, 0, tzinfo=timezone.utc)
    assert found.create_time > found.database_time and found.tags == (("dr-rehearsal", "r1"),)


def test_the_manual_snapshot_quota_is_read_from_the_account_attributes():
    ops = AwsOps("eu-west-1", session=boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x"), sleep=lambda s: None)
    stubber = Stubber(ops.rds)
    stubber.add_response(
        "describe_account_attributes",
        {"AccountQuotas": [{"AccountQuotaName": "DBInstances", "Used": 3, "Max": 40}, {"AccountQuotaName": "ManualSnapshots", "Used": 97, "Max": 100}]},
        {},
    )
    stubber.add_client_error("describe_account_attributes", "AccessDenied")
    with stubber:
        assert ops.manual_snapshot_quota() == (97, 100)
        assert ops.manual_snapshot_quota() is None

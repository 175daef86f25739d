"""TaskLogBucket: private, encrypted, TLS only, versioned, expiring; retained on destroy, adopted on recreate."""

from __future__ import annotations

import json

import pytest

from infra.task_log_bucket import (
    TaskLogBucket,
    TaskLogBucketArgs,
    bucket_name_problem,
    task_log_access_policy,
    tls_only_bucket_policy,
)
from stacks.offline import canned, record

NAME = "batch-platform-test-task-logs-123456789012-eu-west-1"
S3 = "aws:s3/"


def _program(**overrides):
    def program():
        bucket = TaskLogBucket("logs", TaskLogBucketArgs(bucket_name=NAME, **overrides))
        return {"bucket": bucket.bucket, "arn": bucket.arn, "adopted": bucket.adopted}

    return program


@pytest.fixture(scope="module")
def created():
    return record(_program(expiration_days=90, noncurrent_version_expiration_days=14))


@pytest.fixture(scope="module")
def adopted():
    return record(_program(expiration_days=90, noncurrent_version_expiration_days=14), invokes=canned.buckets_found([NAME]))


def test_tls_only_policy_denies_plain_http_and_old_tls():
    policy = json.loads(tls_only_bucket_policy("arn:aws:s3:::b"))
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert by_sid["DenyOutdatedTls"]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}
    for statement in policy["Statement"]:
        assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
        assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def test_access_policy_for_airflow_is_limited_to_the_bucket():
    policy = json.loads(task_log_access_policy("arn:aws:s3:::b"))
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::b", "arn:aws:s3:::b/*"}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])


@pytest.mark.parametrize("name", ["ab", "Upper-case", "ends-with-", "double--hyphen", "x" * 64, "under_score"])
def test_invalid_bucket_names(name):
    assert bucket_name_problem(name) is not None


def test_the_bucket_is_created_with_its_fixed_name_when_absent(created):
    bucket = created.one(f"{S3}bucket:Bucket")
    assert bucket.input("bucket") == NAME and bucket.input("forceDestroy") is False
    assert bucket.options["importId"] is None
    assert created.raw_outputs == {"bucket": NAME, "arn": f"arn:aws:s3:::{NAME}", "adopted": False}


def test_everything_is_retained_on_destroy(created, adopted):
    for plan in (created, adopted):
        s3 = [r for r in plan.resources if r.type.startswith(S3)]
        assert len(s3) == 7
        assert all(r.options["retainOnDelete"] for r in s3)


def test_recreate_adopts_the_bucket(adopted, created):
    assert adopted.raw_outputs["adopted"] is True
    assert adopted.one(f"{S3}bucket:Bucket").options["importId"] == NAME
    # The settings are declared again (each is an overwriting PUT), identical to first creation.
    assert {r.name: r.inputs for r in adopted.resources} == {r.name: r.inputs for r in created.resources}
    assert all(r.options["importId"] is None for r in adopted.resources if r.type != f"{S3}bucket:Bucket")


def test_private_encrypted_versioned(created):
    ownership = created.one(f"{S3}bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.input("rule.objectOwnership") == "BucketOwnerEnforced"
    block = created.one(f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(block.input(k) is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    encryption = created.one(f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert encryption.input("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm") == "AES256"
    versioning = created.one(f"{S3}bucketVersioning:BucketVersioning")
    assert versioning.input("versioningConfiguration.status") == "Enabled"


def test_policy_is_tls_only_and_written_after_the_public_access_block(created):
    policy = created.one(f"{S3}bucketPolicy:BucketPolicy")
    assert json.loads(policy.input("policy")) == json.loads(tls_only_bucket_policy(f"arn:aws:s3:::{NAME}"))
    block = created.one(f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert block.urn in policy.options["dependsOn"]


def test_lifecycle_expires_logs_versions_uploads_and_markers(created):
    lifecycle = created.one(f"{S3}bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {r["id"]: r for r in lifecycle.input("rules")}
    expire = rules["expire-task-logs"]
    assert expire["status"] == "Enabled" and expire["filter"] == {"prefix": ""}
    assert expire["expiration"]["days"] == 90
    assert expire["noncurrentVersionExpiration"]["noncurrentDays"] == 14
    assert expire["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7
    assert rules["remove-expired-delete-markers"]["expiration"] == {"expiredObjectDeleteMarker": True}
    versioning = created.one(f"{S3}bucketVersioning:BucketVersioning")
    assert versioning.urn in lifecycle.options["dependsOn"]


def test_bad_arguments_fail():
    with pytest.raises(Exception, match="bucket name 'Bad_Name'"):
        record(lambda: {"b": TaskLogBucket("logs", TaskLogBucketArgs(bucket_name="Bad_Name")).bucket})
    with pytest.raises(Exception, match="expiration days must be at least 1"):
        record(_program(expiration_days=0))

"""The TaskLogBucket component: the S3 bucket Airflow writes task logs to, durable across destroy.

Task logs are the evidence of what a batch job did; they must survive the environment being torn
down and rebuilt. The bucket has a fixed name, is retained on ``pulumi destroy`` and adopted by the
next ``pulumi up`` (``infra.durable``). Its settings (ownership, public access block, encryption,
versioning, lifecycle, policy) are retained too, so a bucket left behind by a destroy stays locked
down; on recreate they are declared again, and each of them is a PUT that overwrites in place.

Encryption is SSE-S3 (AES-256, keys owned by S3): the bucket outlives the stack, and a customer key
would have to outlive it as well or the logs become unreadable after the key's deletion window;
task logs carry no data that needs a key policy of its own, access is governed by the bucket
policy and the IAM role of Airflow's pods; and SSE-S3 costs no KMS requests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from infra.durable import bucket_exists

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
ABORT_INCOMPLETE_UPLOADS_DAYS = 7


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid general purpose bucket name (None when it is)."""
    if not _BUCKET_NAME.match(name) or "--" in name:
        return "expected 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
    return None


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """Deny every request not made over TLS 1.2 or later, whoever makes it."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": resources,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Sid": "DenyOutdatedTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": resources,
                    "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                },
            ],
        },
        sort_keys=True,
    )


def task_log_access_policy(bucket_arn: str) -> str:
    """What Airflow's pods need on the bucket (for their IRSA role): list it, read and write logs."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": [f"{bucket_arn}/*"],
                },
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True, kw_only=True)
class TaskLogBucketArgs:
    """Inputs of the TaskLogBucket component."""

    bucket_name: str
    """Fixed, globally unique name: the bucket's durable identity (include account and region)."""

    expiration_days: int = 365
    """Logs (current versions) are deleted this many days after being written."""

    noncurrent_version_expiration_days: int = 30
    """Overwritten or deleted log versions are kept this long, then removed for good."""

    tags: Mapping[str, str] = field(default_factory=dict)


class TaskLogBucket(pulumi.ComponentResource):
    """One S3 bucket for Airflow task logs: private, encrypted, TLS only, versioned, expiring."""

    bucket: pulumi.Output[str]
    """The bucket name (for Airflow's ``remote_base_log_folder = s3://<bucket>/...``)."""
    arn: pulumi.Output[str]
    adopted: bool
    """Whether this run found the bucket in AWS and adopted it (known at program time)."""

    def __init__(self, name: str, args: TaskLogBucketArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:TaskLogBucket", name, None, opts)
        problem = bucket_name_problem(args.bucket_name)
        if problem:
            raise ValueError(f"bucket name {args.bucket_name!r}: {problem}")
        if args.expiration_days < 1 or args.noncurrent_version_expiration_days < 1:
            raise ValueError("expiration days must be at least 1")

        found = aws.s3.get_buckets(prefix=args.bucket_name, opts=pulumi.InvokeOptions(parent=self))
        self.adopted = bucket_exists(found.buckets or [], args.bucket_name)
        if self.adopted:
            pulumi.log.info(f"adopting the existing bucket {args.bucket_name}", self)
        # Retained: a destroy leaves the bucket and its protections in place.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True)

        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            force_destroy=False,
            tags={**args.tags, "Name": args.bucket_name, "durable": "true"},
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, import_=args.bucket_name if self.adopted else None
            ),
        )
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=kept,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=kept,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=kept,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=kept,
        )
        whole_bucket = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-task-logs",
                    status="Enabled",
                    filter=whole_bucket,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expiration_days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_expiration_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
                    ),
                ),
                # S3 refuses days and expired_object_delete_marker in one rule: the delete markers
                # left once every version of a log is gone are removed by a rule of their own.
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="remove-expired-delete-markers",
                    status="Enabled",
                    filter=whole_bucket,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
                ),
            ],
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(tls_only_bucket_policy),
            # Concurrent writes of a bucket's policy and its public access block can fail with
            # OperationAborted (a conflicting operation in progress): write them one after the other.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, depends_on=[public_access, ownership]),
        )

        self.bucket = bucket.bucket
        self.arn = bucket.arn
        self.register_outputs({"bucket": self.bucket, "arn": self.arn})

"""Sample programs for the policy pack's tests: one of every resource type the guardrails govern,
configured the way the platform must configure them, registered through the real SDKs.

Recorded by the offline harness into ``policy/tests/fixtures/sample-<stack>.json`` (the same JSON
as ``python -m stacks plan --json``), they prove the policies read the property names the SDKs
really send, for types the stacks do not register yet.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from stacks.offline import record
from stacks.offline.render import plan_document

KMS_ARN = "arn:aws:kms:eu-west-1:123456789012:key/offline-placeholder"
SSM_RELEASE = "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/recommended/release_version"
RECOMMENDED = "1.33.0-20250704"
PINNED = "1.33.0-20250610"


def ssm_answer(args: dict[str, Any], region: str) -> dict[str, Any]:
    return {"name": args["name"], "value": RECOMMENDED, "insecureValue": RECOMMENDED, "type": "String", "arn": "offline", "id": args["name"], "version": 1, "withDecryption": True}


def program(stack: str):
    prod = stack == "prod"

    def run() -> dict[str, Any]:
        aws.rds.Instance(
            f"{stack}-airflow-db",
            engine="postgres",
            instance_class="db.t4g.medium",
            allocated_storage=20,
            storage_encrypted=True,
            kms_key_id=KMS_ARN,
            publicly_accessible=False,
            backup_retention_period=35 if prod else 7,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{stack}-airflow-db-final",
            deletion_protection=prod,
            manage_master_user_password=True,
            username="airflow",
            opts=pulumi.ResourceOptions(protect=prod),
        )
        eks.Cluster(
            f"{stack}-cluster",
            encryption_config_key_arn=KMS_ARN,
            endpoint_private_access=True,
            endpoint_public_access=False,
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            skip_default_node_group=True,
        )
        release = PINNED if prod else aws.ssm.get_parameter(name=SSM_RELEASE).value
        eks.ManagedNodeGroup(
            f"{stack}-system",
            cluster={"eksCluster": {"name": f"{stack}-cluster"}},
            node_role_arn="arn:aws:iam::123456789012:role/offline-placeholder",
            ami_type="AL2023_x86_64_STANDARD",
            release_version=release,
            enable_imd_sv2=True,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(desired_size=2, max_size=3, min_size=2),
        )
        aws.ec2.LaunchTemplate(
            f"{stack}-batch-nodes",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(http_tokens="required", http_put_response_hop_limit=1),
        )
        bucket = aws.s3.Bucket(f"{stack}-task-logs", force_destroy=False)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{stack}-task-logs",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=KMS_ARN
                    ),
                    bucket_key_enabled=True,
                )
            ],
        )
        aws.s3.BucketPublicAccessBlock(
            f"{stack}-task-logs",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        aws.s3.BucketPolicy(
            f"{stack}-task-logs",
            bucket=bucket.id,
            policy=bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                )
            ),
        )
        k8s.helm.v3.Release(
            f"{stack}-airflow",
            chart="airflow",
            version="1.18.0",
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo="https://airflow.apache.org"),
            values={
                "createUserJob": {"enabled": False},
                "fernetKeySecretName": "airflow-fernet-key",
                "apiSecretKeySecretName": "airflow-api-secret-key",
                "data": {"metadataSecretName": "airflow-metadata"},
                "dags": {"gitSync": {"enabled": True, "credentialsSecret": "git-credentials"}},
                "config": {"logging": {"remote_logging": "True", "remote_base_log_folder": f"s3://{stack}-task-logs/logs"}},
                "env": [{"name": "AIRFLOW__CORE__LOAD_EXAMPLES", "value": "False"}],
            },
        )
        return {}

    return run


def sample_document(stack: str) -> dict[str, Any]:
    plan = record(program(stack), stack=stack, region="eu-west-1")
    plan.config = SimpleNamespace(tier=stack, region="eu-west-1")
    return plan_document(plan)

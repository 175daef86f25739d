"""The data stores in the real stacks' offline plans: settings per tier, protection, durability, secrecy, restore."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from stacks.cli import main
from stacks.data import durable_secret_prefix, task_log_bucket_name
from stacks.offline import canned, run_plan
from stacks.offline.render import render_json, render_text

INSTANCE = "aws:rds/instance:Instance"
SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
BUCKET = "aws:s3/bucket:Bucket"
PROJECT = "batch-platform"
KEYS = ("fernet-key", "api-secret-key", "jwt-secret", "admin-password")


def _leftovers(stack: str) -> dict:
    """Canned answers of an account in which a destroyed ``stack`` left its durable resources."""
    names = [f"{durable_secret_prefix(PROJECT, stack)}/{k}" for k in KEYS]
    bucket = task_log_bucket_name(PROJECT, stack, canned.ACCOUNT_ID, "eu-west-1")
    return {**canned.secrets_found(names), **canned.buckets_found([bucket])}


@pytest.fixture(scope="module")
def prod_recreated():
    return run_plan("prod", invokes=_leftovers("prod"))


@pytest.fixture(scope="module")
def prod_restored(tmp_path_factory):
    root = tmp_path_factory.mktemp("restore")
    shutil.copy("Pulumi.yaml", root / "Pulumi.yaml")
    document = yaml.safe_load(open("Pulumi.prod.yaml"))
    document["config"]["batch-platform:database"]["restore_from_snapshot"] = "batch-platform-prod-airflow-final-1a2b3c4d"
    (root / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    return run_plan("prod", root=root, invokes=_leftovers("prod"))


def test_database_per_tier(dev_plan, prod_plan):
    dev, prod = dev_plan.one(INSTANCE), prod_plan.one(INSTANCE)
    assert (prod.input("identifier"), dev.input("identifier")) == ("batch-platform-prod-airflow", "batch-platform-dev-airflow")
    shared = ("engineVersion", "storageType", "storageEncrypted", "publiclyAccessible", "deleteAutomatedBackups",
              "copyTagsToSnapshot", "skipFinalSnapshot", "performanceInsightsEnabled", "enabledCloudwatchLogsExports",
              "autoMinorVersionUpgrade", "maintenanceWindow", "backupWindow")
    assert {k: prod.input(k) for k in shared} == {k: dev.input(k) for k in shared} == {
        "engineVersion": "17", "storageType": "gp3", "storageEncrypted": True, "publiclyAccessible": False,
        "deleteAutomatedBackups": False, "copyTagsToSnapshot": True, "skipFinalSnapshot": False,
        "performanceInsightsEnabled": True, "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
        "autoMinorVersionUpgrade": True, "maintenanceWindow": "sun:03:30-sun:04:30", "backupWindow": "02:00-03:00",
    }
    tiered = ("instanceClass", "allocatedStorage", "maxAllocatedStorage", "multiAz", "backupRetentionPeriod",
              "deletionProtection", "applyImmediately")
    assert {k: prod.input(k) for k in tiered} == {
        "instanceClass": "db.m7g.large", "allocatedStorage": 100, "maxAllocatedStorage": 500, "multiAz": True,
        "backupRetentionPeriod": 14, "deletionProtection": True, "applyImmediately": False,
    }
    assert {k: dev.input(k) for k in tiered} == {
        "instanceClass": "db.t4g.small", "allocatedStorage": 20, "maxAllocatedStorage": 50, "multiAz": False,
        "backupRetentionPeriod": 7, "deletionProtection": False, "applyImmediately": True,
    }
    assert (prod.options["protect"], dev.options["protect"]) == (True, False)
    assert prod.input("dbSubnetGroupName") == "prod-network-db"


def test_only_the_database_clients_group_reaches_the_database(prod_plan):
    clients = prod_plan.one("aws:ec2/securityGroup:SecurityGroup", "prod-database-clients")
    db_sg = prod_plan.one("aws:ec2/securityGroup:SecurityGroup", "prod-database-sg")
    [ingress] = prod_plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert (ingress.input("securityGroupId"), ingress.input("referencedSecurityGroupId")) == (f"{db_sg.name}-id", f"{clients.name}-id")
    [egress] = prod_plan.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert (egress.input("securityGroupId"), egress.input("referencedSecurityGroupId")) == (f"{clients.name}-id", f"{db_sg.name}-id")
    assert egress.input("fromPort") == egress.input("toPort") == ingress.input("fromPort") == 5432
    assert clients.input("vpcId") == db_sg.input("vpcId") == "prod-network-vpc-id"


def test_durable_resources_are_the_only_retained_ones(dev_plan, prod_plan):
    for plan in (dev_plan, prod_plan):
        retained = {r.type for r in plan.resources if r.options["retainOnDelete"]}
        assert retained == {
            SECRET, VERSION, BUCKET, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "aws:s3/bucketVersioning:BucketVersioning",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            # The Airflow image's repository (tests/stacks/test_airflow_image_plan.py).
            "aws:ecr/repository:Repository", "aws:ecr/lifecyclePolicy:LifecyclePolicy",
            # Log groups AWS services deliver to by name (infra/log_groups.py).
            "aws:cloudwatch/logGroup:LogGroup",
        }
        assert all(g.options["retainOnDelete"] for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup"))
        # The durable Airflow keys, the notification connections and the git deploy key an operator fills in.
        assert sorted(r.input("name") for r in plan.of_type(SECRET)) == sorted(
            [f"batch-platform/{plan.stack}/airflow/{k}" for k in KEYS]
            + [f"batch-platform/{plan.stack}/airflow/connections/{c}" for c in ("slack_notifications", "smtp_notifications")]
            + [f"batch-platform/{plan.stack}/airflow/git-ssh-key"]
            # The OIDC client secret an operator sets, where SSO is on (infra/airflow_sso.py).
            + ([f"batch-platform/{plan.stack}/airflow/sso-client-secret"] if plan.config.sso.enabled else [])
        )
        assert plan.one(BUCKET).input("bucket") == f"batch-platform-{plan.stack}-task-logs-123456789012-eu-west-1"


def test_task_log_expiration_per_tier(dev_plan, prod_plan):
    lifecycle = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    assert dev_plan.one(lifecycle).input("rules.0.expiration.days") == 30
    assert prod_plan.one(lifecycle).input("rules.0.expiration.days") == 365
    assert dev_plan.one(lifecycle).input("rules.0.noncurrentVersionExpiration.noncurrentDays") == 7
    assert prod_plan.one(lifecycle).input("rules.0.noncurrentVersionExpiration.noncurrentDays") == 30


def test_stack_outputs(prod_plan):
    outputs = prod_plan.outputs
    assert outputs["database_instance_identifier"] == "batch-platform-prod-airflow"
    assert outputs["database_endpoint"] == "batch-platform-prod-airflow.offline-placeholder.eu-west-1.rds.amazonaws.com"
    assert outputs["database_port"] == 5432
    assert outputs["database_final_snapshot_identifier"] == prod_plan.one(INSTANCE).input("finalSnapshotIdentifier")
    assert outputs["database_clients_security_group_id"] == "prod-database-clients-id"
    assert outputs["task_log_bucket"] == "batch-platform-prod-task-logs-123456789012-eu-west-1"
    assert sorted(outputs["durable_secret_arns"]) == sorted(KEYS)
    assert all(arn.startswith("arn:aws:secretsmanager:eu-west-1:123456789012:secret:") for arn in outputs["durable_secret_arns"].values())
    # The master password is generated (a Pulumi secret), not RDS-managed: there is no master secret ARN.
    assert "database_master_secret_arn" not in outputs
    assert prod_plan.secret_outputs == ["kubeconfig"]  # the only secret output: the cluster's (issue 3)


def _secret_values(plan) -> set[str]:
    values = set()
    # The data stores' secrets; the kubeconfig and the Kubernetes Secrets built from these values are
    # checked with the cluster and Airflow.
    for resource in plan.resources:
        if resource.type.startswith(("pulumi:providers:", "kubernetes:")):
            continue
        for path in resource.secret_paths:
            node = resource.raw_inputs
            for part in path.split("."):
                node = node[int(part)] if isinstance(node, list) else node[part]
            values.add(node)
    return values


def _leaves(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{path}.{i}" if path else str(i))
    else:
        yield path, node


@pytest.mark.parametrize("which", ["dev_plan", "prod_plan", "prod_recreated"])
def test_no_secret_value_in_clear(which, request):
    plan = request.getfixturevalue(which)
    values = _secret_values(plan)
    # The master password and the four durable Airflow values (generated, or read back on adoption).
    assert len(values) == 5 and all(len(v) >= 40 for v in values)
    for text in (render_json(plan), render_text(plan)):
        assert not [v for v in values if v in text]
    for resource in plan.resources:
        for path, leaf in _leaves(resource.raw_inputs):
            if isinstance(leaf, str) and any(v in leaf for v in values):
                # The value sits at a secret path, or inside one (a Secret's whole stringData).
                assert any(path == p or path.startswith(f"{p}.") for p in resource.secret_paths), (resource.name, path)


def test_recreate_adopts_secrets_and_bucket_without_churn(prod_plan, prod_recreated):
    imported = {(r.type, r.name): r.options["importId"] for r in prod_recreated.resources if r.options["importId"]}
    assert {t for t, _ in imported} == {SECRET, VERSION, BUCKET}
    assert len(imported) == 2 * len(KEYS) + 1  # each secret and its version, and the bucket
    assert imported[(BUCKET, "prod-task-logs-bucket")] == "batch-platform-prod-task-logs-123456789012-eu-west-1"
    # Same resources, same inputs as a first creation: adoption changes options only.
    assert [(r.type, r.name) for r in prod_plan.resources] == [(r.type, r.name) for r in prod_recreated.resources]
    for fresh, again in zip(prod_plan.resources, prod_recreated.resources):
        assert fresh.inputs == again.inputs, fresh.name
    assert not [i for i in prod_recreated.invokes if i.token.endswith("getRandomPassword")]


def test_restore_from_snapshot_in_the_stack(prod_restored, prod_plan):
    db = prod_restored.one(INSTANCE)
    assert db.input("snapshotIdentifier") == "batch-platform-prod-airflow-final-1a2b3c4d"
    assert db.options["ignoreChanges"] == ["snapshotIdentifier", "kmsKeyId"]
    assert db.options["protect"] is True
    # The final snapshot of the restored instance is not the one it was restored from.
    assert db.input("finalSnapshotIdentifier") != "batch-platform-prod-airflow-final-1a2b3c4d"
    assert prod_plan.one(INSTANCE).input("snapshotIdentifier") is None


def test_plan_command_shows_the_data_stores(capsys):
    assert main(["plan", "prod", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    by_type = {}
    for resource in document["resources"]:
        by_type.setdefault(resource["type"], []).append(resource)
    [db] = by_type[INSTANCE]
    assert db["options"]["protect"] is True and db["inputs"]["deletionProtection"] is True
    assert db["inputs"]["password"] == "[secret]" and db["secretInputs"] == ["password"]
    # The Airflow keys, the two notification connections, the git key and (prod has SSO on) the OIDC client secret.
    assert len(by_type[SECRET]) == len(KEYS) + 4 and all(r["options"]["retainOnDelete"] for r in by_type[SECRET])
    assert all(r["inputs"]["secretString"] == "[secret]" for r in by_type[VERSION])
    assert by_type[BUCKET][0]["options"]["retainOnDelete"] is True
    placeholders = [p for p in document["placeholders"] if p["invoke"].endswith("getRandomPassword")]
    assert placeholders and all(p["result"]["randomPassword"] == "[secret]" for p in placeholders)

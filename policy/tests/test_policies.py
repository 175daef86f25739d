"""Each policy with inputs that pass and inputs that violate it."""

from __future__ import annotations

import json

import pytest

import policies
from conftest import policy_named, resource_args, violations

RDS = policies.RDS_INSTANCE
GOOD_RDS = {
    "storageEncrypted": True,
    "publiclyAccessible": False,
    "backupRetentionPeriod": 7,
    "skipFinalSnapshot": False,
    "finalSnapshotIdentifier": "dev-airflow-db-final",
    "deletionProtection": True,
}


def check(policy: str, type_: str, props: dict, **kwargs) -> list[str]:
    return violations(policy_named(policy), resource_args(type_, props, **kwargs))


def test_every_policy_is_mandatory_and_uniquely_named():
    from pulumi_policy import EnforcementLevel

    pack = policies.all_policies()
    assert len({p.name for p in pack}) == len(pack) == 13
    assert all(p.enforcement_level == EnforcementLevel.MANDATORY for p in pack)


def test_policies_ignore_other_resource_types():
    for policy in policies.all_policies():
        if hasattr(policy, "resource_types") and policy.__class__.__name__ == "ResourceValidationPolicy":
            assert violations(policy, resource_args("aws:ec2/vpc:Vpc", {})) == []


# -- RDS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "change", "message"),
    [
        ("rds-storage-encrypted", {"storageEncrypted": False}, "storageEncrypted must be true"),
        ("rds-storage-encrypted", {"storageEncrypted": None}, "storageEncrypted must be true"),
        ("rds-not-publicly-accessible", {"publiclyAccessible": True}, "publiclyAccessible must be false"),
        ("rds-backup-retention-7-days", {"backupRetentionPeriod": 1}, "backupRetentionPeriod = 1: expected at least 7"),
        ("rds-backup-retention-7-days", {"backupRetentionPeriod": None}, "backupRetentionPeriod = None"),
        ("rds-final-snapshot", {"skipFinalSnapshot": True}, "skipFinalSnapshot must be false"),
        ("rds-final-snapshot", {"finalSnapshotIdentifier": None}, "finalSnapshotIdentifier must be set"),
    ],
)
def test_rds_rules(policy, change, message):
    assert check(policy, RDS, GOOD_RDS) == []
    props = {k: v for k, v in {**GOOD_RDS, **change}.items() if v is not None}
    assert any(message in v for v in check(policy, RDS, props))


def test_rds_deletion_protection_is_a_prod_rule_on_both_flag_and_protect():
    name = "rds-deletion-protection-prod"
    off = {**GOOD_RDS, "deletionProtection": False}
    assert check(name, RDS, off, stack="dev") == []
    assert check(name, RDS, GOOD_RDS, stack="prod", protect=True) == []
    assert check(name, RDS, off, stack="prod", protect=True) == ["prod: deletionProtection must be true (config database.deletion_protection)"]
    assert any("protect=True" in v for v in check(name, RDS, GOOD_RDS, stack="prod", protect=False))
    # which stacks are prod is policy config
    assert check(name, RDS, off, stack="live", protect=True, config={"prodStacks": ["live"]}) != []
    assert check(name, RDS, off, stack="prod", protect=True, config={"prodStacks": ["live"]}) == []


# -- EKS -------------------------------------------------------------------------------------

KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"
GOOD_CLUSTER = {"encryptionConfigKeyArn": KEY, "endpointPublicAccess": False, "enabledClusterLogTypes": ["api", "audit", "authenticator"]}
GOOD_AWS_CLUSTER = {
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY}},
    "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager"],
}


@pytest.mark.parametrize("type_,good", [(policies.EKS_CLUSTER, GOOD_CLUSTER), (policies.AWS_EKS_CLUSTER, GOOD_AWS_CLUSTER)])
def test_good_clusters_pass(type_, good):
    for name in ("eks-secrets-encryption", "eks-endpoint-not-open-to-internet", "eks-control-plane-logging"):
        assert check(name, type_, good) == []


def test_secrets_encryption_needs_a_kms_key():
    assert check("eks-secrets-encryption", policies.EKS_CLUSTER, {}) != []
    assert check("eks-secrets-encryption", policies.AWS_EKS_CLUSTER, {"encryptionConfig": {"resources": ["secrets"]}}) != []
    assert check("eks-secrets-encryption", policies.AWS_EKS_CLUSTER, {"encryptionConfig": {"resources": [], "provider": {"keyArn": KEY}}}) != []


@pytest.mark.parametrize(
    ("type_", "props", "message"),
    [
        (policies.EKS_CLUSTER, {}, "publicAccessCidrs must be set when the endpoint is public"),
        (policies.EKS_CLUSTER, {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}, "contains 0.0.0.0/0"),
        (policies.EKS_CLUSTER, {"publicAccessCidrs": ["10.0.0.0/8", "::/0"]}, "contains ::/0"),
        (policies.AWS_EKS_CLUSTER, {"vpcConfig": {"publicAccessCidrs": ["0.0.0.0/0"]}}, "vpcConfig.publicAccessCidrs contains 0.0.0.0/0"),
    ],
)
def test_an_endpoint_open_to_the_internet_violates(type_, props, message):
    assert any(message in v for v in check("eks-endpoint-not-open-to-internet", type_, props))


def test_control_plane_logging_needs_api_audit_authenticator():
    found = check("eks-control-plane-logging", policies.EKS_CLUSTER, {"enabledClusterLogTypes": ["api"]})
    assert found == ["enabledClusterLogTypes lacks audit, authenticator: control-plane logs are the audit trail"]


def test_imdsv2():
    name = "eks-nodes-imdsv2"
    assert check(name, policies.EKS_MANAGED_NODE_GROUP, {"enableIMDSv2": True}) == []
    assert check(name, policies.EKS_MANAGED_NODE_GROUP, {"launchTemplate": {"id": "lt-1", "version": "1"}}) == []
    assert check(name, policies.EKS_MANAGED_NODE_GROUP, {}) != []
    assert check(name, policies.AWS_EKS_NODE_GROUP, {"launchTemplate": {"id": "lt-1", "version": "1"}}) == []
    assert check(name, policies.AWS_EKS_NODE_GROUP, {}) != []
    assert check(name, policies.LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "required"}}) == []
    assert check(name, policies.LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "optional"}}) != []
    assert check(name, policies.LAUNCH_TEMPLATE, {}) != []


SSM_PARAM = "/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/recommended/release_version"


def test_release_version_must_be_set_and_well_formed(no_ssm):
    name = "eks-node-release-version-tracks-ssm"
    for props in ({}, {"releaseVersion": ""}, {"releaseVersion": "latest"}, {"releaseVersion": "<unknown>"}):
        assert any("expected an EKS AMI release version" in v for v in check(name, policies.EKS_MANAGED_NODE_GROUP, props, stack="prod"))


def test_prod_may_pin_a_reviewed_release_version(no_ssm):
    assert check("eks-node-release-version-tracks-ssm", policies.EKS_MANAGED_NODE_GROUP, {"releaseVersion": "1.33.0-20250101"}, stack="prod") == []


def test_dev_release_version_must_be_what_ssm_recommends(no_ssm):
    name = "eks-node-release-version-tracks-ssm"
    config = {"ssmReleaseVersions": {SSM_PARAM: "1.33.0-20250704"}}
    assert check(name, policies.EKS_MANAGED_NODE_GROUP, {"releaseVersion": "1.33.0-20250704"}, config=config) == []
    found = check(name, policies.AWS_EKS_NODE_GROUP, {"releaseVersion": "1.33.0-20250101"}, config=config)
    assert found == [
        f"dev: releaseVersion = 1.33.0-20250101 but SSM {SSM_PARAM} recommends 1.33.0-20250704: dev must track SSM (read the parameter, do not pin)"
    ]


def test_dev_release_version_reads_ssm_in_the_provider_region(monkeypatch):
    asked = []

    def lookup(name, region):
        asked.append((name, region))
        return "1.33.0-20250704"

    monkeypatch.setattr(policies, "SSM_LOOKUP", lookup)
    props = {"releaseVersion": "1.33.0-20250704", "amiType": "AL2023_ARM_64_STANDARD"}
    assert check("eks-node-release-version-tracks-ssm", policies.EKS_MANAGED_NODE_GROUP, props, region="eu-central-1") == []
    assert asked == [("/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/arm64/standard/recommended/release_version", "eu-central-1")]


def test_an_unreadable_ssm_parameter_is_a_violation_not_a_crash(monkeypatch):
    def lookup(name, region):
        raise RuntimeError("no credentials")

    monkeypatch.setattr(policies, "SSM_LOOKUP", lookup)
    found = check("eks-node-release-version-tracks-ssm", policies.EKS_MANAGED_NODE_GROUP, {"releaseVersion": "1.33.0-20250704"})
    assert found and "cannot read" in found[0] and "no credentials" in found[0]


def test_unknown_ami_types_cannot_track_ssm(no_ssm):
    found = check("eks-node-release-version-tracks-ssm", policies.EKS_MANAGED_NODE_GROUP, {"releaseVersion": "1.33.0-20250704", "amiType": "CUSTOM"})
    assert found and "no known SSM parameter" in found[0]


# -- S3 (stack policy) ------------------------------------------------------------------------


def _s3(resources):
    from pulumi_policy import PolicyResource, StackValidationArgs

    from conftest import options, urn

    built = {}
    for type_, name, props, depends in resources:
        built[name] = PolicyResource(type_, props, urn("dev", type_, name), name, options(), None, None, [built[d] for d in depends], {})
    found = []
    policy_named("s3-buckets-encrypted-private-tls-only").validate(
        StackValidationArgs(list(built.values())), lambda message, urn=None: found.append(message)
    )
    return found


TLS_POLICY = json.dumps(
    {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
)
ALL_BLOCKED = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}


def _bucket_set(encryption=True, block=ALL_BLOCKED, policy=TLS_POLICY):
    items = [("aws:s3/bucket:Bucket", "logs", {"bucket": "logs-bucket"}, [])]
    if encryption:
        items.append((policies.S3_ENCRYPTION[0], "logs-sse", {"bucket": "logs-bucket", "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}, []))
    if block is not None:
        items.append((policies.S3_PUBLIC_ACCESS_BLOCK, "logs-pab", {"bucket": "<id>", **block}, ["logs"]))  # linked by dependency
    if policy is not None:
        items.append((policies.S3_POLICY, "logs-policy", {"bucket": "logs-bucket", "policy": policy}, []))
    return items


def test_a_fully_configured_bucket_passes():
    assert _s3(_bucket_set()) == []


def test_a_bucket_without_encryption_violates():
    assert _s3(_bucket_set(encryption=False)) == ["bucket logs: no server-side encryption configuration"]


def test_inline_encryption_counts():
    items = _bucket_set(encryption=False)
    items[0] = ("aws:s3/bucket:Bucket", "logs", {"bucket": "logs-bucket", "serverSideEncryptionConfiguration": {"rule": {}}}, [])
    assert _s3(items) == []


def test_a_bucket_with_a_partial_public_access_block_violates():
    found = _s3(_bucket_set(block={**ALL_BLOCKED, "restrictPublicBuckets": False}))
    assert found == ["bucket logs: needs a public access block with blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets all true"]
    assert len(_s3(_bucket_set(block=None))) == 1


@pytest.mark.parametrize(
    "policy",
    [
        None,
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}),
        json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}),
        "not json",
    ],
)
def test_a_bucket_without_a_tls_only_policy_violates(policy):
    assert _s3(_bucket_set(policy=policy)) == ["bucket logs: needs a bucket policy denying requests with aws:SecureTransport = false"]


def test_companions_of_another_bucket_do_not_count():
    items = _bucket_set() + [("aws:s3/bucket:Bucket", "other", {"bucket": "other-bucket"}, [])]
    assert len(_s3(items)) == 3


# -- Helm ------------------------------------------------------------------------------------

HELM = policies.HELM_RELEASES[0]


@pytest.mark.parametrize(
    "values",
    [
        {"fernetKeySecretName": "airflow-fernet-key", "data": {"metadataSecretName": "airflow-metadata"}},
        {"dags": {"gitSync": {"credentialsSecret": "git-credentials"}}},
        {"auth": {"existingSecret": "db", "existingSecretPasswordKey": "password"}},
        {"env": [{"name": "AIRFLOW__CORE__LOAD_EXAMPLES", "value": "False"}]},
        {"extraEnv": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]},
        {"webserver": {"defaultUser": {"enabled": False}}, "tokenTtlSeconds": 3600},
        # The key inside the named Secret: a reference.
        {"metricsExporterSidecar": {"statsSecretName": "airflow-pgbouncer-stats", "statsSecretKey": "connection"}},
    ],
)
def test_helm_values_with_references_only_pass(values):
    assert check("helm-no-plaintext-secrets", HELM, {"chart": "x", "values": values}) == []


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"webserverSecretKey": "s3cr3t-value"}, "webserverSecretKey"),
        ({"fernetKey": "zp8kV516l9tKzqq9pJ2Y6cXbM1bHqF3aW5lJ9c0dGxE="}, "fernetKey"),
        ({"createUserJob": {"defaultUser": {"password": "admin"}}}, "createUserJob.defaultUser.password"),
        ({"config": {"core": {"fernet_key": "abc"}}}, "config.core.fernet_key"),
        ({"env": [{"name": "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_PASSWORD", "value": "hunter2"}]}, "env.0.value"),
        ({"data": {"metadataConnection": {"url": "postgresql://airflow:hunter2@db:5432/airflow"}}}, "data.metadataConnection.url"),
        ({"extraEnv": "AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP"}, "extraEnv"),
        ({"slack": {"apiToken": "xoxb-123456789012-abcdefghij"}}, "slack.apiToken"),
        # A ...SecretKey without its ...SecretName sibling is a literal secret key.
        ({"apiSecretKey": "c2VjcmV0LXZhbHVl"}, "apiSecretKey"),
    ],
)
def test_helm_values_with_literal_secrets_violate(values, path):
    found = check("helm-no-plaintext-secrets", HELM, {"chart": "x", "values": values})
    assert len(found) == 1 and f"at {path}:" in found[0], found


def test_helm_values_that_are_a_pulumi_secret_violate():
    # the offline plan masks a secret input; the engine would hand the policy the plaintext
    found = check("helm-no-plaintext-secrets", HELM, {"chart": "airflow", "values": "[secret]"})
    assert found and "values hold a Pulumi secret" in found[0]


@pytest.mark.parametrize(
    ("values", "ok"),
    [
        ({"createUserJob": {"enabled": False}}, True),
        ({"webserver": {"defaultUser": {"enabled": False}}}, True),
        ({"webserver": {"defaultUser": {"enabled": False}}, "createUserJob": {"defaultUser": {"enabled": True}}}, False),
        ({}, False),
        ({"createUserJob": {"enabled": True}}, False),
        # Our own command with the password from a Secret: no default user.
        (
            {
                "createUserJob": {
                    "args": ["bash", "-c", 'exec airflow users create --username admin --password "$ADMIN_PASSWORD"'],
                    "env": [{"name": "ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "airflow-admin", "key": "password"}}}],
                }
            },
            True,
        ),
        # Our own command, but the password is a literal or a plain env value.
        ({"createUserJob": {"args": ["bash", "-c", "airflow users create --username admin --password admin"]}}, False),
        (
            {
                "createUserJob": {
                    "args": ["bash", "-c", 'airflow users create --password "$ADMIN_PASSWORD"'],
                    "env": [{"name": "ADMIN_PASSWORD", "value": "admin"}],
                }
            },
            False,
        ),
    ],
)
def test_the_airflow_default_user_must_be_off(values, ok):
    found = check("airflow-default-user-off", HELM, {"chart": "airflow", "values": values})
    assert (found == []) is ok, found


def test_the_default_user_rule_only_concerns_the_airflow_chart():
    assert check("airflow-default-user-off", HELM, {"chart": "ingress-nginx", "values": {}}) == []
    assert check("airflow-default-user-off", HELM, {"chart": "apache-airflow/airflow", "values": {}}) != []


def test_the_example_config_names_real_policies_and_known_properties():
    example = json.loads((policies_dir() / "config.example.json").read_text())
    by_name = {p.name: p for p in policies.all_policies()}
    for name, settings in example.items():
        assert name in by_name, name
        assert set(settings) <= set(by_name[name].config_schema.properties), (name, settings)


def policies_dir():
    from conftest import POLICY_DIR

    return POLICY_DIR

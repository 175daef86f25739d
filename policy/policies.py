"""The guardrails of batch-platform: CrossGuard policies over the resources the program registers.

Property names are the engine's (camelCase) input names of pulumi-aws 7, pulumi-eks 4 and
pulumi-kubernetes 4, exactly as ``pulumi preview`` hands them to a policy pack and as the offline
plan (``python -m stacks plan <stack> --json``) records them.

Tier: a policy learns the stack from the resource URN (``urn:pulumi:<stack>::...``); stacks named in
the policy config ``prodStacks`` (default ``["prod"]``) get the prod rules, every other stack the
dev rules.

This module only defines policies; ``__main__.py`` builds the ``PolicyPack`` (which starts a gRPC
server, so tests never import it).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Callable, Iterable, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PACK_NAME = "batch-platform-guardrails"

RDS_INSTANCE = "aws:rds/instance:Instance"
EKS_CLUSTER = "eks:index:Cluster"
AWS_EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_MANAGED_NODE_GROUP = "eks:index:ManagedNodeGroup"
AWS_EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
HELM_RELEASES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")

MIN_BACKUP_RETENTION_DAYS = 7
REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")
# The offline plan masks secret inputs with this text.
SECRET_MASK = "[secret]"

TIER_CONFIG = PolicyConfigSchema(
    properties={
        "prodStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["prod"],
            "description": "Stacks that get the prod rules; every other stack gets the dev rules.",
        }
    }
)


# -- helpers ---------------------------------------------------------------------------------


def stack_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>``."""
    return urn.split("::", 1)[0].split(":")[-1]


def is_prod(args: Any) -> bool:
    config = args.get_config() or {}
    return stack_of(args.urn) in set(config.get("prodStacks") or ["prod"])


def prop(props: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = props
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return default
    return node


def _policy(name: str, description: str, types: Iterable[str], check: Callable[[ResourceValidationArgs, ReportViolation], None], **kwargs) -> ResourceValidationPolicy:
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in wanted:
            check(args, report)

    policy = ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=EnforcementLevel.MANDATORY, **kwargs
    )
    policy.resource_types = wanted  # read by the tests: which resources a policy looks at
    return policy


# -- RDS -------------------------------------------------------------------------------------


def _rds_encrypted(args, report):
    if prop(args.props, "storageEncrypted") is not True:
        report("storageEncrypted must be true: the metadata database holds connections and variables")


def _rds_private(args, report):
    if prop(args.props, "publiclyAccessible") is True:
        report("publiclyAccessible must be false: the database is reached from the cluster only")


def _rds_backups(args, report):
    days = prop(args.props, "backupRetentionPeriod")
    if not isinstance(days, (int, float)) or days < MIN_BACKUP_RETENTION_DAYS:
        report(
            f"backupRetentionPeriod = {days}: expected at least {MIN_BACKUP_RETENTION_DAYS} days "
            "(point-in-time recovery window)"
        )


def _rds_final_snapshot(args, report):
    if prop(args.props, "skipFinalSnapshot") is True:
        report("skipFinalSnapshot must be false: deleting the instance must leave a final snapshot")
    elif not prop(args.props, "finalSnapshotIdentifier"):
        report("finalSnapshotIdentifier must be set: without it the final snapshot cannot be taken")


def _rds_deletion_protection(args, report):
    if not is_prod(args):
        return
    if prop(args.props, "deletionProtection") is not True:
        report("prod: deletionProtection must be true (config database.deletion_protection)")
    if not args.opts.protect:
        report("prod: the instance must be protected in Pulumi (protect=True, from database.deletion_protection)")


# -- EKS -------------------------------------------------------------------------------------


def _eks_secrets_encryption(args, report):
    if args.resource_type == EKS_CLUSTER:
        if not prop(args.props, "encryptionConfigKeyArn"):
            report("encryptionConfigKeyArn must be set: Kubernetes Secrets are envelope-encrypted with our KMS key")
        return
    resources = prop(args.props, "encryptionConfig.resources") or []
    if "secrets" not in resources or not prop(args.props, "encryptionConfig.provider.keyArn"):
        report("encryptionConfig must encrypt 'secrets' with a KMS key (provider.keyArn)")


def _open_cidrs(cidrs: Any) -> list[str]:
    found = []
    for cidr in cidrs or []:
        try:
            if ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0:
                found.append(str(cidr))
        except ValueError:
            continue
    return found


def _eks_endpoint(args, report):
    base = "" if args.resource_type == EKS_CLUSTER else "vpcConfig."
    public = prop(args.props, f"{base}endpointPublicAccess", True)  # both default to a public endpoint
    if public is False:
        return
    cidrs = prop(args.props, f"{base}publicAccessCidrs")
    if not cidrs:
        report(f"{base}publicAccessCidrs must be set when the endpoint is public: the default is 0.0.0.0/0")
    elif _open_cidrs(cidrs):
        report(f"{base}publicAccessCidrs contains {', '.join(_open_cidrs(cidrs))}: the API endpoint would be open to the internet")


def _eks_logging(args, report):
    enabled = set(prop(args.props, "enabledClusterLogTypes") or [])
    missing = [t for t in REQUIRED_LOG_TYPES if t not in enabled]
    if missing:
        report(f"enabledClusterLogTypes lacks {', '.join(missing)}: control-plane logs are the audit trail")


def _node_imdsv2(args, report):
    if args.resource_type == LAUNCH_TEMPLATE:
        if prop(args.props, "metadataOptions.httpTokens") != "required":
            report("metadataOptions.httpTokens must be 'required' (IMDSv2 only)")
        return
    if args.resource_type == EKS_MANAGED_NODE_GROUP:
        if prop(args.props, "enableIMDSv2") is not True and not prop(args.props, "launchTemplate"):
            report("enableIMDSv2 must be true (or a launch template with httpTokens=required)")
        return
    if not prop(args.props, "launchTemplate"):
        report("the node group needs a launch template with metadataOptions.httpTokens=required (IMDSv2)")


RELEASE_VERSION = re.compile(r"^(\d+\.\d+)\.\d+-\d{8}$")

# amiType -> the SSM path segment of the EKS-optimized AMI whose release version EKS publishes.
SSM_AMI_PATHS = {
    "AL2023_x86_64_STANDARD": "amazon-linux-2023/x86_64/standard",
    "AL2023_ARM_64_STANDARD": "amazon-linux-2023/arm64/standard",
    "AL2_x86_64": "amazon-linux-2",
}
DEFAULT_AMI_TYPE = "AL2023_x86_64_STANDARD"


def recommended_release_parameter(kubernetes_version: str, ami_type: str | None) -> str | None:
    """The SSM parameter EKS publishes the recommended release version in, or None for other AMI types."""
    segment = SSM_AMI_PATHS.get(ami_type or DEFAULT_AMI_TYPE)
    if segment is None:
        return None
    return f"/aws/service/eks/optimized-ami/{kubernetes_version}/{segment}/recommended/release_version"


def _ssm_parameter(name: str, region: str | None) -> str:
    """Read an SSM parameter with the credentials of the ``pulumi preview``/``up`` that runs the pack."""
    import boto3

    return boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]


SSM_LOOKUP: Callable[[str, str | None], str] = _ssm_parameter
"""Replaced only when no AWS access is wanted; the policy config ``ssmReleaseVersions`` comes first."""


def _release_version_tracks_ssm(args, report):
    version = prop(args.props, "releaseVersion")
    if not isinstance(version, str) or not RELEASE_VERSION.match(version):
        report(
            f"releaseVersion = {version!r}: expected an EKS AMI release version like 1.33.0-20250704; without it "
            "the nodes keep whatever AMI was newest when they were created"
        )
        return
    if is_prod(args):
        return  # prod pins a reviewed version; dev tracks SSM so it gets new AMIs first
    parameter = recommended_release_parameter(RELEASE_VERSION.match(version).group(1), prop(args.props, "amiType"))
    if parameter is None:
        report(f"amiType {prop(args.props, 'amiType')}: no known SSM parameter to track; use an AL2023 or AL2 AMI type")
        return
    known = (args.get_config() or {}).get("ssmReleaseVersions") or {}
    region = prop(args.provider.props, "region") if args.provider is not None else None
    try:
        recommended = known[parameter] if parameter in known else SSM_LOOKUP(parameter, region)
    except Exception as exc:  # noqa: BLE001 - any failure to read SSM is reported, not raised
        report(f"cannot read {parameter} to check releaseVersion {version}: {type(exc).__name__}: {exc}")
        return
    if version != recommended:
        report(
            f"dev: releaseVersion = {version} but SSM {parameter} recommends {recommended}: dev must track SSM "
            "(read the parameter, do not pin)"
        )


# -- S3 (a stack policy: a bucket's settings live in companion resources) --------------------


def _belongs_to(companion, bucket) -> bool:
    """Whether a companion resource (encryption, public access block, policy) configures ``bucket``."""
    target = prop(companion.props, "bucket")
    names = {prop(bucket.props, "bucket"), prop(bucket.props, "id")} - {None}
    if target in names:
        return True
    by_property = (companion.property_dependencies or {}).get("bucket")
    if by_property is not None:
        return any(dep.urn == bucket.urn for dep in by_property)
    return any(dep.urn == bucket.urn for dep in companion.dependencies or [])


def _denies_insecure_transport(policy_text: Any) -> bool:
    try:
        document = json.loads(policy_text) if isinstance(policy_text, str) else policy_text
    except ValueError:
        return False
    statements = (document or {}).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        condition = (statement.get("Condition") or {}).get("Bool") or {}
        secure = condition.get("aws:SecureTransport")
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false" and statement.get("Principal") in ("*", {"AWS": "*"}):
            return True
    return False


def _s3_buckets(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = args.resources
    for bucket in (r for r in resources if r.resource_type in S3_BUCKETS):
        companions = [r for r in resources if _belongs_to(r, bucket)]
        inline_encryption = prop(bucket.props, "serverSideEncryptionConfiguration")
        if not inline_encryption and not any(r.resource_type in S3_ENCRYPTION for r in companions):
            report(f"bucket {bucket.name}: no server-side encryption configuration", bucket.urn)
        blocks = [r for r in companions if r.resource_type == S3_PUBLIC_ACCESS_BLOCK]
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if not any(all(prop(b.props, f) is True for f in flags) for b in blocks):
            report(f"bucket {bucket.name}: needs a public access block with {', '.join(flags)} all true", bucket.urn)
        policies = [r for r in companions if r.resource_type == S3_POLICY]
        if not any(_denies_insecure_transport(prop(p.props, "policy")) for p in policies):
            report(f"bucket {bucket.name}: needs a bucket policy denying requests with aws:SecureTransport = false", bucket.urn)


# -- Helm ------------------------------------------------------------------------------------

SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "privatekey", "credential", "fernetkey", "accesskey")
# Keys that name where a secret lives (a Kubernetes Secret, a key in it) rather than hold one.
REFERENCE_SUFFIXES = ("name", "names", "ref", "keyref", "enabled")
REFERENCE_PREFIXES = ("existing",)
SECRET_PATTERNS = (
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"xox[abposr]-[0-9A-Za-z-]{10,}"),  # Slack tokens
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),  # URL with an embedded password
)


def _normalised(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


KUBERNETES_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# A key of a Kubernetes Secret's data.
KUBERNETES_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


def _secret_looking_key(key: str, value: str) -> bool:
    norm = _normalised(key)
    if norm.endswith(REFERENCE_SUFFIXES) or norm.startswith(REFERENCE_PREFIXES):
        return False
    if norm.endswith("secret") and KUBERNETES_NAME.match(value):
        return False  # e.g. gitSync.credentialsSecret: git-credentials names a Kubernetes Secret
    return any(word in norm for word in SECRET_WORDS)


def plaintext_secrets(values: Any, path: str = "") -> list[str]:
    """Dotted paths of Helm values that hold a literal secret (a string under a secret-looking key,
    an env entry ``{name: *_PASSWORD, value: ...}``, or a string that looks like a known credential)."""
    found: list[str] = []
    if isinstance(values, Mapping):
        name = values.get("name")
        if isinstance(name, str) and isinstance(values.get("value"), str) and values["value"]:
            if _secret_looking_key(name, values["value"]):
                found.append(f"{path}.value" if path else "value")
        siblings = {_normalised(str(k)) for k in values}
        for key, value in values.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(value, str):
                # ``<x>SecretKey`` beside ``<x>SecretName`` names a key inside that Secret
                # (e.g. pgbouncer.metricsExporterSidecar.statsSecretKey): a reference, not a value.
                norm = _normalised(str(key))
                if norm.endswith("secretkey") and f"{norm[: -len('key')]}name" in siblings and KUBERNETES_KEY.match(value):
                    continue
                if value and (_secret_looking_key(str(key), value) or any(p.search(value) for p in SECRET_PATTERNS)):
                    found.append(here)
            else:
                found += plaintext_secrets(value, here)
    elif isinstance(values, list):
        for i, item in enumerate(values):
            here = f"{path}.{i}"
            if isinstance(item, str):
                if any(p.search(item) for p in SECRET_PATTERNS):
                    found.append(here)
            else:
                found += plaintext_secrets(item, here)
    return sorted(set(found))


def _helm_values(args) -> Any:
    return prop(args.props, "values", {})


def _helm_no_plaintext_secrets(args, report):
    values = _helm_values(args)
    if not isinstance(values, Mapping):
        report(
            "values hold a Pulumi secret: Helm stores values in plaintext in its release record; "
            "put the secret in a Kubernetes Secret and reference it by name"
        )
        return
    leaks = plaintext_secrets(values)
    if leaks:
        report(
            f"values hold literal secrets at {', '.join(leaks)}: reference a Kubernetes Secret instead "
            "(Helm keeps values in plaintext in the release record and Pulumi state)"
        )


def _is_airflow_chart(args) -> bool:
    chart = str(prop(args.props, "chart") or "")
    return chart == "airflow" or chart.endswith("/airflow")


def _airflow_default_user_off(args, report):
    if not _is_airflow_chart(args):
        return
    values = _helm_values(args)
    if not isinstance(values, Mapping):
        report("cannot check the Airflow default user: the values are a Pulumi secret")
        return
    if prop(values, "createUserJob.enabled") is False:
        return
    args = prop(values, "createUserJob.args")
    if args:
        # Our own command instead of the chart's: its password must come from the environment
        # (an env var filled from a Kubernetes Secret), never a literal on the command line.
        if _password_from_secret(args, prop(values, "createUserJob.env") or []):
            return
        report(
            "createUserJob runs its own command without taking the password from a Kubernetes Secret: "
            "pass --password \"$VAR\" with VAR from env valueFrom.secretKeyRef, or set createUserJob.enabled to false"
        )
        return
    # chart defaults create admin/admin; both the old and the new location must be switched off
    if prop(values, "webserver.defaultUser.enabled") is False and prop(values, "createUserJob.defaultUser.enabled", False) is False:
        return
    report("the Airflow default user is on (chart default admin/admin): set createUserJob.enabled to false")


def _password_from_secret(args: Any, env: Any) -> bool:
    """Whether a create-user command passes ``--password "$VAR"`` with VAR read from a Secret."""
    command = " ".join(str(a) for a in args) if isinstance(args, list) else str(args)
    match = re.search(r"--password[= ]+\"?\$\{?([A-Za-z_][A-Za-z0-9_]*)", command)
    if not match:
        return False
    entries = env if isinstance(env, list) else []
    return any(
        isinstance(e, Mapping) and e.get("name") == match.group(1) and prop(e, "valueFrom.secretKeyRef.name")
        for e in entries
    )


# -- the pack --------------------------------------------------------------------------------


def all_policies() -> list:
    rds = [RDS_INSTANCE]
    clusters = [EKS_CLUSTER, AWS_EKS_CLUSTER]
    node_groups = [EKS_MANAGED_NODE_GROUP, AWS_EKS_NODE_GROUP]
    s3 = StackValidationPolicy(
        name="s3-buckets-encrypted-private-tls-only",
        description="Every S3 bucket: server-side encryption, all four public access blocks, a policy denying non-TLS requests.",
        validate=_s3_buckets,
        enforcement_level=EnforcementLevel.MANDATORY,
    )
    s3.resource_types = frozenset(S3_BUCKETS)
    return [
        _policy("rds-storage-encrypted", "RDS instances encrypt their storage.", rds, _rds_encrypted),
        _policy("rds-not-publicly-accessible", "RDS instances are not publicly accessible.", rds, _rds_private),
        _policy("rds-backup-retention-7-days", "RDS instances keep automated backups for at least 7 days.", rds, _rds_backups),
        _policy("rds-final-snapshot", "Deleting an RDS instance leaves a final snapshot.", rds, _rds_final_snapshot),
        _policy(
            "rds-deletion-protection-prod",
            "In prod, RDS instances have deletion protection and Pulumi protect.",
            rds,
            _rds_deletion_protection,
            config_schema=TIER_CONFIG,
        ),
        _policy("eks-secrets-encryption", "EKS encrypts Kubernetes Secrets with a KMS key.", clusters, _eks_secrets_encryption),
        _policy("eks-endpoint-not-open-to-internet", "The EKS API endpoint is private or limited to known CIDRs.", clusters, _eks_endpoint),
        _policy("eks-control-plane-logging", "EKS sends api, audit and authenticator logs to CloudWatch.", clusters, _eks_logging),
        _policy("eks-nodes-imdsv2", "Nodes use IMDSv2 only.", node_groups + [LAUNCH_TEMPLATE], _node_imdsv2),
        _policy(
            "eks-node-release-version-tracks-ssm",
            "Node groups set a release version; in dev it is the one SSM recommends.",
            node_groups,
            _release_version_tracks_ssm,
            config_schema=PolicyConfigSchema(
                properties={
                    **TIER_CONFIG.properties,
                    "ssmReleaseVersions": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "default": {},
                        "description": "SSM parameter name -> value, instead of reading SSM (offline runs).",
                    },
                }
            ),
        ),
        s3,
        _policy("helm-no-plaintext-secrets", "Helm values hold no secret: they reference Kubernetes Secrets.", HELM_RELEASES, _helm_no_plaintext_secrets),
        _policy("airflow-default-user-off", "The Airflow chart does not create its default admin user.", HELM_RELEASES, _airflow_default_user_off),
    ]

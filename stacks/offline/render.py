"""Render a Plan as a readable tree (for people) or a JSON document (for tools)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from stacks.offline.canned import PLACEHOLDER_NOTE
from stacks.offline.harness import Plan, RecordedResource

# The inputs worth seeing at a glance, per resource type (dotted paths into the inputs).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "pulumi:providers:aws": ("region",),
    "aws:ec2/vpc:Vpc": ("cidrBlock", "enableDnsSupport", "enableDnsHostnames"),
    "aws:ec2/subnet:Subnet": ("availabilityZone", "cidrBlock", "tags.tier"),
    "aws:ec2/natGateway:NatGateway": ("subnetId",),
    "aws:ec2/route:Route": ("destinationCidrBlock", "gatewayId", "natGatewayId"),
    "aws:ec2/flowLog:FlowLog": ("trafficType", "logDestinationType"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName", "vpcEndpointType"),
    "aws:rds/subnetGroup:SubnetGroup": ("subnetIds",),
    "kubernetes:core/v1:Namespace": ("metadata.name",),
    "kubernetes:core/v1:ServiceAccount": ("metadata.namespace", "metadata.name"),
    "kubernetes:core/v1:Secret": ("metadata.namespace", "metadata.name"),
    "kubernetes:core/v1:Service": ("metadata.namespace", "spec.type"),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": ("metadata.namespace", "metadata.name"),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": ("metadata.namespace", "roleRef.name"),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": ("metadata.namespace", "spec.policyTypes"),
    "kubernetes:core/v1:ResourceQuota": ("metadata.namespace", "spec.hard"),
    "aws:secretsmanager/secret:Secret": ("name",),
    "aws:rds/instance:Instance": (
        "instanceClass", "engineVersion", "multiAz", "allocatedStorage", "maxAllocatedStorage",
        "backupRetentionPeriod", "deletionProtection", "snapshotIdentifier", "finalSnapshotIdentifier",
    ),
    "aws:rds/parameterGroup:ParameterGroup": ("family",),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("fromPort", "referencedSecurityGroupId"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ("fromPort", "referencedSecurityGroupId"),
    "aws:s3/bucket:Bucket": ("bucket",),
    "aws:s3/bucketVersioning:BucketVersioning": ("versioningConfiguration.status",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm",
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "rules.0.expiration.days", "rules.0.noncurrentVersionExpiration.noncurrentDays",
    ),
    "random:index/randomId:RandomId": ("byteLength",),
    "eks:index:Cluster": (
        "name",
        "version",
        "authenticationMode",
        "endpointPrivateAccess",
        "endpointPublicAccess",
        "publicAccessCidrs",
        "encryptionConfigKeyArn",
        "enabledClusterLogTypes",
        "createOidcProvider",
        "vpcCniOptions.addonVersion",
        "kubeProxyAddonOptions.version",
    ),
    "aws:eks/nodeGroup:NodeGroup": (
        "releaseVersion",
        "version",
        "amiType",
        "capacityType",
        "instanceTypes",
        "scalingConfig",
        "updateConfig",
        "labels",
        "taints",
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": ("metadataOptions.httpTokens", "metadataOptions.httpPutResponseHopLimit", "blockDeviceMappings"),
    "aws:eks/addon:Addon": ("addonName", "addonVersion", "serviceAccountRoleArn"),
    "aws:kms/key:Key": ("enableKeyRotation",),
    "aws:autoscaling/tag:Tag": ("tag.key", "tag.value"),
    # One entry per type (a second one would replace the first): the Airflow and autoscaler releases.
    "kubernetes:helm.sh/v3:Release": (
        "chart", "version", "namespace", "values.executor", "values.airflowVersion", "values.defaultAirflowTag",
        "values.defaultAirflowDigest", "values.migrateDatabaseJob.enabled", "values.image.tag", "skipAwait",
    ),
    "aws:ecr/repository:Repository": (
        "name", "imageTagMutability", "imageScanningConfiguration.scanOnPush", "encryptionConfigurations.0.encryptionType",
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ("repository",),
}


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _flags(resource: RecordedResource) -> str:
    opts = resource.options
    flags = []
    if opts["protect"]:
        flags.append("protect")
    if opts["retainOnDelete"]:
        flags.append("retain-on-delete")
    if opts.get("importId"):
        flags.append(f"import: {opts['importId']}")
    if opts["ignoreChanges"]:
        flags.append("ignore-changes: " + ",".join(opts["ignoreChanges"]))
    if resource.secret_paths:
        flags.append("secret: " + ",".join(resource.secret_paths))
    return f"  [{'; '.join(flags)}]" if flags else ""


def _settings(resource: RecordedResource) -> str:
    parts = []
    for path in KEY_INPUTS.get(resource.type, ()):
        value = resource.input(path)
        if value is not None:
            parts.append(f"{path}={_short(value)}")
    return ("  " + " ".join(parts)) if parts else ""


def render_text(plan: Plan) -> str:
    about = f" (tier {plan.config.tier}, region {plan.config.region})" if plan.config else ""
    lines = [
        f"Offline plan of stack {plan.stack}{about}.",
        "Nothing was read from or sent to AWS; the invoke answers are listed at the end.",
        "",
    ]

    def visit(node: RecordedResource | None, prefix: str) -> None:
        children = plan.children(node)
        for i, child in enumerate(children):
            last = i == len(children) - 1
            branch = "└─ " if last else "├─ "
            lines.append(f"{prefix}{branch}{child.type}  {child.name}{_settings(child)}{_flags(child)}")
            visit(child, prefix + ("   " if last else "│  "))

    for top in plan.children(None):
        lines.append(f"{top.type}  {top.name}{_settings(top)}{_flags(top)}")
        visit(top, "")
    lines += ["", "Resources by type:"]
    counts = Counter(r.type for r in plan.resources)
    for type_, count in sorted(counts.items()):
        lines.append(f"  {count:4d}  {type_}")
    lines.append(f"  {len(plan.resources):4d}  total")
    lines += ["", "Stack outputs:"]
    for key in sorted(plan.outputs):
        lines.append(f"  {key} = {_short(plan.outputs[key])}")
    if plan.warnings:
        lines += ["", "Notes of the program (pulumi up prints them as warnings; an offline plan deploys nothing):"]
        lines += [f"  - {message}" for message in plan.warnings]
    lines += ["", "Offline placeholders (canned invoke answers, not read from AWS):"]
    seen = set()
    for invoke in sorted(plan.invokes, key=_invoke_key):
        shown = f"  {invoke.token}({_short(invoke.args)}) -> {_short(invoke.result)}"
        if invoke.note != PLACEHOLDER_NOTE:
            shown += f"  [{invoke.note}]"
        if shown not in seen:
            seen.add(shown)
            lines.append(shown)
    return "\n".join(lines) + "\n"


def plan_document(plan: Plan) -> dict[str, Any]:
    """The JSON form: per resource its type, name, parent, inputs (secrets masked) and options."""
    return {
        "stack": plan.stack,
        "tier": plan.config.tier if plan.config else None,
        "region": plan.config.region if plan.config else None,
        "offline": True,
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "urn": r.urn,
                "parent": r.parent,
                "custom": r.custom,
                "inputs": r.inputs,
                "secretInputs": r.secret_paths,
                "options": r.options,
            }
            for r in plan.resources
        ],
        "totals": dict(sorted(Counter(r.type for r in plan.resources).items())),
        "outputs": plan.outputs,
        "secretOutputs": plan.secret_outputs,
        # Sorted: invokes made from Outputs run concurrently, so their recorded order varies.
        "placeholders": [
            {"invoke": i.token, "args": i.args, "result": i.result, "note": i.note}
            for i in sorted(plan.invokes, key=_invoke_key)
        ],
        "warnings": plan.warnings,
    }


def _invoke_key(invoke) -> tuple[str, str]:
    return invoke.token, json.dumps(invoke.args, sort_keys=True, default=str)


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, sort_keys=True, default=str) + "\n"

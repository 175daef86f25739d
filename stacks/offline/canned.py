"""Canned answers for the offline plan: what AWS would return, as clearly labelled placeholders.

Two tables, one entry per type/token the program uses:

* ``INVOKES``: invoke token -> function(args, region) returning the invoke's result. An invoke with
  no entry fails the plan loudly instead of inventing an answer.
* ``OUTPUTS``: resource type -> function(name, inputs, region) returning the provider-computed
  outputs (ARNs, endpoints...) the program reads from a resource.

Every value is recognisably fake (account 123456789012, ``offline-`` prefixes).
"""

from __future__ import annotations

import json
from typing import Any, Callable

ACCOUNT_ID = "123456789012"
PLACEHOLDER = "offline-placeholder"

InvokeAnswer = Callable[[dict[str, Any], str], dict[str, Any]]
OutputAnswer = Callable[[str, dict[str, Any], str], dict[str, Any]]


def _availability_zones(args: dict[str, Any], region: str) -> dict[str, Any]:
    letters = "abcdef"
    return {
        "names": [f"{region}{c}" for c in letters],
        "zoneIds": [f"{''.join(part[0] for part in region.split('-')[:-1])}{region.split('-')[-1]}-az{i + 1}" for i in range(len(letters))],
        "state": args.get("state"),
        "id": region,
    }


def _region(args: dict[str, Any], region: str) -> dict[str, Any]:
    return {"region": region, "name": region, "endpoint": f"ec2.{region}.amazonaws.com", "id": region}


def _caller_identity(args: dict[str, Any], region: str) -> dict[str, Any]:
    return {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/{PLACEHOLDER}",
        "userId": PLACEHOLDER,
        "id": ACCOUNT_ID,
    }


def _partition(args: dict[str, Any], region: str) -> dict[str, Any]:
    return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws", "id": "aws"}


def _ssm_parameter(args: dict[str, Any], region: str) -> dict[str, Any]:
    """Public AMI release parameters get a well-formed release of 2000-01-01 (obviously not a real one)."""
    import re

    name = args.get("name", "")
    al2023 = re.match(r"^/aws/service/eks/optimized-ami/(\d+\.\d+)/amazon-linux-2023/.*/release_version$", name)
    bottlerocket = re.match(r"^/aws/service/bottlerocket/aws-k8s-(\d+\.\d+)/.*/image_version$", name)
    if al2023:
        value = f"{al2023.group(1)}.0-20000101"
    elif bottlerocket:
        value = "1.0.0-00000000"
    else:
        raise NotImplementedError(f"the offline plan has no canned value for SSM parameter {name}")
    return {
        "arn": f"arn:aws:ssm:{region}::parameter{name}",
        "id": name,
        "name": name,
        "type": "String",
        "value": value,
        "insecureValue": value,
        "version": 1,
        "withDecryption": True,
    }


INVOKES: dict[str, InvokeAnswer] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getPartition:getPartition": _partition,
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
}


def generic_outputs(type_: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """Outputs most AWS resources have: an ARN derived from the type, and the name when unset."""
    package, _, rest = type_.partition(":")
    module = rest.split("/")[0] if "/" in rest else rest.split(":")[0]
    outputs: dict[str, Any] = {}
    if package == "aws":
        service = {"cloudwatch": "logs", "ec2": "ec2", "iam": "iam"}.get(module, module)
        scope = "" if service in ("iam", "s3") else region
        account = "" if service == "s3" else ACCOUNT_ID
        kind = rest.rsplit(":", 1)[-1].lower()
        outputs["arn"] = f"arn:aws:{service}:{scope}:{account}:{kind}/{inputs.get('name') or name}"
    outputs.setdefault("name", inputs.get("name") or name)
    return outputs


def _eks_cluster(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """What the pulumi-eks Cluster component returns (camelCase), for the outputs our code reads."""
    cluster = inputs.get("name") or name
    endpoint = f"https://{PLACEHOLDER}.gr7.{region}.eks.amazonaws.com"
    issuer = f"oidc.eks.{region}.amazonaws.com/id/OFFLINE0PLACEHOLDER"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kubernetes", "cluster": {"server": endpoint, "certificate-authority-data": PLACEHOLDER}}],
        "contexts": [{"name": "aws", "context": {"cluster": "kubernetes", "user": "aws"}}],
        "current-context": "aws",
        "users": [
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": ["eks", "get-token", "--cluster-name", cluster, "--output", "json"],
                    }
                },
            }
        ],
    }
    return {
        "kubeconfig": kubeconfig,
        "kubeconfigJson": json.dumps(kubeconfig),
        "oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}",
        "oidcProviderUrl": f"https://{issuer}",
        "oidcIssuer": issuer,
        "clusterSecurityGroupId": f"sg-{PLACEHOLDER}-eks-cluster",
        "nodeSecurityGroupId": f"sg-{PLACEHOLDER}-eks-cluster",
    }


def _eks_node_group(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    group = f"{inputs.get('nodeGroupNamePrefix', '')}{PLACEHOLDER}"
    return {
        "nodeGroupName": group,
        "resources": [{"autoscalingGroups": [{"name": f"eks-{group}-asg"}], "remoteAccessSecurityGroupId": ""}],
        "status": "ACTIVE",
    }


OUTPUTS: dict[str, OutputAnswer] = {
    "aws:ec2/vpc:Vpc": lambda name, inputs, region: {"defaultSecurityGroupId": f"sg-{PLACEHOLDER}"},
    "eks:index:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _eks_node_group,
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs, region: {"latestVersion": 1, "defaultVersion": 1},
    "aws:kms/key:Key": lambda name, inputs, region: {"keyId": f"{PLACEHOLDER}-{name}"},
}

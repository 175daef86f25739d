"""Canned answers for the offline plan: what AWS would return, as clearly labelled placeholders.

Two tables, one entry per type/token the program uses:

* ``INVOKES``: invoke token -> function(args, region) returning the invoke's result. An invoke with
  no entry fails the plan loudly instead of inventing an answer.
* ``OUTPUTS``: resource type -> function(name, inputs, region) returning the provider-computed
  outputs (ARNs, endpoints...) the program reads from a resource.

Every value is recognisably fake (account 123456789012, ``offline-`` prefixes).
"""

from __future__ import annotations

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


INVOKES: dict[str, InvokeAnswer] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getPartition:getPartition": _partition,
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


OUTPUTS: dict[str, OutputAnswer] = {
    "aws:ec2/vpc:Vpc": lambda name, inputs, region: {"defaultSecurityGroupId": f"sg-{PLACEHOLDER}"},
    "random:index/randomPassword:RandomPassword": lambda name, inputs, region: {"result": f"{PLACEHOLDER}-{name}"},
    # A LoadBalancer Service's address, as the service controller would report it.
    "kubernetes:core/v1:Service": lambda name, inputs, region: {
        "status": {"loadBalancer": {"ingress": [{"hostname": f"{PLACEHOLDER}-{name}.elb.{region}.amazonaws.com"}]}}
    },
}

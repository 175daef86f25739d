"""Canned answers for the offline plan: what AWS would return, as clearly labelled placeholders.

Two tables, one entry per type/token the program uses:

* ``INVOKES``: invoke token -> function(args, region) returning the invoke's result. An invoke with
  no entry fails the plan loudly instead of inventing an answer.
* ``OUTPUTS``: resource type -> function(name, inputs, region) returning the provider-computed
  outputs (ARNs, endpoints...) the program reads from a resource.

Every invented value is recognisably fake (account 123456789012, ``offline-`` prefixes). Where the
SDKs ship real data, the answer uses it and says so (``NOTES``): the zones of a region are the real
zone names, so a stack asking for more AZs than its region has fails offline as it would on AWS.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from infra import aws_catalog

ACCOUNT_ID = "123456789012"
PLACEHOLDER = "offline-placeholder"

InvokeAnswer = Callable[[dict[str, Any], str], dict[str, Any]]
OutputAnswer = Callable[[str, dict[str, Any], str], dict[str, Any]]


PLACEHOLDER_NOTE = "offline placeholder, not read from AWS"
# Zones invented for a region the shipped data does not cover (the most any region has had is 6).
_INVENTED_ZONE_LETTERS = "abcdef"


def _availability_zones(args: dict[str, Any], region: str) -> dict[str, Any]:
    names = aws_catalog.region_zones(region) or tuple(f"{region}{c}" for c in _INVENTED_ZONE_LETTERS)
    short = "".join(part[0] for part in region.split("-")[:-1]) + region.split("-")[-1]
    return {
        "names": list(names),
        # Which zone ID a zone name maps to differs between accounts: these are placeholders.
        "zoneIds": [f"{short}-az{i + 1}" for i in range(len(names))],
        "state": args.get("state"),
        "id": region,
    }


def _availability_zones_note(args: dict[str, Any], region: str) -> str:
    if aws_catalog.region_zones(region) is None:
        return f"{PLACEHOLDER_NOTE}: zone names invented, {aws_catalog.zone_data_source()} does not cover {region}"
    return (
        f"zone names of {region} from {aws_catalog.zone_data_source()} (AWS can add zones later); "
        f"zone IDs are placeholders (their mapping differs per account)"
    )


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


def _ssm_parameters_by_path(args: dict[str, Any], region: str) -> dict[str, Any]:
    """No parameters under the path: a first deploy (e.g. no node-patching record yet)."""
    path = args.get("path", "")
    return {"arns": [], "names": [], "types": [], "values": [], "insecureValues": [], "path": path, "id": path, "withDecryption": True}


INVOKES: dict[str, InvokeAnswer] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:index/getRegion:getRegion": _region,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:index/getPartition:getPartition": _partition,
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
    "aws:ssm/getParametersByPath:getParametersByPath": _ssm_parameters_by_path,
}


# How an invoke's answer was made, when it is not simply invented (default: PLACEHOLDER_NOTE).
NOTES: dict[str, Callable[[dict[str, Any], str], str]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones_note,
}


def note_for(token: str, args: dict[str, Any], region: str) -> str:
    note = NOTES.get(token)
    return note(args, region) if note is not None else PLACEHOLDER_NOTE


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
    # A LoadBalancer Service's address, as the service controller would report it.
    "kubernetes:core/v1:Service": lambda name, inputs, region: {
        "status": {"loadBalancer": {"ingress": [{"hostname": f"{PLACEHOLDER}-{name}.elb.{region}.amazonaws.com"}]}}
    },
    "eks:index:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _eks_node_group,
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs, region: {"latestVersion": 1, "defaultVersion": 1},
    "aws:kms/key:Key": lambda name, inputs, region: {"keyId": f"{PLACEHOLDER}-{name}"},
}


# --- Data stores (issue 4): metadata database, durable Airflow secrets, task-log bucket ----------
#
# The default answers describe a fresh account: no durable secret and no task-log bucket exist yet,
# so the plan shows them being created. ``secrets_found`` and ``buckets_found`` build the answers of
# an account where a destroyed stack left them behind (the adoption path); pass them to
# ``run_plan``/``record`` through ``invokes=``.

import hashlib as _hashlib
import itertools as _itertools
import json as _json
import string as _string
from typing import Sequence as _Sequence

OFFLINE_VERSION_ID = "offline-version-1"


def _digest(*parts: Any) -> str:
    return _hashlib.sha256(_json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _kms_key(args: dict[str, Any], region: str) -> dict[str, Any]:
    key_id = f"offline-{_digest(args.get('keyId'))[:12]}"
    arn = f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key_id}"
    return {"arn": arn, "id": arn, "keyId": args.get("keyId"), "keyManager": "AWS", "keyState": "Enabled", "enabled": True}


_draws = _itertools.count()


def _random_password(args: dict[str, Any], region: str) -> dict[str, Any]:
    """GetRandomPassword: characters from the allowed set, a new value on every call (as AWS does).

    The values are pseudo-random (a hash of the request and a call counter); the plan records them
    masked, so its output does not depend on them.
    """
    alphabet = ""
    if not args.get("excludeLowercase"):
        alphabet += _string.ascii_lowercase
    if not args.get("excludeUppercase"):
        alphabet += _string.ascii_uppercase
    if not args.get("excludeNumbers"):
        alphabet += _string.digits
    if not args.get("excludePunctuation"):
        alphabet += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    alphabet = "".join(c for c in alphabet if c not in (args.get("excludeCharacters") or ""))
    length = int(args.get("passwordLength") or 32)
    draw = next(_draws)
    stream = "".join(_digest(args, draw, i) for i in range(length // 16 + 1))
    value = "".join(alphabet[int(stream[2 * i : 2 * i + 2], 16) % len(alphabet)] for i in range(length))
    return {**args, "randomPassword": value, "id": "offline-random-password"}


def _no_secrets(args: dict[str, Any], region: str) -> dict[str, Any]:
    return {"arns": [], "names": [], "filters": args.get("filters"), "id": region}


def _secret_arn(name: str, region: str) -> str:
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}-offline"


def secrets_found(
    names: _Sequence[str], with_value: bool = True, without_value: _Sequence[str] = ()
) -> dict[str, InvokeAnswer]:
    """Answers of an account that already holds the secrets ``names`` (exact names).

    ``with_value=False``: the secrets exist but hold no version yet (an earlier run failed between
    creating a secret and storing its value, or an operator has not set it). ``without_value``: the
    names among ``names`` that hold no version (the others do).
    """

    def get_secrets(args: dict[str, Any], region: str) -> dict[str, Any]:
        prefixes = [v for f in args.get("filters") or [] if f.get("name") == "name" for v in f.get("values", [])]
        hits = [n for n in names if any(n.lower().startswith(p.lower()) for p in prefixes)]
        return {"arns": [_secret_arn(n, region) for n in hits], "names": hits, "filters": args.get("filters"), "id": region}

    def get_versions(args: dict[str, Any], region: str) -> dict[str, Any]:
        has_value = with_value and args.get("secretId") not in {_secret_arn(n, region) for n in without_value}
        versions = (
            [{"versionId": OFFLINE_VERSION_ID, "versionStages": ["AWSCURRENT"], "createdTime": "2026-01-01T00:00:00Z", "lastAccessedDate": "2026-01-01T00:00:00Z"}]
            if has_value
            else []
        )
        return {"secretId": args.get("secretId"), "arn": args.get("secretId"), "name": args.get("secretId"), "versions": versions, "id": args.get("secretId")}

    return {
        "aws:secretsmanager/getSecrets:getSecrets": get_secrets,
        "aws:secretsmanager/getSecretVersions:getSecretVersions": get_versions,
    }


def _secret_version(args: dict[str, Any], region: str) -> dict[str, Any]:
    secret_id = args.get("secretId")
    return {
        "arn": secret_id,
        "id": f"{secret_id}|{args.get('versionId') or OFFLINE_VERSION_ID}",
        "secretId": secret_id,
        # The value is only passed through (never decoded), so a recognisable placeholder will do.
        "secretString": f"offline-existing-{_digest(secret_id)[:32]}",
        "versionId": args.get("versionId") or OFFLINE_VERSION_ID,
        "versionStages": ["AWSCURRENT"],
        "createdDate": "2026-01-01T00:00:00Z",
    }


def _no_buckets(args: dict[str, Any], region: str) -> dict[str, Any]:
    return {"buckets": [], "prefix": args.get("prefix"), "region": region, "id": region}


def buckets_found(names: _Sequence[str]) -> dict[str, InvokeAnswer]:
    """Answers of an account that already owns the buckets ``names``."""

    def get_buckets(args: dict[str, Any], region: str) -> dict[str, Any]:
        prefix = args.get("prefix") or ""
        hits = [
            {"name": n, "bucketArn": f"arn:aws:s3:::{n}", "bucketRegion": region, "creationDate": "2026-01-01T00:00:00Z"}
            for n in names
            if n.startswith(prefix)
        ]
        return {"buckets": hits, "prefix": prefix, "region": region, "id": region}

    return {"aws:s3/getBuckets:getBuckets": get_buckets}


INVOKES.update(
    {
        "aws:kms/getKey:getKey": _kms_key,
        "aws:secretsmanager/getSecrets:getSecrets": _no_secrets,
        "aws:secretsmanager/getSecretVersions:getSecretVersions": secrets_found([])["aws:secretsmanager/getSecretVersions:getSecretVersions"],
        "aws:secretsmanager/getSecretVersion:getSecretVersion": _secret_version,
        "aws:secretsmanager/getRandomPassword:getRandomPassword": _random_password,
        "aws:s3/getBuckets:getBuckets": _no_buckets,
    }
)

# Invoke result fields holding secret values: the harness records them masked.
SECRET_RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "aws:secretsmanager/getRandomPassword:getRandomPassword": ("randomPassword",),
    "aws:secretsmanager/getSecretVersion:getSecretVersion": ("secretString", "secretBinary"),
}


def _rds_instance(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    identifier = inputs.get("identifier") or name
    address = f"{identifier}.{PLACEHOLDER}.{region}.rds.amazonaws.com"
    return {
        "arn": f"arn:aws:rds:{region}:{ACCOUNT_ID}:db:{identifier}",
        "address": address,
        "endpoint": f"{address}:{inputs.get('port', 5432)}",
        "port": inputs.get("port", 5432),
        "resourceId": f"db-{PLACEHOLDER}",
        "engineVersionActual": inputs.get("engineVersion"),
        "hostedZoneId": PLACEHOLDER,
    }


def _random_id(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    size = int(inputs.get("byteLength") or 8)
    hex_ = _digest(name, inputs.get("keepers"))[: 2 * size]
    raw = bytes.fromhex(hex_)
    import base64 as _b64

    return {
        "hex": hex_,
        "dec": str(int(hex_, 16)),
        "b64Std": _b64.b64encode(raw).decode(),
        "b64Url": _b64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def _random_password_resource(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    length = int(inputs.get("length") or 16)
    return {"result": ("offline" + _digest(name) * 4)[:length], "bcryptHash": PLACEHOLDER}


OUTPUTS.update(
    {
        "aws:rds/instance:Instance": _rds_instance,
        "random:index/randomId:RandomId": _random_id,
        "random:index/randomPassword:RandomPassword": _random_password_resource,
        "aws:s3/bucket:Bucket": lambda name, inputs, region: {
            "arn": f"arn:aws:s3:::{inputs.get('bucket') or name}",
            "bucketDomainName": f"{inputs.get('bucket') or name}.s3.amazonaws.com",
            "region": region,
        },
        "aws:secretsmanager/secret:Secret": lambda name, inputs, region: {"arn": _secret_arn(inputs.get("name") or name, region)},
        # CloudWatch alarms' ARNs (the dashboard's alarm widget lists them): arn:aws:cloudwatch:<region>:<account>:alarm:<name>.
        "aws:cloudwatch/metricAlarm:MetricAlarm": lambda name, inputs, region: {
            "arn": f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{inputs.get('name') or name}",
        },
        "aws:secretsmanager/secretVersion:SecretVersion": lambda name, inputs, region: {
            "versionId": OFFLINE_VERSION_ID,
            "arn": inputs.get("secretId"),
        },
    }
)


# --- Airflow image repository (ECR) --------------------------------------------------------------
#
# The default answers describe a fresh account: no ECR repository exists yet, so the plan shows the
# repository being created and the Airflow release installed without waiting for its image (the
# first deploy). ``repositories_found`` builds the answers of an account that already holds
# repositories and images (a later deploy, or a recreate after destroy).

from typing import Mapping as _Mapping


def _ecr_registry(region: str) -> str:
    return f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com"


def repositories_found(images: _Mapping[str, _Sequence[str]]) -> dict[str, InvokeAnswer]:
    """Answers of an account holding the ECR repositories ``images`` (name -> tags of its images)."""

    def get_repositories(args: dict[str, Any], region: str) -> dict[str, Any]:
        return {"names": sorted(images), "id": region, "region": region}

    def get_images(args: dict[str, Any], region: str) -> dict[str, Any]:
        name = args.get("repositoryName")
        if name not in images:
            raise ValueError(f"RepositoryNotFoundException: the repository with name '{name}' does not exist (offline)")
        ids = [{"imageDigest": "sha256:" + _digest(name, tag), "imageTag": tag} for tag in images[name]]
        return {"imageIds": ids, "repositoryName": name, "registryId": ACCOUNT_ID, "region": region, "id": name}

    return {"aws:ecr/getRepositories:getRepositories": get_repositories, "aws:ecr/getImages:getImages": get_images}


INVOKES.update(repositories_found({}))

OUTPUTS.update(
    {
        "aws:ecr/repository:Repository": lambda name, inputs, region: {
            "arn": f"arn:aws:ecr:{region}:{ACCOUNT_ID}:repository/{inputs.get('name') or name}",
            "registryId": ACCOUNT_ID,
            "repositoryUrl": f"{_ecr_registry(region)}/{inputs.get('name') or name}",
        },
        "aws:ecr/lifecyclePolicy:LifecyclePolicy": lambda name, inputs, region: {"registryId": ACCOUNT_ID},
    }
)


def log_groups_found(names: _Sequence[str]) -> dict[str, InvokeAnswer]:
    """Answers of an account where the CloudWatch log groups ``names`` already exist."""

    def get_log_groups(args: dict[str, Any], region: str) -> dict[str, Any]:
        prefix = args.get("logGroupNamePrefix") or ""
        hits = [n for n in names if n.startswith(prefix)]
        return {
            "logGroupNames": hits,
            "arns": [f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{n}" for n in hits],
            "logGroupNamePrefix": prefix,
            "id": region,
        }

    return {"aws:cloudwatch/getLogGroups:getLogGroups": get_log_groups}


INVOKES.update(log_groups_found([]))


# --- EKS: the cluster, its creator and its node groups (issue 11) ---------------------------------
#
# The default answers describe a fresh account: no EKS cluster, so the program records this run's
# identity as the cluster's creator and sends the stack file's initial node-group sizes.
# ``clusters_found`` builds the answers of an account where the cluster already runs (a second run,
# a retry after a failed first run): its tags (the recorded creator) and its node groups' live sizes.


def _session_context(args: dict[str, Any], region: str) -> dict[str, Any]:
    """GetSessionContext: the role behind an assumed-role ARN (offline roles have no path)."""
    import re

    arn = args.get("arn") or ""
    sts = re.match(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)$", arn)
    if sts:
        partition, account, name, session = sts.groups()
        return {
            "arn": arn,
            "issuerArn": f"arn:{partition}:iam::{account}:role/{name}",
            "issuerId": PLACEHOLDER,
            "issuerName": name,
            "sessionName": session,
            "id": arn,
        }
    return {"arn": arn, "issuerArn": arn, "issuerId": PLACEHOLDER, "issuerName": "", "sessionName": "", "id": arn}


def caller_identity(arn: str) -> dict[str, InvokeAnswer]:
    """Answers for a run made by the identity ``arn`` (e.g. an assumed-role session)."""

    account = arn.split(":")[4] or ACCOUNT_ID

    def answer(args: dict[str, Any], region: str) -> dict[str, Any]:
        return {"accountId": account, "arn": arn, "userId": PLACEHOLDER, "id": account}

    return {"aws:index/getCallerIdentity:getCallerIdentity": answer}


def clusters_found(
    clusters: _Mapping[str, dict[str, Any]],
) -> dict[str, InvokeAnswer]:
    """Answers of an account where the EKS clusters ``clusters`` exist.

    ``clusters``: name -> {"tags": {...}, "node_groups": {group name: (min, max, desired)}}.
    """

    def get_clusters(args: dict[str, Any], region: str) -> dict[str, Any]:
        return {"names": sorted(clusters), "id": region, "region": region}

    def get_cluster(args: dict[str, Any], region: str) -> dict[str, Any]:
        name = args.get("name")
        if name not in clusters:
            raise ValueError(f"ResourceNotFoundException: No cluster found for name: {name} (offline)")
        return {"name": name, "id": name, "tags": dict(clusters[name].get("tags") or {}), "status": "ACTIVE"}

    def get_node_groups(args: dict[str, Any], region: str) -> dict[str, Any]:
        name = args.get("clusterName")
        if name not in clusters:
            raise ValueError(f"ResourceNotFoundException: No cluster found for name: {name} (offline)")
        groups = sorted((clusters[name].get("node_groups") or {}))
        return {"clusterName": name, "names": groups, "id": name}

    def get_node_group(args: dict[str, Any], region: str) -> dict[str, Any]:
        cluster, group = args.get("clusterName"), args.get("nodeGroupName")
        groups = (clusters.get(cluster) or {}).get("node_groups") or {}
        if group not in groups:
            raise ValueError(f"ResourceNotFoundException: No node group found for name: {group} (offline)")
        low, high, desired = groups[group]
        return {
            "clusterName": cluster,
            "nodeGroupName": group,
            "id": f"{cluster}:{group}",
            "scalingConfigs": [{"minSize": low, "maxSize": high, "desiredSize": desired}],
            "status": "ACTIVE",
        }

    return {
        "aws:eks/getClusters:getClusters": get_clusters,
        "aws:eks/getCluster:getCluster": get_cluster,
        "aws:eks/getNodeGroups:getNodeGroups": get_node_groups,
        "aws:eks/getNodeGroup:getNodeGroup": get_node_group,
    }


INVOKES.update(clusters_found({}))
INVOKES["aws:iam/getSessionContext:getSessionContext"] = _session_context

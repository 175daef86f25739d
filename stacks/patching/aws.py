"""The AWS calls of node patching, through boto3: SSM (AWS's release parameters, our records), EKS, CloudWatch.

Read-only except ``write_record`` (the stack's own record parameter) and ``put_lag_metric``.
EventBridge does not see changes to AWS's public SSM parameters (aws/containers-roadmap#407): the
recommended release is polled, with its ``LastModifiedDate`` as the publication time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.amis import release_parameter
from stacks.patching.preflight import ClusterState, NodeGroupState
from stacks.patching.releases import Published

# The patch-lag metric (one datapoint per stack and node group on every patch-status run): the
# alarm of docs/nodes-and-patching.md watches it.
METRIC_NAMESPACE = "BatchPlatform/NodePatching"
METRIC_NAME = "PatchLagDays"


class PatchAwsError(Exception):
    """An AWS call failed; the message says which call, on what, and why."""


def _fail(what: str, exc: Exception) -> PatchAwsError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return PatchAwsError(f"{what}: {error.get('Code', 'error')}: {error.get('Message', exc)}")
    return PatchAwsError(f"{what}: {exc}")


class PatchAws:
    """boto3 clients of one region."""

    def __init__(self, region: str, session: Any = None):
        session = session or boto3.session.Session(region_name=region)
        self.region = region
        self.ssm = session.client("ssm", region_name=region)
        self.eks = session.client("eks", region_name=region)
        self.cloudwatch = session.client("cloudwatch", region_name=region)

    def recommended(self, family: str, kubernetes_version: str) -> Published:
        """The release AWS recommends now, and when its parameter last changed (the publication time)."""
        name = release_parameter(family, kubernetes_version)
        try:
            parameter = self.ssm.get_parameter(Name=name)["Parameter"]
        except (ClientError, BotoCoreError) as exc:
            raise _fail(f"reading the recommended AMI release {name}", exc) from None
        return Published(parameter["Value"], parameter.get("LastModifiedDate"))

    def read_record(self, name: str) -> Optional[str]:
        try:
            return self.ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise _fail(f"reading the node-patching record {name}", exc) from None
        except BotoCoreError as exc:
            raise _fail(f"reading the node-patching record {name}", exc) from None

    def write_record(self, name: str, text: str, stack: str) -> None:
        try:
            self.ssm.put_parameter(
                Name=name,
                Value=text,
                Type="String",
                Overwrite=True,
                Description=f"batch-platform {stack}: AMI releases proven or failed on this node group (patch-nodes)",
            )
        except (ClientError, BotoCoreError) as exc:
            raise _fail(f"writing the node-patching record {name}", exc) from None

    def cluster(self, name: str) -> ClusterState:
        try:
            cluster = self.eks.describe_cluster(name=name)["cluster"]
        except (ClientError, BotoCoreError) as exc:
            raise _fail(f"describing the EKS cluster {name}", exc) from None
        issues = tuple(f"{i.get('code')}: {i.get('message')}" for i in (cluster.get("health") or {}).get("issues") or [])
        return ClusterState(name=name, status=cluster["status"], version=cluster["version"], health_issues=issues)

    def node_group(self, cluster: str, role: str, name: str) -> NodeGroupState:
        try:
            group = self.eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
        except (ClientError, BotoCoreError) as exc:
            raise _fail(f"describing the node group {name} of {cluster}", exc) from None
        scaling = group.get("scalingConfig") or {}
        issues = tuple(f"{i.get('code')}: {i.get('message')}" for i in (group.get("health") or {}).get("issues") or [])
        return NodeGroupState(
            role=role,
            name=name,
            status=group["status"],
            release=group.get("releaseVersion"),
            version=group.get("version"),
            min_size=scaling.get("minSize", 0),
            desired_size=scaling.get("desiredSize", 0),
            max_size=scaling.get("maxSize", 0),
            health_issues=issues,
        )

    def updates_in_progress(self, cluster: str, node_groups: list[str]) -> list[str]:
        """Updates of the cluster or of its node groups that are still in progress."""
        found = []
        for group in (None, *node_groups):
            what = f"node group {group}" if group else f"cluster {cluster}"
            kwargs = {"name": cluster, **({"nodegroupName": group} if group else {})}
            try:
                ids = [u for page in self.eks.get_paginator("list_updates").paginate(**kwargs) for u in page.get("updateIds", [])]
                for update_id in ids:
                    update = self.eks.describe_update(name=cluster, updateId=update_id, **({"nodegroupName": group} if group else {}))["update"]
                    if update["status"] == "InProgress":
                        found.append(f"{update.get('type', 'update')} {update_id} of {what}")
            except (ClientError, BotoCoreError) as exc:
                raise _fail(f"listing the updates of {what}", exc) from None
        return found

    def put_lag_metric(self, stack: str, lags: dict[str, float], at: datetime) -> None:
        """One ``PatchLagDays`` datapoint per node group, dimensions ``Stack`` and ``NodeGroup``."""
        data = [
            {
                "MetricName": METRIC_NAME,
                "Dimensions": [{"Name": "Stack", "Value": stack}, {"Name": "NodeGroup", "Value": role}],
                "Timestamp": at,
                "Value": round(days, 3),
                "Unit": "None",
            }
            for role, days in sorted(lags.items())
        ]
        try:
            self.cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=data)
        except (ClientError, BotoCoreError) as exc:
            raise _fail(f"publishing {METRIC_NAMESPACE} {METRIC_NAME}", exc) from None

"""The Kubernetes Cluster Autoscaler: pending batch Jobs get nodes, idle nodes go away.

Installed from the official chart (kubernetes.github.io/autoscaler) at the version pinned in
``infra.versions``, with the autoscaler image of the cluster's Kubernetes minor. It discovers the
managed node groups' Auto Scaling groups by the tags EKS puts on them
(``k8s.io/cluster-autoscaler/enabled`` and ``k8s.io/cluster-autoscaler/<cluster-name>``) and scales
each between its min and max size.

Why the Cluster Autoscaler rather than Karpenter: the managed node groups stay the one place nodes
come from, so the AMI release logic (``infra.amis``: SSM -> ``release_version``, rolled by EKS with
PodDisruptionBudgets respected) covers every node. Karpenter would launch its own instances beside
the node groups, with its own AMI selection and drift replacement to keep in step.

Its IAM role (IRSA) may describe anything, but may only change the size of, or terminate instances
in, Auto Scaling groups tagged ``k8s.io/cluster-autoscaler/<cluster-name>=owned``, i.e. this
cluster's node groups, and may only describe this cluster's node groups on the EKS API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.irsa import IRSA_ANNOTATION, irsa_role
from infra.scheduling import SYSTEM, node_selector, toleration
from infra.versions import (
    CLUSTER_AUTOSCALER_CHART,
    CLUSTER_AUTOSCALER_CHART_REPOSITORY,
    CLUSTER_AUTOSCALER_CHART_VERSION,
    CLUSTER_AUTOSCALER_IMAGE_TAGS,
)

DISCOVERY_TAG = "k8s.io/cluster-autoscaler/enabled"


def ownership_tag(cluster_name: str) -> str:
    """The tag EKS puts (value ``owned``) on the Auto Scaling group of each of this cluster's node groups."""
    return f"k8s.io/cluster-autoscaler/{cluster_name}"


def autoscaler_policy(cluster_name: str, region: str, account_id: str, partition: str = "aws") -> str:
    """Least-privilege IAM policy of the autoscaler (the upstream "full features" policy, scoped).

    Describe calls cannot be scoped by resource and stay on ``*``; scaling and terminating are
    limited to ASGs carrying this cluster's ownership tag; node groups can be described only in
    this cluster (labels and taints of groups at zero nodes).
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Discover",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "DescribeThisClustersNodeGroups",
                    "Effect": "Allow",
                    "Action": "eks:DescribeNodegroup",
                    "Resource": f"arn:{partition}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*",
                },
                {
                    "Sid": "ScaleThisClustersNodeGroups",
                    "Effect": "Allow",
                    "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {f"aws:ResourceTag/{ownership_tag(cluster_name)}": "owned"}},
                },
            ],
        },
        sort_keys=True,
    )


def autoscaler_values(
    *, cluster_name: str, region: str, role_arn: str, image_tag: str, service_account: str
) -> dict[str, Any]:
    """Helm values of the cluster-autoscaler chart."""
    return {
        "cloudProvider": "aws",
        # Required: with an IMDS hop limit of 1 the pod cannot learn its region from the node.
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name, "tags": [DISCOVERY_TAG, ownership_tag(cluster_name)]},
        "image": {"tag": image_tag},
        "rbac": {
            "create": True,
            "serviceAccount": {"create": True, "name": service_account, "annotations": {IRSA_ANNOTATION: role_arn}},
        },
        "nodeSelector": node_selector(SYSTEM),
        "tolerations": [toleration(SYSTEM)],
        "extraArgs": {
            # Fill the cheapest-to-waste group first when several could take a pending pod.
            "expander": "least-waste",
            "balance-similar-node-groups": True,
            # Pods with emptyDir (Airflow task scratch space) must not pin a node forever.
            "skip-nodes-with-local-storage": False,
            # An idle batch node goes 10 minutes after its last Job (the default, stated explicitly).
            "scale-down-unneeded-time": "10m",
            "scale-down-delay-after-add": "10m",
        },
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
    }


@dataclass(frozen=True, kw_only=True)
class ClusterAutoscalerArgs:
    """Inputs of the ClusterAutoscaler component."""

    cluster_name: str
    kubernetes_version: str
    """Selects the autoscaler image: it must match the cluster's Kubernetes minor."""

    region: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]

    wait_for: Sequence[pulumi.Resource] = ()
    """Resources the Helm release waits for: the system node group its pod runs on."""

    namespace: str = "kube-system"
    """kube-system, beside the other cluster add-ons (system-cluster-critical priority is allowed there)."""

    service_account: str = "cluster-autoscaler"


class ClusterAutoscaler(pulumi.ComponentResource):
    """The autoscaler's IRSA role and its Helm release. Needs the ``aws`` and ``kubernetes`` providers in opts."""

    role: aws.iam.Role
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        if args.kubernetes_version not in CLUSTER_AUTOSCALER_IMAGE_TAGS:
            raise ValueError(f"no Cluster Autoscaler image pinned for Kubernetes {args.kubernetes_version}")
        super().__init__("batch-platform:infra:ClusterAutoscaler", name, None, opts)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        policy = identity.account_id.apply(lambda account: autoscaler_policy(args.cluster_name, args.region, account))
        self.role = irsa_role(
            f"{name}-irsa",
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=args.namespace,
            service_account=args.service_account,
            inline_policy=policy,
            parent=self,
        )
        values = self.role.arn.apply(
            lambda arn: autoscaler_values(
                cluster_name=args.cluster_name,
                region=args.region,
                role_arn=arn,
                image_tag=CLUSTER_AUTOSCALER_IMAGE_TAGS[args.kubernetes_version],
                service_account=args.service_account,
            )
        )
        self.release = k8s.helm.v3.Release(
            name,
            k8s.helm.v3.ReleaseArgs(
                name="cluster-autoscaler",
                chart=CLUSTER_AUTOSCALER_CHART,
                version=CLUSTER_AUTOSCALER_CHART_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CLUSTER_AUTOSCALER_CHART_REPOSITORY),
                namespace=args.namespace,
                values=values,
                # Roll back a failed upgrade instead of leaving a half-applied release.
                atomic=True,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.wait_for)),
        )
        self.register_outputs({"role_arn": self.role.arn})

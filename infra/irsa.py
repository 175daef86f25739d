"""IAM roles for Kubernetes service accounts (IRSA), the one way pods get AWS permissions here.

Why IRSA rather than EKS Pod Identity: it needs no extra agent add-on on the nodes, the trust is a
plain IAM policy that we build and test as a pure function, and every chart we install (cluster
autoscaler, load balancer controller, Airflow) documents the ``eks.amazonaws.com/role-arn``
annotation. A role trusts exactly one service account in one namespace of one cluster.
"""

from __future__ import annotations

import json
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """Trust policy letting only ``system:serviceaccount:<namespace>:<service_account>`` assume the role.

    ``oidc_issuer`` is the issuer URL with or without ``https://``.
    """
    issuer = oidc_issuer.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def irsa_role(
    name: str,
    *,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    namespace: str,
    service_account: str,
    inline_policy: Optional[pulumi.Input[str]] = None,
    managed_policy_arns: Sequence[str] = (),
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """Create a role assumable by one service account, with an optional inline policy and managed policies."""
    role = aws.iam.Role(
        name,
        assume_role_policy=pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
            lambda v: irsa_trust_policy(v[0], v[1], namespace, service_account)
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    if inline_policy is not None:
        aws.iam.RolePolicy(name, role=role.id, policy=inline_policy, opts=pulumi.ResourceOptions(parent=parent))
    for i, arn in enumerate(managed_policy_arns):
        aws.iam.RolePolicyAttachment(
            f"{name}-{i}", role=role.name, policy_arn=arn, opts=pulumi.ResourceOptions(parent=parent)
        )
    return role

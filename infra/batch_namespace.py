"""The batch-jobs runtime: the namespace where Airflow launches batch Jobs, and its guard rails.

* Namespace with the ``restricted`` Pod Security Standard enforced (and audited, warned).
* ``batch-job-runner`` service account for the Jobs, bound by IRSA to an IAM role that holds the
  AWS permissions batches need (managed policies named in config); no Kubernetes API token.
* Role + RoleBinding: the Airflow service accounts that run KubernetesJobOperator (task pods) and
  wait for it (triggerer, deferrable mode) may create, watch and delete Jobs and pods here and read
  pod logs. Nothing else in the namespace, and nothing cluster-wide.
* ResourceQuota and LimitRange: a runaway DAG cannot take the whole batch node group, and a Job
  without requests still gets sane ones.
* NetworkPolicies: default deny in and out, then DNS, HTTPS (AWS APIs) and, when asked, the
  database port towards the database subnets. Enforced only when the VPC CNI network policy agent
  is enabled on the cluster (``enableNetworkPolicy: "true"`` in the vpc-cni add-on configuration).

Every object is a pure function returning the manifest dict (validated by the tests against the
Kubernetes schema); the component only registers them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s_objects
from infra.irsa import IRSA_ANNOTATION, irsa_role
from infra.versions import DEFAULT_KUBERNETES_VERSION

IMDS_CIDR = "169.254.169.254/32"
LAUNCHER_ROLE = "airflow-job-launcher"
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "batch-platform"}

# What the batch operator (dags/batch_platform/job_operator.py over the provider's
# KubernetesJobOperator, cncf.kubernetes 10.x) does in the Job's namespace: find the run's Jobs,
# create one, follow it and its pods (also from the triggerer in deferrable mode), stream the pod's
# log into the task log, label the followed pod "already_checked" when done (pods patch; refused,
# the provider only logs it), and delete the Job when killed or when it never gets a pod.
# tests/dags/test_job_launch.py runs the operator against an API that enforces exactly these rules.
LAUNCHER_RULES: list[dict[str, Any]] = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "patch", "delete"]},
    {"apiGroups": ["batch"], "resources": ["jobs/status"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
]


@dataclass(frozen=True)
class ServiceAccountRef:
    namespace: str
    name: str


@dataclass(frozen=True, kw_only=True)
class BatchQuota:
    """Totals for the whole namespace (Kubernetes quantities)."""

    requests_cpu: str = "32"
    requests_memory: str = "128Gi"
    limits_cpu: str = "64"
    limits_memory: str = "256Gi"
    pods: int = 100
    jobs: int = 200


@dataclass(frozen=True, kw_only=True)
class BatchContainerLimits:
    """LimitRange of every container: defaults for containers that set nothing, and a ceiling."""

    default_request_cpu: str = "500m"
    default_request_memory: str = "1Gi"
    default_limit_cpu: str = "2"
    default_limit_memory: str = "2Gi"
    max_cpu: str = "8"
    max_memory: str = "32Gi"


@dataclass(frozen=True, kw_only=True)
class BatchNamespaceSettings:
    namespace: str = "batch-jobs"
    service_account: str = "batch-job-runner"
    launchers: Sequence[ServiceAccountRef] = ()
    """Airflow service accounts allowed to launch Jobs here (task pods and triggerer)."""
    quota: BatchQuota = field(default_factory=BatchQuota)
    container_limits: BatchContainerLimits = field(default_factory=BatchContainerLimits)
    https_egress: Literal["internet", "vpc"] = "internet"
    vpc_cidr: Optional[str] = None
    database_cidrs: Sequence[str] = ()
    database_port: Optional[int] = None
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    """The cluster's Kubernetes minor: the Pod Security Standard version the namespace pins."""


def _meta(name: str, namespace: Optional[str] = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY)}
    if namespace is not None:
        meta["namespace"] = namespace
    for key, value in extra.items():
        meta[key] = value
    return meta


def namespace_object(settings: BatchNamespaceSettings) -> dict[str, Any]:
    version = f"v{settings.kubernetes_version}"
    pss = {}
    for mode in ("enforce", "audit", "warn"):
        pss[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        pss[f"pod-security.kubernetes.io/{mode}-version"] = version
    meta = _meta(settings.namespace)
    meta["labels"].update(pss)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account_object(settings: BatchNamespaceSettings, role_arn: Optional[str]) -> dict[str, Any]:
    meta = _meta(settings.service_account, settings.namespace)
    if role_arn:
        meta["annotations"] = {IRSA_ANNOTATION: role_arn}
    # Batch Jobs never call the Kubernetes API: no token in their pods.
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False}


def launcher_role_object(settings: BatchNamespaceSettings) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(LAUNCHER_ROLE, settings.namespace),
        # A copy: a caller editing its manifest must not change every later one (and the plan's).
        "rules": copy.deepcopy(LAUNCHER_RULES),
    }


def launcher_binding_object(settings: BatchNamespaceSettings) -> dict[str, Any]:
    if not settings.launchers:
        raise ValueError("at least one Airflow service account must be allowed to launch batch Jobs")
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(LAUNCHER_ROLE, settings.namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LAUNCHER_ROLE},
        "subjects": [
            {"kind": "ServiceAccount", "name": ref.name, "namespace": ref.namespace} for ref in settings.launchers
        ],
    }


def quota_object(settings: BatchNamespaceSettings) -> dict[str, Any]:
    q = settings.quota
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta("batch-quota", settings.namespace),
        "spec": {
            "hard": {
                "requests.cpu": q.requests_cpu,
                "requests.memory": q.requests_memory,
                "limits.cpu": q.limits_cpu,
                "limits.memory": q.limits_memory,
                "pods": str(q.pods),
                "count/jobs.batch": str(q.jobs),
            }
        },
    }


def limit_range_object(settings: BatchNamespaceSettings) -> dict[str, Any]:
    c = settings.container_limits
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta("batch-container-limits", settings.namespace),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": {"cpu": c.default_request_cpu, "memory": c.default_request_memory},
                    "default": {"cpu": c.default_limit_cpu, "memory": c.default_limit_memory},
                    "max": {"cpu": c.max_cpu, "memory": c.max_memory},
                }
            ]
        },
    }


def _policy(settings: BatchNamespaceSettings, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name, settings.namespace),
        "spec": {"podSelector": {}, **spec},
    }


def network_policy_objects(settings: BatchNamespaceSettings) -> list[dict[str, Any]]:
    """Default deny, then the egress batches need. Policies add up: a flow is allowed if any allows it."""
    policies = [
        _policy(settings, "default-deny-all", {"policyTypes": ["Ingress", "Egress"]}),
        _policy(
            settings,
            "allow-dns",
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
    ]
    # NetworkPolicy matches addresses, not DNS names: AWS API endpoints are public addresses unless
    # VPC interface endpoints exist. "internet" allows HTTPS anywhere but the instance metadata
    # service (pods must use IRSA, never the node's role); "vpc" allows only the VPC range, for
    # VPCs that have interface endpoints for every AWS service the batches call (STS included).
    if settings.https_egress == "internet":
        https_to = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [IMDS_CIDR]}}]
    else:
        if not settings.vpc_cidr:
            raise ValueError("https_egress 'vpc' needs the VPC CIDR")
        https_to = [{"ipBlock": {"cidr": settings.vpc_cidr}}]
    policies.append(
        _policy(
            settings,
            "allow-https-egress",
            {"policyTypes": ["Egress"], "egress": [{"to": https_to, "ports": [{"protocol": "TCP", "port": 443}]}]},
        )
    )
    if settings.database_cidrs:
        if settings.database_port is None:
            raise ValueError("database egress needs the database port")
        policies.append(
            _policy(
                settings,
                "allow-database-egress",
                {
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [{"ipBlock": {"cidr": cidr}} for cidr in settings.database_cidrs],
                            "ports": [{"protocol": "TCP", "port": settings.database_port}],
                        }
                    ],
                },
            )
        )
    return policies


def batch_objects(settings: BatchNamespaceSettings, role_arn: Optional[str]) -> list[dict[str, Any]]:
    """Every object of the batch namespace, namespace first."""
    return [
        namespace_object(settings),
        service_account_object(settings, role_arn),
        launcher_role_object(settings),
        launcher_binding_object(settings),
        quota_object(settings),
        limit_range_object(settings),
        *network_policy_objects(settings),
    ]


@dataclass(frozen=True, kw_only=True)
class BatchNamespaceArgs:
    """Inputs of the BatchNamespace component."""

    kubernetes_provider: k8s.Provider
    """The provider of the EKS cluster (from the cluster component)."""

    oidc_provider_arn: pulumi.Input[str]
    """ARN of the cluster's IAM OIDC provider (IRSA trust)."""

    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL (with or without https://)."""

    settings: BatchNamespaceSettings
    """Namespace layout, launchers, quota, limits and egress (from the typed config)."""

    iam_policy_arns: Sequence[str] = ()
    """Managed IAM policies the batch Jobs' role gets. Empty (default): the role exists with no
    permission, so a Job's AWS access is always an explicit, reviewable config change."""


class BatchNamespace(pulumi.ComponentResource):
    """The namespace batch Jobs run in, with RBAC for Airflow, quotas, limits and network policies."""

    namespace: pulumi.Output[str]
    service_account: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BatchNamespaceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:BatchNamespace", name, None, opts)
        s = args.settings
        role = irsa_role(
            f"{name}-job-runner",
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=s.namespace,
            service_account=s.service_account,
            managed_policy_arns=list(args.iam_policy_arns),
            parent=self,
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider)
        namespace_obj, account_obj, *rest = batch_objects(s, role_arn="(role arn)")
        namespace = k8s_objects.register(f"{name}-namespace", namespace_obj, on_cluster)
        in_namespace = pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider, depends_on=[namespace])
        account_manifest = {**account_obj, "metadata": {**account_obj["metadata"], "annotations": {IRSA_ANNOTATION: role.arn}}}
        k8s_objects.register(f"{name}-{s.service_account}", account_manifest, in_namespace)
        for obj in rest:
            k8s_objects.register(f"{name}-{obj['kind'].lower()}-{obj['metadata']['name']}", obj, in_namespace)

        self.namespace = namespace.metadata.apply(lambda m: m["name"])
        self.service_account = pulumi.Output.from_input(s.service_account)
        self.role_arn = role.arn
        self.register_outputs(
            {"namespace": self.namespace, "service_account": self.service_account, "role_arn": self.role_arn}
        )

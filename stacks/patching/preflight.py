"""Preflight checks before a node group rolls, and the canary Job that proves a new node: pure functions.

A managed node group update drains one batch of nodes at a time and fails (PodEvictionFailure)
when a PodDisruptionBudget still blocks eviction after about 15 minutes, unless forced; the
control plane's version bounds the kubelet's; EKS refuses an update while another is in progress
and needs min <= desired <= max (EKS user guide, "Managed node update behavior"). Checking these
first turns a half-done roll into a clear "not now, because".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from infra.amis import release_version_problem
from infra.scheduling import BATCH, batch_pod_annotations, node_selector, toleration

# The kubelet may be up to three minor versions older than the API server (Kubernetes version
# skew policy, since 1.28), never newer.
KUBELET_MAX_MINORS_BEHIND = 3

CANARY_LABEL = "batch-platform/node-patching-canary"


@dataclass(frozen=True)
class ClusterState:
    name: str
    status: str
    version: str
    health_issues: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeGroupState:
    role: str
    name: str
    status: str
    release: Optional[str]
    version: Optional[str]
    min_size: int
    desired_size: int
    max_size: int
    health_issues: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeState:
    name: str
    ready: bool
    kubelet_version: str
    """As the node reports it, e.g. v1.35.3-eks-4dbc6fc."""
    created: Optional[datetime] = None
    node_group: Optional[str] = None
    """The managed node group it belongs to (label eks.amazonaws.com/nodegroup)."""


@dataclass(frozen=True)
class BlockingPdb:
    """A PodDisruptionBudget that allows no disruption and covers pods on the group's nodes."""

    namespace: str
    name: str
    disruptions_allowed: int
    pods: tuple[str, ...]


@dataclass(frozen=True)
class Preflight:
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.lstrip("v").split(".")[:2]
    return int(major), int(minor.split("-")[0].split("+")[0])


def check(
    cluster: ClusterState,
    group: NodeGroupState,
    *,
    family: str,
    target: str,
    updates_in_progress: Sequence[str],
    nodes: Sequence[NodeState],
    blocking_pdbs: Sequence[BlockingPdb],
    unhealthy_workloads: Sequence[str],
    force: bool,
) -> Preflight:
    """Whether ``group`` may roll to ``target`` now: every reason it may not, and what is only worth saying."""
    problems: list[str] = []
    warnings: list[str] = []
    where = f"node group {group.role} ({group.name})"
    if cluster.status != "ACTIVE":
        problems.append(f"cluster {cluster.name} is {cluster.status}, expected ACTIVE")
    problems += [f"cluster {cluster.name} reports a health issue: {issue}" for issue in cluster.health_issues]
    if group.status != "ACTIVE":
        problems.append(f"{where} is {group.status}, expected ACTIVE")
    problems += [f"{where} reports a health issue: {issue}" for issue in group.health_issues]
    problems += [f"an update is already in progress: {update}" for update in updates_in_progress]
    if not group.min_size <= group.desired_size <= group.max_size:
        problems.append(
            f"{where} size bounds do not hold: min {group.min_size} <= desired {group.desired_size} <= max {group.max_size}"
        )
    why = release_version_problem(family, cluster.version, target)
    if why:
        problems.append(f"{target} cannot run on the control plane {cluster.version}: {why}")
    for node in nodes:
        try:
            behind = _minor(cluster.version)[1] - _minor(node.kubelet_version)[1]
        except (ValueError, IndexError):
            problems.append(f"node {node.name} reports an unreadable kubelet version {node.kubelet_version!r}")
            continue
        if behind < 0:
            problems.append(f"node {node.name} runs kubelet {node.kubelet_version}, newer than the control plane {cluster.version}")
        elif behind > KUBELET_MAX_MINORS_BEHIND:
            problems.append(
                f"node {node.name} runs kubelet {node.kubelet_version}, more than {KUBELET_MAX_MINORS_BEHIND} "
                f"minor versions behind the control plane {cluster.version}"
            )
        if not node.ready:
            problems.append(f"node {node.name} of {where} is not Ready")
    for pdb in blocking_pdbs:
        text = (
            f"PodDisruptionBudget {pdb.namespace}/{pdb.name} allows {pdb.disruptions_allowed} disruptions and covers "
            f"{', '.join(pdb.pods[:3])}{' ...' if len(pdb.pods) > 3 else ''} on {where}: the drain would stall and "
            "EKS fail the update (PodEvictionFailure)"
        )
        if force:
            warnings.append(text + "; cluster.patching.force is on: EKS evicts past it after its drain timeout")
        else:
            problems.append(text + "; fix the budget (more replicas) or set cluster.patching.force: true")
    problems += [f"Airflow is not healthy: {item}" for item in unhealthy_workloads]
    return Preflight(tuple(problems), tuple(warnings))


def selector_string(selector: Optional[Mapping[str, Any]]) -> str:
    """A LabelSelector (``matchLabels``/``matchExpressions``) as the API's label-selector query string.

    The API server does the matching (``list_namespaced_pod(label_selector=...)``): an empty
    selector selects every pod of the namespace, as a policy/v1 PodDisruptionBudget's does.
    """
    selector = selector or {}
    parts = [f"{key}={value}" for key, value in sorted((selector.get("match_labels") or selector.get("matchLabels") or {}).items())]
    for expression in selector.get("match_expressions") or selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ValueError(f"unknown label selector operator {operator!r}")
    return ",".join(parts)


@dataclass(frozen=True)
class CanarySpec:
    namespace: str
    name: str
    image: str
    timeout_seconds: int
    labels: Mapping[str, str] = field(default_factory=dict)


def canary_job(spec: CanarySpec) -> dict[str, Any]:
    """The canary batch Job: one pod on the batch group, admitted by the restricted Pod Security level.

    It must be scheduled where real batch Jobs are (the batch group's selector and toleration), so
    with the group at zero nodes it makes the autoscaler start one: a node of the new release.
    """
    labels = {CANARY_LABEL: "true", **spec.labels}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": spec.timeout_seconds,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels, "annotations": batch_pod_annotations()},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "nodeSelector": node_selector(BATCH),
                    "tolerations": [toleration(BATCH)],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "canary",
                            "image": spec.image,
                            "command": ["sh", "-c", "echo node-patching canary on $(uname -r); test -w /tmp"],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "32Mi"},
                                "limits": {"cpu": "200m", "memory": "64Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                },
            },
        },
    }

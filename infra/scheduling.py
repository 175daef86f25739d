"""Where pods run: the labels and taints of the node groups, shared by the cluster and its workloads.

The ``system`` group runs Airflow and cluster add-ons; the ``batch`` group runs batch Jobs only.
Both are tainted so that a workload lands on a group only when it asks for it: a burst of batch Jobs
can never take the capacity Airflow's schedulers need, and Airflow never lands on nodes the
autoscaler wants to remove. The DAG library (``dags/``) uses the same values for batch Jobs.
"""

from __future__ import annotations

WORKLOAD_LABEL = "workload"

SYSTEM = "system"
BATCH = "batch"


def node_labels(role: str) -> dict[str, str]:
    """Labels put on every node of the group ``role``."""
    return {WORKLOAD_LABEL: role}


def node_taint(role: str) -> dict[str, str]:
    """The taint of the group ``role``, in the EKS node group API shape."""
    return {"key": WORKLOAD_LABEL, "value": role, "effect": "NO_SCHEDULE"}


def toleration(role: str) -> dict[str, str]:
    """The pod toleration matching ``node_taint(role)``, in the Kubernetes API shape."""
    return {"key": WORKLOAD_LABEL, "operator": "Equal", "value": role, "effect": "NoSchedule"}


def node_selector(role: str) -> dict[str, str]:
    """The pod node selector that pins a pod to the group ``role``."""
    return node_labels(role)


# The EKS node group API spells taint effects differently from the Kubernetes API.
KUBERNETES_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def batch_pod_annotations() -> dict[str, str]:
    """Annotations every batch Job pod carries.

    The Cluster Autoscaler removes an under-used node by evicting its pods elsewhere; a Job's pod
    would be killed mid-run. ``safe-to-evict: false`` keeps a node with a running Job until it ends.
    """
    return {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}

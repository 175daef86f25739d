"""The Kubernetes API calls of node patching: nodes, PodDisruptionBudgets, the canary Job, Airflow's workloads.

``KubeApi`` is the narrow interface the procedure uses; ``KubernetesApi`` implements it with the
official client from the stack's ``kubeconfig`` output (which authenticates through
``aws eks get-token``, so the AWS CLI must be on PATH, as for kubectl). Label selection is done by
the API server, never re-implemented here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timezone
from typing import Any, Callable, Mapping, Optional, Protocol

from stacks.patching.preflight import BlockingPdb, NodeState, selector_string

NODE_GROUP_LABEL = "eks.amazonaws.com/nodegroup"


class KubeError(Exception):
    """A Kubernetes API call failed; the message says which."""


@dataclass(frozen=True)
class CanaryResult:
    succeeded: bool
    node: Optional[str]
    detail: str


class KubeApi(Protocol):
    def nodes(self, node_group: str) -> list[NodeState]:
        """The nodes of one managed node group."""

    def blocking_pdbs(self, node_names: list[str]) -> list[BlockingPdb]:
        """PodDisruptionBudgets allowing no disruption that cover pods running on these nodes."""

    def unhealthy_workloads(self, namespace: str) -> list[str]:
        """Deployments and StatefulSets of ``namespace`` with fewer ready replicas than wanted."""

    def run_canary(self, manifest: Mapping[str, Any], timeout_seconds: float) -> CanaryResult:
        """Create the Job, wait until it completes or fails (or the timeout), say on which node it ran."""

    def node(self, name: str) -> Optional[NodeState]:
        """One node, or None when it is gone."""


def _fail(what: str, exc: Exception) -> KubeError:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or exc
    return KubeError(f"{what}: {status or ''} {reason}".replace("  ", " "))


class KubernetesApi:
    """``KubeApi`` on the official Kubernetes client."""

    def __init__(self, kubeconfig: Mapping[str, Any], sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        from kubernetes import client, config

        api_client = config.new_client_from_config_dict(dict(kubeconfig))
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        self._batch = client.BatchV1Api(api_client)
        self._policy = client.PolicyV1Api(api_client)
        self._sleep = sleep
        self._clock = clock

    def nodes(self, node_group: str) -> list[NodeState]:
        from kubernetes.client.exceptions import ApiException

        try:
            items = self._core.list_node(label_selector=f"{NODE_GROUP_LABEL}={node_group}").items
        except ApiException as exc:
            raise _fail(f"listing the nodes of {node_group}", exc) from None
        return [_node(item) for item in items]

    def blocking_pdbs(self, node_names: list[str]) -> list[BlockingPdb]:
        from kubernetes.client.exceptions import ApiException

        on_nodes = set(node_names)
        found = []
        try:
            budgets = self._policy.list_pod_disruption_budget_for_all_namespaces().items
            for pdb in budgets:
                allowed = (pdb.status.disruptions_allowed if pdb.status else 0) or 0
                if allowed > 0:
                    continue
                selector = pdb.spec.selector.to_dict() if pdb.spec and pdb.spec.selector else {}
                pods = self._core.list_namespaced_pod(pdb.metadata.namespace, label_selector=selector_string(selector)).items
                covered = tuple(sorted(p.metadata.name for p in pods if p.spec and p.spec.node_name in on_nodes))
                if covered:
                    found.append(BlockingPdb(pdb.metadata.namespace, pdb.metadata.name, allowed, covered))
        except ApiException as exc:
            raise _fail("listing PodDisruptionBudgets and their pods", exc) from None
        return found

    def unhealthy_workloads(self, namespace: str) -> list[str]:
        from kubernetes.client.exceptions import ApiException

        found = []
        try:
            workloads = [
                ("Deployment", item) for item in self._apps.list_namespaced_deployment(namespace).items
            ] + [("StatefulSet", item) for item in self._apps.list_namespaced_stateful_set(namespace).items]
        except ApiException as exc:
            raise _fail(f"listing the workloads of namespace {namespace}", exc) from None
        if not workloads:
            return [f"namespace {namespace} has no Deployment or StatefulSet (is Airflow deployed?)"]
        for kind, item in workloads:
            wanted = item.spec.replicas if item.spec.replicas is not None else 1
            ready = (item.status.ready_replicas if item.status else 0) or 0
            if ready < wanted:
                found.append(f"{kind} {namespace}/{item.metadata.name} has {ready}/{wanted} ready replicas")
        return found

    def run_canary(self, manifest: Mapping[str, Any], timeout_seconds: float) -> CanaryResult:
        from kubernetes.client.exceptions import ApiException

        namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            self._batch.create_namespaced_job(namespace, dict(manifest))
        except ApiException as exc:
            if exc.status != 409:  # 409: created by an interrupted run; wait for that one.
                raise _fail(f"creating the canary Job {namespace}/{name}", exc) from None
        deadline = self._clock() + timeout_seconds
        while True:
            try:
                job = self._batch.read_namespaced_job_status(name, namespace)
                pods = self._core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
            except ApiException as exc:
                raise _fail(f"reading the canary Job {namespace}/{name}", exc) from None
            node = next((p.spec.node_name for p in pods if p.spec and p.spec.node_name), None)
            for condition in (job.status.conditions if job.status else None) or []:
                if condition.status != "True":
                    continue
                if condition.type == "Complete":
                    return CanaryResult(True, node, f"Job {namespace}/{name} completed")
                if condition.type == "Failed":
                    return CanaryResult(False, node, f"Job {namespace}/{name} failed: {condition.reason}: {condition.message}")
            if self._clock() >= deadline:
                return CanaryResult(False, node, f"Job {namespace}/{name} did not complete within {timeout_seconds:.0f} s")
            self._sleep(10)

    def node(self, name: str) -> Optional[NodeState]:
        from kubernetes.client.exceptions import ApiException

        try:
            return _node(self._core.read_node(name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _fail(f"reading node {name}", exc) from None


def _node(item: Any) -> NodeState:
    conditions = (item.status.conditions if item.status else None) or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    created = item.metadata.creation_timestamp
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return NodeState(
        name=item.metadata.name,
        ready=ready,
        kubelet_version=item.status.node_info.kubelet_version if item.status and item.status.node_info else "",
        created=created,
        node_group=(item.metadata.labels or {}).get(NODE_GROUP_LABEL),
    )


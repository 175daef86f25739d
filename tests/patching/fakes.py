"""Test doubles of node patching: AWS in moto with AWS's release parameter published, a recording fake of
the Pulumi stack that applies the real program's release rule, and a fake Kubernetes API.

* ``publish(region, family, k8s, release, when)`` puts AWS's public recommended-release parameter in
  moto the way moto loads AWS's own public parameters (a public name cannot be written through the
  API: moto refuses it as AWS does).
* ``recorded_updates(client, ...)`` answers EKS ListUpdates/DescribeUpdate (not implemented by
  moto) with recorded answers, checked against botocore's output shapes.
* ``RecordingStack`` records every call; its ``up`` does what the real program does to the node
  groups (``infra.cluster``): a group pinned in the stack config (``ami_release_version``) gets the
  pin, an unpinned one the target of its node-patching record when there is one, else the release
  AWS recommends (SSM); a changed group gets new nodes (``FakeKube``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

import boto3
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator
from moto.core import DEFAULT_ACCOUNT_ID
from moto.eks.models import eks_backends
from moto.ssm.models import Parameter, ssm_backends

from infra.amis import release_from_record, release_parameter
from infra.scheduling import WORKLOAD_LABEL
from stacks.patching.kube import CanaryResult
from stacks.patching.preflight import BlockingPdb, NodeState

REGION = "eu-west-1"


def publish(region: str, family: str, kubernetes_version: str, release: str, when: datetime) -> None:
    name = release_parameter(family, kubernetes_version)
    versions = ssm_backends[DEFAULT_ACCOUNT_ID][region]._parameters[name]
    versions.append(
        Parameter(
            account_id=DEFAULT_ACCOUNT_ID,
            name=name,
            value=release,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=when.timestamp(),
            version=len(versions) + 1,
            data_type="text",
        )
    )


def recorded_updates(client: Any, in_progress: dict[Optional[str], list[str]]) -> list[dict[str, Any]]:
    """Answer ListUpdates/DescribeUpdate: ``in_progress`` maps a node group (None: the cluster) to update ids.

    Returns the list the calls are recorded in (operation and the caller's parameters).
    """
    calls: list[dict[str, Any]] = []
    model = client.meta.service_model
    validator = ParamValidator()
    captured: dict[str, Any] = {}

    def capture(params, **_):  # noqa: ANN001 - botocore's hook signature
        captured.clear()
        captured.update(params)

    def answer(model, **_):  # noqa: ANN001
        params = dict(captured)
        calls.append({"operation": model.name, **params})
        if model.name == "ListUpdates":
            response: dict[str, Any] = {"updateIds": in_progress.get(params.get("nodegroupName"), [])}
        else:
            response = {"update": {"id": params["updateId"], "status": "InProgress", "type": "VersionUpdate"}}
        report = validator.validate(response, model.output_shape)
        assert not report.has_errors(), report.generate_report()
        return AWSResponse("https://eks.fake", 200, {}, None), response

    for operation in ("ListUpdates", "DescribeUpdate"):
        client.meta.events.register(f"provide-client-params.eks.{operation}", capture)
        client.meta.events.register(f"before-call.eks.{operation}", answer)
    return calls


@dataclass
class FakeKube:
    """The cluster as the patch procedure sees it through ``KubeApi``: nodes per group, budgets, workloads."""

    now: Callable[[], datetime]
    nodes_by_group: dict[str, list[NodeState]] = field(default_factory=dict)
    pdbs: list[BlockingPdb] = field(default_factory=list)
    unhealthy: list[str] = field(default_factory=list)
    canary_fails: bool = False
    canary_on_group: Optional[str] = None
    """Where the canary lands; default the node group whose nodes are labelled batch."""
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    cluster: str = ""
    """The cluster the last kubeconfig named: node groups are named <role>-2026<stack>."""

    def bind(self, kubeconfig: dict[str, Any]) -> "FakeKube":
        self.cluster = kubeconfig["current-context"]
        return self

    def replace_nodes(self, group: str, kubelet: str) -> None:
        count = max(1, len(self.nodes_by_group.get(group, [])))
        created = self.now()
        self.nodes_by_group[group] = [
            NodeState(f"{group}-new-{i}", True, kubelet, created=created, node_group=group) for i in range(count)
        ]

    def nodes(self, node_group: str) -> list[NodeState]:
        self.calls.append(("nodes", node_group))
        return list(self.nodes_by_group.get(node_group, []))

    def blocking_pdbs(self, node_names: list[str]) -> list[BlockingPdb]:
        self.calls.append(("blocking_pdbs", tuple(node_names)))
        return list(self.pdbs)

    def unhealthy_workloads(self, namespace: str) -> list[str]:
        self.calls.append(("unhealthy_workloads", namespace))
        return list(self.unhealthy)

    def run_canary(self, manifest: dict[str, Any], timeout_seconds: float) -> CanaryResult:
        self.calls.append(("run_canary", manifest["metadata"]["namespace"], manifest["metadata"]["name"]))
        stack = self.cluster.rsplit("-", 1)[-1]
        group = self.canary_on_group or f"batch-2026{stack}"
        nodes = self.nodes_by_group[group] or [NodeState(f"{group}-scaled", True, "v1", created=self.now(), node_group=group)]
        self.nodes_by_group[group] = list(nodes)
        if self.canary_fails:
            return CanaryResult(False, nodes[0].name, "Job batch-jobs/x failed: BackoffLimitExceeded: pod exited 1")
        return CanaryResult(True, nodes[0].name, "Job completed")

    def node(self, name: str) -> Optional[NodeState]:
        for nodes in self.nodes_by_group.values():
            for node in nodes:
                if node.name == name:
                    return node
        return None


class UpFailed(RuntimeError):
    pass


class RecordingStack:
    """``PulumiStack`` for the patch procedure: records calls; ``up`` applies the program's release rule in moto."""

    def __init__(self, name: str, config: Any, cluster: str, kube: FakeKube, advance: Callable[[float], None]):
        self.name = name
        self._config = config
        self._cluster = cluster
        self._kube = kube
        self._advance = advance
        self.values: dict[str, str] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.fail_up: Optional[str] = None

    def exists(self) -> bool:
        self.calls.append(("exists",))
        return True

    def outputs(self) -> dict[str, Any]:
        self.calls.append(("outputs",))
        groups = eks_backends[DEFAULT_ACCOUNT_ID][self._config.region].clusters[self._cluster].nodegroups
        return {
            "cluster_name": self._cluster,
            "node_group_names": {g.labels[WORKLOAD_LABEL]: name for name, g in groups.items()},
            "kubeconfig": {"apiVersion": "v1", "clusters": [], "users": [], "contexts": [], "current-context": self._cluster},
        }

    def get_config(self, key: str) -> Optional[str]:
        self.calls.append(("get_config", key))
        return self.values.get(key)

    def set_config(self, key: str, value: str) -> None:
        self.calls.append(("set_config", key, value))
        self.values[key] = value

    def remove_config(self, key: str) -> None:
        self.calls.append(("remove_config", key))
        self.values.pop(key, None)

    def up(self, on_output) -> None:
        self.calls.append(("up",))
        on_output("Updating (fake)")
        if self.fail_up:
            raise UpFailed(self.fail_up)
        ssm = boto3.client("ssm", region_name=self._config.region)
        for name, group in eks_backends[DEFAULT_ACCOUNT_ID][self._config.region].clusters[self._cluster].nodegroups.items():
            role = group.labels[WORKLOAD_LABEL]
            spec = getattr(self._config.cluster.node_groups, role)
            key = f"batch-platform:cluster.node_groups.{role}.ami_release_version"
            k8s = self._config.cluster.kubernetes_version
            release = self.values.get(key) or spec.ami_release_version
            if release is None:
                folder = f"/batch-platform/{self.name}/node-patching"
                found = {p["Name"]: p["Value"] for p in ssm.get_parameters_by_path(Path=folder)["Parameters"]}
                release = release_from_record(found.get(f"{folder}/{role}"), spec.ami_type, k8s)
            if release is None:
                release = ssm.get_parameter(Name=release_parameter(spec.ami_type, k8s))["Parameter"]["Value"]
            if release != group.release_version:
                self._advance(300)  # about five minutes per node (EKS user guide)
                group.release_version = release
                self._kube.replace_nodes(name, "v" + release.split("-")[0] + "-eks-fake")

    def mutations(self) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] in ("set_config", "remove_config", "up")]


class Clock:
    def __init__(self, start: datetime = datetime(2026, 8, 20, 6, 0, tzinfo=timezone.utc)):
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

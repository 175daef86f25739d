"""``python -m stacks patch-status <stack>``: per node group what runs, what is available, the lag, the next action.

Needs AWS read access only (no Pulumi CLI, no cluster access): the node groups are found by the
cluster's name and their ``workload`` label, the releases and records in SSM. Exits 1 when a group's
lag exceeds ``cluster.patching.max_lag_days``, so any scheduler or monitor can alert on it; with
``--metric`` it also publishes the lag as the CloudWatch metric ``BatchPlatform/NodePatching``
``PatchLagDays`` (dimensions ``Stack``, ``NodeGroup``) for the alarm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Optional, TextIO

from infra.scheduling import WORKLOAD_LABEL
from stacks.environment import cluster_name
from stacks.patching.aws import PatchAwsError
from stacks.patching.preflight import NodeGroupState
from stacks.patching.releases import PROVEN, Decision, GroupFacts, Record, decide, lag_days, record_parameter

ROLES = ("system", "batch")


@dataclass(frozen=True)
class GroupView:
    role: str
    node_group: NodeGroupState
    facts: GroupFacts
    decision: Decision
    lag: float


def find_node_groups(aws: Any, cluster: str) -> dict[str, NodeGroupState]:
    """The stack's node groups by role (their ``workload`` label), as EKS describes them."""
    try:
        names = [n for page in aws.eks.get_paginator("list_nodegroups").paginate(clusterName=cluster) for n in page["nodegroups"]]
    except Exception as exc:  # noqa: BLE001 - reported with the call that failed
        raise PatchAwsError(f"listing the node groups of {cluster}: {exc}") from None
    found: dict[str, NodeGroupState] = {}
    for name in names:
        raw = aws.eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
        role = (raw.get("labels") or {}).get(WORKLOAD_LABEL)
        if role not in ROLES:
            continue
        if role in found:
            raise PatchAwsError(
                f"cluster {cluster} has two node groups labelled {WORKLOAD_LABEL}={role} ({found[role].name}, {name}): "
                "a replacement is under way; run again when it has finished"
            )
        found[role] = aws.node_group(cluster, role, name)
    return found


def read_groups(stack: str, config: Any, aws: Any, source_aws: Any, now: datetime) -> list[GroupView]:
    """Facts, decision and lag of every node group of ``stack`` (reads only)."""
    patching = config.cluster.patching
    cluster = cluster_name(stack)
    groups = find_node_groups(aws, cluster)
    facts_by_role = {}
    for role in ROLES:
        if role not in groups:
            raise PatchAwsError(f"cluster {cluster} has no node group labelled {WORKLOAD_LABEL}={role}: is the stack deployed?")
        spec = getattr(config.cluster.node_groups, role)
        own_name = record_parameter(stack, role)
        source = None
        if patching.promote_from:
            source_name = record_parameter(patching.promote_from, role)
            source = Record.parse(spec.ami_type, source_aws.read_record(source_name), f"SSM parameter {source_name}")
        facts_by_role[role] = GroupFacts(
            role=role,
            family=spec.ami_type,
            kubernetes_version=config.cluster.kubernetes_version,
            running=groups[role].release,
            recommended=aws.recommended(spec.ami_type, config.cluster.kubernetes_version),
            own=Record.parse(spec.ami_type, aws.read_record(own_name), f"SSM parameter {own_name}"),
            pin=spec.ami_release_version,
            source=source,
        )
    views = []
    for role, facts in facts_by_role.items():
        others = [f for f in facts_by_role.values() if f.role != role and f.family == facts.family]
        failed = set().union(*(f.own.failed() | (f.source.failed() if f.source else set()) for f in others))
        facts = replace(facts, failed_elsewhere=frozenset(failed))
        decision = decide(
            facts, promote=patching.promote_from is not None, soak_days=patching.soak_days, now=now, enabled=patching.enabled
        )
        views.append(GroupView(role, groups[role], facts, decision, lag_days(facts, now)))
    return views


def _day(moment: Optional[datetime]) -> str:
    return f"{moment:%Y-%m-%d %H:%M}Z" if moment else "unknown"


def _newest_proven(record: Optional[Record]) -> str:
    proven = [e for e in (record.entries if record else ()) if e.outcome == PROVEN]
    if not proven:
        return "none"
    entry = proven[-1]
    return f"{entry.release} (proven {_day(entry.at)})"


def render(stack: str, config: Any, views: list[GroupView]) -> str:
    patching = config.cluster.patching
    source = patching.promote_from
    lines = [
        f"stack {stack}: "
        + (f"takes releases proven in {source} for {patching.soak_days:g} days" if source else "takes the newest release AWS recommends")
        + f"; alarm past {patching.max_lag_days:g} days of lag"
    ]
    for view in views:
        facts = view.facts
        lines += [
            f"{view.role} ({view.node_group.name}):",
            f"  running          {facts.running or 'nothing'}" + (" (pinned by hand)" if facts.pin else ""),
            f"  newest available {facts.recommended.release} (since {_day(facts.recommended.published)})",
            f"  proven in {source or stack}{' ' * max(0, 6 - len(source or stack))} {_newest_proven(facts.source if source else facts.own)}",
            f"  lag              {view.lag:.1f} days" + (f" > max {patching.max_lag_days:g}: ALARM" if view.lag > patching.max_lag_days else ""),
            f"  next action      {view.decision.action}: {view.decision.reason}",
        ]
    return "\n".join(lines) + "\n"


def patch_status(stack: str, config: Any, aws: Any, source_aws: Any, now: datetime, out: TextIO, metric: bool = False) -> int:
    views = read_groups(stack, config, aws, source_aws, now)
    out.write(render(stack, config, views))
    if metric:
        aws.put_lag_metric(stack, {v.role: v.lag for v in views}, now)
    return 1 if any(v.lag > config.cluster.patching.max_lag_days for v in views) else 0


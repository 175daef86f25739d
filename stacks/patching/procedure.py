"""``python -m stacks patch-nodes <stack>``: decide, preflight, roll, prove and record, with no person involved.

One run, for every node group of the stack:

1. Read what runs (EKS), what AWS recommends and since when (SSM), the stack's record of proofs and,
   with ``cluster.patching.promote_from``, the promoting stack's record (SSM).
2. Decide (``releases.decide``). Nothing to do: say so, exit 0.
3. Preflight the groups that roll (``preflight.check``): any problem stops the run before a change.
4. Record the roll as ``rolling`` and the decided release as the group's ``target``, then ``pulumi up``
   through the Automation API (the DR rehearsal's ``stacks.dr.pulumi_ops`` layer): the program deploys
   each group's recorded target (``infra.amis.release_from_record``; a pin set by hand wins), so a
   plain ``pulumi up`` keeps what was decided, and no group follows AWS by accident.
5. Prove: a canary batch Job completes on a node of the new release, and Airflow's workloads are all
   ready. Record ``proven`` (with the time: what the promoting rule reads) or ``failed`` (never taken).

Idempotent and resumable: the decision is recomputed from EKS and the records on every run, so a run
after an interruption finds the group rolled (or not) and continues with the proof (or the roll); a
run with nothing to do exits 0. A failed roll (e.g. a PodDisruptionBudget blocking the drain) leaves
the release ``rolling`` (not failed): the next run tries again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Optional, TextIO

from stacks.dr.pulumi_ops import PulumiError
from stacks.patching.aws import PatchAwsError
from stacks.patching.kube import KubeError
from stacks.environment import cluster_name
from stacks.patching.preflight import CanarySpec, canary_job, check
from stacks.patching.status import read_groups
from stacks.patching.releases import (
    FAILED,
    PROVEN,
    ROLLING,
    Decision,
    Entry,
    GroupFacts,
    RecordError,
    record_parameter,
)


def canary_name(release: str) -> str:
    return ("node-patching-canary-" + re.sub(r"[^a-z0-9]+", "-", release.lower()))[:63].strip("-")


@dataclass
class Group:
    role: str
    node_group: str
    facts: GroupFacts
    decision: Decision
    state: Any


class PatchNodes:
    """One ``patch-nodes`` run on one stack. Everything it talks to is injected (tests use fakes)."""

    def __init__(
        self,
        stack: str,
        config: Any,
        pulumi_stack: Any,
        aws_for_region: Callable[[str], Any],
        kube_for: Callable[[Any], Any],
        *,
        source_config: Any = None,
        out: TextIO,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ):
        self.stack = stack
        self.config = config
        self.patching = config.cluster.patching
        self.pulumi = pulumi_stack
        self.aws_for_region = aws_for_region
        self.kube_for = kube_for
        self.source_config = source_config
        self.out = out
        self.now = now

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- reading -------------------------------------------------------------------------------

    def gather(self) -> tuple[str, dict[str, Any], list[Group]]:
        """(cluster name, stack outputs, one Group per node group): reads only."""
        if not self.pulumi.exists():
            raise PulumiError(f"stack {self.stack} does not exist yet: the first deployment is `pulumi up` (docs/deploying.md)")
        outputs = self.pulumi.outputs()
        aws = self.aws_for_region(self.config.region)
        promote = self.patching.promote_from
        source_aws = self.aws_for_region(self.source_config.region) if promote else None
        views = read_groups(self.stack, self.config, aws, source_aws, self.now())
        groups = [Group(v.role, v.node_group.name, v.facts, v.decision, v.node_group) for v in views]
        return cluster_name(self.stack), outputs, groups

    # -- the run -------------------------------------------------------------------------------

    def execute(self, dry_run: bool = False) -> int:
        try:
            return self._execute(dry_run)
        except (PulumiError, PatchAwsError, KubeError, RecordError) as exc:
            self.say(f"error: {exc}")
            return 1

    def _execute(self, dry_run: bool) -> int:
        cluster_name, outputs, groups = self.gather()
        for group in groups:
            self.say(f"{group.role}: {group.decision.action}: {group.decision.reason}")
        alert = any(g.decision.alert for g in groups)
        work = [g for g in groups if g.decision.action in ("roll", "prove")]
        if dry_run:
            plan = "; ".join(f"would {g.decision.action} {g.role} to {g.decision.target}" for g in work) or "nothing to do"
            self.say(f"{self.stack}: dry run: {plan}")
            return 0
        aws = self.aws_for_region(self.config.region)
        # What runs and stays is the decision too: recorded, so a plain `pulumi up` keeps it.
        for group in groups:
            if group.decision.action != "roll":
                self._target(aws, group, group.decision.target)
        if not work:
            self.say(f"{self.stack}: nothing to do" + (" (but see the alert above)" if alert else ""))
            return 1 if alert else 0
        kube = self.kube_for(_kubeconfig(outputs.get("kubeconfig")))
        rolls = [g for g in groups if g.decision.action == "roll"]
        if rolls and not self._preflight(aws, kube, cluster_name, groups, rolls):
            return 1
        started = self.now()
        for group in rolls:
            published = _published(group.facts, group.decision.target)
            self._record(aws, group, Entry(group.decision.target, ROLLING, started, published, "rolling"), target=group.decision.target)
        if rolls:
            self._roll(rolls)
            for group in rolls:
                state = aws.node_group(cluster_name, group.role, group.node_group)
                if state.release != group.decision.target:
                    self.say(f"error: {group.role} runs {state.release} after the update, expected {group.decision.target}")
                    return 1
        return self._prove(aws, kube, work)

    def _preflight(self, aws: Any, kube: Any, cluster_name: str, groups: list[Group], rolls: list[Group]) -> bool:
        cluster = aws.cluster(cluster_name)
        updates = aws.updates_in_progress(cluster_name, [g.node_group for g in groups])
        unhealthy = kube.unhealthy_workloads(self.config.airflow.namespace)
        ok = True
        for group in rolls:
            nodes = kube.nodes(group.node_group)
            result = check(
                cluster,
                group.state,
                family=group.facts.family,
                target=group.decision.target,
                updates_in_progress=updates,
                nodes=nodes,
                blocking_pdbs=kube.blocking_pdbs([n.name for n in nodes]),
                unhealthy_workloads=unhealthy,
                force=self.patching.force,
            )
            for warning in result.warnings:
                self.say(f"{group.role}: preflight warning: {warning}")
            for problem in result.problems:
                self.say(f"{group.role}: preflight: {problem}")
            ok = ok and result.ok
        if not ok:
            self.say(f"{self.stack}: preflight failed: nothing was changed; the next run checks again")
        return ok

    def _roll(self, rolls: list[Group]) -> None:
        """``pulumi up``: the program deploys each group's recorded target (a pin set by hand wins)."""
        self.say(f"{self.stack}: pulumi up: " + ", ".join(f"{g.role} -> {g.decision.target}" for g in rolls))
        try:
            self.pulumi.up(lambda line: self.say(f"  | {line.rstrip()}"))
        except Exception as exc:  # noqa: BLE001 - the Automation API raises CommandError and others
            raise PulumiError(
                f"pulumi up failed: {exc}; the roll is recorded as rolling, the next run checks and tries again"
            ) from None

    def _prove(self, aws: Any, kube: Any, work: list[Group]) -> int:
        unhealthy = kube.unhealthy_workloads(self.config.airflow.namespace)
        failed = 0
        for group in work:
            release = group.decision.target
            since = _roll_start(group.facts.own.get(release))
            problems = [f"Airflow is not healthy: {item}" for item in unhealthy]
            if group.role == "batch":
                problems += self._canary(kube, group, release, since)
            else:
                nodes = kube.nodes(group.node_group)
                problems += [f"node {n.name} is not Ready" for n in nodes if not n.ready]
                problems += [
                    f"node {n.name} was created at {n.created:%Y-%m-%dT%H:%M:%SZ}, before the roll to {release}"
                    for n in nodes
                    if since and n.created and n.created < since
                ]
            outcome = FAILED if problems else PROVEN
            detail = "; ".join(problems) if problems else "canary and Airflow healthy"
            self._record(aws, group, Entry(release, outcome, self.now(), _published(group.facts, release), detail))
            self.say(f"{group.role}: {release} {outcome}: {detail}")
            failed += bool(problems)
        return 1 if failed else 0

    def _canary(self, kube: Any, group: Group, release: str, since: Optional[datetime]) -> list[str]:
        manifest = canary_job(
            CanarySpec(
                namespace=self.config.batch.namespace,
                name=canary_name(release),
                image=self.patching.canary_image,
                timeout_seconds=int(self.patching.canary_timeout_minutes * 60),
            )
        )
        result = kube.run_canary(manifest, self.patching.canary_timeout_minutes * 60)
        if not result.succeeded:
            return [f"canary: {result.detail}"]
        node = kube.node(result.node) if result.node else None
        if node is None:
            return [f"canary: {result.detail}, but its node {result.node} cannot be read"]
        if node.node_group != group.node_group:
            return [f"canary ran on {node.name} of {node.node_group}, expected the batch group {group.node_group}"]
        if since and node.created and node.created < since:
            return [f"canary ran on {node.name}, created before the roll to {release}"]
        return []

    def _record(self, aws: Any, group: Group, entry: Optional[Entry], target: Optional[str] = None) -> None:
        own = group.facts.own
        if entry is not None:
            own = own.with_entry(entry)
        if target is not None and group.facts.pin is None:
            own = own.with_target(target)
        if own == group.facts.own:
            return
        group.facts = replace(group.facts, own=own)
        aws.write_record(record_parameter(self.stack, group.role), own.render(), self.stack)

    def _target(self, aws: Any, group: Group, target: Optional[str]) -> None:
        self._record(aws, group, None, target=target)


def _roll_start(entry: Optional[Entry]) -> Optional[datetime]:
    return entry.at if entry is not None and entry.outcome == ROLLING else None


def _published(facts: GroupFacts, release: str) -> Optional[datetime]:
    if facts.recommended.release == release:
        return facts.recommended.published
    for record in (facts.own, facts.source):
        entry = record.get(release) if record else None
        if entry and entry.published:
            return entry.published
    return None


def _kubeconfig(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            import yaml

            return yaml.safe_load(value)
    if value is None:
        raise PulumiError("the stack has no kubeconfig output")
    return value

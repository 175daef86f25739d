"""The decision rules of node patching, as pure functions: which AMI release a node group should run.

Rules (docs/nodes-and-patching.md):

* A pin set by hand in the stack file (``ami_release_version``) wins over everything.
* A stack without ``promote_from`` (dev) takes the newest release AWS recommends.
* A stack with ``promote_from`` (prod) takes the newest release that stack has proven at least
  ``soak_days`` ago: "the newest proven", not "the next", so prod skips releases that arrive faster
  than the soak instead of falling behind.
* A release whose proof failed, in this stack or the one it promotes from, is never taken.
* A release newer than the one AWS recommends now has been withdrawn by AWS: never taken, and a
  node group running one moves back to the newest acceptable release.
* A stack never moves back from an acceptable release it runs.

The record of proofs is one JSON document per stack and node group, kept in an SSM parameter
(``record_parameter``); ``Record`` reads and writes it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Literal, Optional

from infra.amis import RECORD_TARGET, release_version_problem

PROVEN, FAILED, ROLLING = "proven", "failed", "rolling"
Outcome = Literal["proven", "failed", "rolling"]

# Standard SSM parameters hold at most 4096 characters: keep the newest entries that fit.
RECORD_LIMIT = 4096

_AL2023 = re.compile(r"^(\d+)\.(\d+)\.(\d+)-(\d{8})$")
_BOTTLEROCKET = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-[0-9a-f]{8})?$")


def record_parameter(stack: str, role: str) -> str:
    """The SSM parameter holding a stack's record of proofs for one node group."""
    return f"/batch-platform/{stack}/node-patching/{role}"


@functools.lru_cache(maxsize=4096)  # pure, and called for every release on every decision
def release_key(family: str, release: str) -> tuple[int, ...]:
    """Sort key of a release: AL2023 by build date then kubelet version, Bottlerocket by OS version."""
    if family == "AL2023":
        match = _AL2023.match(release)
        if match:
            major, minor, patch, date = (int(part) for part in match.groups())
            return (date, major, minor, patch)
    elif family == "BOTTLEROCKET":
        match = _BOTTLEROCKET.match(release)
        if match:
            return tuple(int(part) for part in match.groups())
    raise ValueError(f"{release!r} is not a {family} EKS AMI release")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Optional[str]) -> Optional[datetime]:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Entry:
    """What one stack knows of one release: when AWS published it, and the outcome of its proof."""

    release: str
    outcome: Outcome
    at: datetime
    """When the outcome was recorded: for ``proven``, the time of the proof; for ``rolling``, the roll's start."""
    published: Optional[datetime] = None
    """When AWS published it (the recommended parameter's LastModifiedDate when first seen)."""
    detail: str = ""


class RecordError(ValueError):
    """A record parameter does not hold a record; the message names it."""


@dataclass(frozen=True)
class Record:
    """A stack's proofs for one node group, newest release last."""

    family: str
    entries: tuple[Entry, ...] = ()
    target: Optional[str] = None
    """The release the procedure last decided for the group: what the Pulumi program deploys for it
    (``infra.amis.release_from_record``), so a plain ``pulumi up`` keeps the decision."""

    @classmethod
    def parse(cls, family: str, text: Optional[str], source: str) -> "Record":
        if not text:
            return cls(family)
        try:
            document = json.loads(text)
            entries = tuple(
                Entry(
                    release=item["release"],
                    outcome=item["outcome"],
                    at=_parse_time(item["at"]),
                    published=_parse_time(item.get("published")),
                    detail=item.get("detail", ""),
                )
                for item in document["entries"]
            )
            target = document.get(RECORD_TARGET)
            if target is not None:
                release_key(family, target)
            for entry in entries:
                if entry.outcome not in (PROVEN, FAILED, ROLLING):
                    raise ValueError(f"outcome {entry.outcome!r}")
                release_key(family, entry.release)
        except (ValueError, KeyError, TypeError) as exc:
            raise RecordError(
                f"{source} does not hold a node-patching record ({type(exc).__name__}: {exc}); expected "
                '{"target": <release>, "entries": [{"release": ..., "outcome": "proven|failed|rolling", "at": "<UTC time>"}]}'
            ) from None
        return cls(family, entries, target)

    def render(self) -> str:
        """The JSON document, dropping the oldest releases until it fits a standard SSM parameter."""
        entries = list(self.entries)
        while True:
            document = {
                **({RECORD_TARGET: self.target} if self.target else {}),
                "entries": [
                    {
                        "release": e.release,
                        "outcome": e.outcome,
                        "at": _iso(e.at),
                        **({"published": _iso(e.published)} if e.published else {}),
                        **({"detail": e.detail[:200]} if e.detail else {}),
                    }
                    for e in entries
                ]
            }
            text = json.dumps(document, separators=(",", ":"))
            if len(text) <= RECORD_LIMIT or len(entries) <= 1:
                return text
            entries.pop(0)

    def get(self, release: str) -> Optional[Entry]:
        for entry in self.entries:
            if entry.release == release:
                return entry
        return None

    def with_entry(self, entry: Entry) -> "Record":
        """The record with ``entry`` replacing any earlier one for its release (the publication time is kept)."""
        earlier = self.get(entry.release)
        if earlier is not None and entry.published is None:
            entry = replace(entry, published=earlier.published)
        kept = [e for e in self.entries if e.release != entry.release] + [entry]
        kept.sort(key=lambda e: release_key(self.family, e.release))
        return Record(self.family, tuple(kept), self.target)

    def with_target(self, release: Optional[str]) -> "Record":
        return Record(self.family, self.entries, release)

    def failed(self) -> set[str]:
        return {e.release for e in self.entries if e.outcome == FAILED}


@dataclass(frozen=True)
class Published:
    """A release and when AWS published it (None when unknown)."""

    release: str
    published: Optional[datetime] = None


@dataclass(frozen=True)
class GroupFacts:
    """Everything the decision for one node group needs, read before anything changes."""

    role: str
    family: str
    kubernetes_version: str
    running: Optional[str]
    """The release the node group runs (EKS); None when the group does not exist yet."""
    recommended: Published
    own: Record
    pin: Optional[str] = None
    source: Optional[Record] = None
    """The record of the stack this one promotes from (``promote_from``); None for dev."""
    failed_elsewhere: frozenset[str] = frozenset()
    """Releases whose proof failed on another node group of this stack or of the promoting one: one
    AMI release that fails anywhere is taken nowhere."""


@dataclass(frozen=True)
class Decision:
    role: str
    target: Optional[str]
    action: Literal["roll", "prove", "none"]
    reason: str
    alert: bool = False
    """Something needs attention even though no step can be taken (e.g. running a failed release)."""


def decide(facts: GroupFacts, *, promote: bool, soak_days: float, now: datetime, enabled: bool = True) -> Decision:
    """The release this node group should run, and what to do about it (see the module docstring)."""
    role, family, running = facts.role, facts.family, facts.running
    key = lambda release: release_key(family, release)  # noqa: E731
    recommended = facts.recommended.release
    if not enabled:
        return Decision(role, running, "none", "patching is disabled (cluster.patching.enabled: false)")
    if facts.pin is not None:
        reason = f"pinned by hand to {facts.pin} (ami_release_version): the pin wins"
        return _act(facts, facts.pin, reason)
    failed = facts.own.failed() | (facts.source.failed() if facts.source else set()) | facts.failed_elsewhere

    def acceptable(release: str) -> bool:
        return (
            release not in failed
            and release_version_problem(family, facts.kubernetes_version, release) is None
            and key(release) <= key(recommended)
        )

    if promote:
        source = facts.source or Record(family)
        cutoff = now - timedelta(days=soak_days)
        candidates = [e.release for e in source.entries if e.outcome == PROVEN and e.at <= cutoff and acceptable(e.release)]
        soaking = [e.release for e in source.entries if e.outcome == PROVEN and e.at > cutoff and acceptable(e.release)]
        why_new = f"the newest release proven in the promoting stack at least {soak_days:g} days ago"
    else:
        # Its own proven releases too: after a failed proof, the group goes back to the last good one.
        candidates = [r for r in [recommended, *(e.release for e in facts.own.entries if e.outcome == PROVEN)] if acceptable(r)]
        soaking = []
        why_new = "the release AWS recommends"
    running_ok = running is not None and acceptable(running)
    if running_ok:
        candidates.append(running)
    if not candidates:
        if running is None:
            return Decision(role, None, "none", "no release is acceptable yet and the node group does not exist", alert=True)
        if running in failed:
            why = f"running {running}, whose proof failed, and no other acceptable release is available: holding"
        elif key(running) > key(recommended):
            why = f"running {running}, withdrawn by AWS (newer than the recommended {recommended}), and no acceptable release: holding"
        else:
            why = f"running {running}, not a release of Kubernetes {facts.kubernetes_version}, and none proven yet: holding"
        return Decision(role, running, "none", why, alert=True)
    target = max(candidates, key=key)
    if target == running:
        pending = [r for r in soaking if key(r) > key(running)]
        reason = f"running {running}, the newest acceptable release"
        if pending:
            reason = f"running {running}; {max(pending, key=key)} is proven but still soaking ({soak_days:g} days)"
        return _act(facts, target, reason)
    if running is not None and not running_ok:
        if running in failed:
            reason = f"{running} failed its proof: moving to {target}"
        elif key(running) > key(recommended):
            reason = f"{running} was withdrawn by AWS (the recommended release is now {recommended}): moving to {target}"
        else:
            reason = f"{running} is not a release of Kubernetes {facts.kubernetes_version}: moving to {target}"
    else:
        reason = f"{target} is {why_new}"
        if recommended in failed:
            reason += f" ({recommended} failed its proof and is never taken)"
    return _act(facts, target, reason)


def _act(facts: GroupFacts, target: str, reason: str) -> Decision:
    if target != facts.running:
        return Decision(facts.role, target, "roll", reason)
    entry = facts.own.get(target)
    if entry is None or entry.outcome == ROLLING:
        return Decision(facts.role, target, "prove", reason + "; its proof is not recorded yet")
    if entry.outcome == FAILED:
        return Decision(facts.role, target, "none", reason + f"; its proof failed at {_iso(entry.at)}", alert=True)
    return Decision(facts.role, target, "none", reason + f", proven at {_iso(entry.at)}: nothing to do")


def known_releases(facts: GroupFacts) -> dict[str, Optional[datetime]]:
    """Every release this group's records and AWS name, with its publication time where known."""
    found: dict[str, Optional[datetime]] = {}
    for record in (facts.own, facts.source):
        for entry in record.entries if record else ():
            if found.get(entry.release) is None:
                found[entry.release] = entry.published
    if found.get(facts.recommended.release) is None:
        found[facts.recommended.release] = facts.recommended.published
    return found


def lag_days(facts: GroupFacts, now: datetime) -> float:
    """Days since the oldest available release newer than the running one was published (0 when current).

    Available: not newer than what AWS recommends now (withdrawn releases do not count). A release
    whose proof failed still counts: the nodes miss the fix it carried until a later one lands.
    """
    if facts.running is None:
        return 0.0
    key = lambda release: release_key(facts.family, release)  # noqa: E731
    newer = [
        (release, published)
        for release, published in known_releases(facts).items()
        if key(facts.running) < key(release) <= key(facts.recommended.release)
    ]
    times = [published for _, published in newer if published is not None]
    if not times:
        return 0.0
    return max(0.0, (now - min(times)).total_seconds() / 86400)


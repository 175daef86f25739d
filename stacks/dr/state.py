"""The rehearsal's state file: what was done, what was recorded, so a failed run resumes or rolls back.

One JSON file per stack (``.dr/<stack>/state.json``), rewritten atomically after every step. It holds
identifiers, timestamps and hashes only: no credential, no stack output that is secret, and the
canary Variable's value only as a SHA-256.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PHASES: tuple[str, ...] = (
    "preflight",
    "canaries_before",
    "freeze",
    "snapshot",
    "unprotect",
    "destroy",
    "recreate",
    "wait_healthy",
    "canaries_after",
    "unfreeze",
)

# Phases after which the stack no longer matches its config: a failure from here on leaves the
# stack (partly) destroyed, and the way back is to recreate it from the snapshot.
DESTRUCTIVE_FROM = "destroy"

PENDING, RUNNING, DONE, SKIPPED, FAILED = "pending", "running", "done", "skipped", "failed"
INTERRUPTED = "interrupted"
"""A phase stopped by Ctrl-C (or SIGTERM): resumable like a failed one."""
UNFINISHED = (RUNNING, FAILED, INTERRUPTED)


@dataclass
class PhaseRecord:
    status: str = PENDING
    started_at: str | None = None
    """When the first attempt started."""
    ended_at: str | None = None
    """When the last attempt ended."""
    seconds: float | None = None
    """Time spent in the phase, summed over every attempt (the time between attempts left out)."""
    detail: str = ""
    error: str | None = None
    attempts: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    """Every attempt: started_at, ended_at, seconds, status (done, skipped, failed, interrupted), error."""

    def begin(self, at: str) -> None:
        self.status, self.error = RUNNING, None
        self.started_at = self.started_at or at
        self.ended_at = None
        self.attempts += 1
        self.history.append({"started_at": at, "ended_at": None, "seconds": None, "status": RUNNING, "error": None})

    def end(self, status: str, at: str, seconds: float, error: str | None = None) -> None:
        self.status, self.ended_at, self.error = status, at, error
        if self.history and self.history[-1]["status"] == RUNNING:
            self.history[-1].update(ended_at=at, seconds=seconds, status=status, error=error)
        self.seconds = sum(a["seconds"] or 0.0 for a in self.history) if self.history else seconds


@dataclass
class Check:
    phase: str
    name: str
    passed: bool
    detail: str


@dataclass
class RehearsalState:
    stack: str
    run_id: str
    started_at: str
    status: str = RUNNING
    """running, failed, succeeded (every check passed), checks_failed, rolled_back."""
    tier: str | None = None
    region: str | None = None
    account: str | None = None
    original_config: dict[str, str | None] = field(default_factory=dict)
    """Config values before the rehearsal, by full key; None means the key was unset."""
    resources_before: dict[str, Any] = field(default_factory=dict)
    """Non-secret stack outputs the rehearsal uses (database identifier, bucket, Airflow URL)."""
    resources_after: dict[str, Any] = field(default_factory=dict)
    kept_resources: list[str] = field(default_factory=list)
    """Protected resources (type::name): the destroy keeps them in the state and in AWS."""
    retained_resources: list[str] = field(default_factory=list)
    """Retained resources (type::name): the destroy removes them from the state and leaves them in
    AWS; the next ``pulumi up`` adopts them."""
    durable: dict[str, Any] = field(default_factory=dict)
    """The durable data checked across the destroy: ``bucket`` {name, kept} and ``fernet_key``
    {name, arn, kept}, where kept is protected or retained."""
    snapshot: dict[str, Any] = field(default_factory=dict)
    canaries: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, PhaseRecord] = field(default_factory=lambda: {name: PhaseRecord() for name in PHASES})
    checks: list[Check] = field(default_factory=list)
    failure: dict[str, Any] = field(default_factory=dict)

    def record_check(self, phase: str, name: str, passed: bool, detail: str) -> Check:
        self.checks = [c for c in self.checks if not (c.phase == phase and c.name == name)]
        check = Check(phase, name, passed, detail)
        self.checks.append(check)
        return check

    frozen: dict[str, Any] = field(default_factory=dict)
    """The freeze: ``paused`` (the DAGs this run paused, un-paused by the unfreeze), ``at``, the run
    count then, the task instances still running when the snapshot was taken."""
    dags: dict[str, Any] = field(default_factory=dict)
    """The DAG checkout Airflow served before the destroy (per DAG: last parsed time, bundle version)."""
    dns: dict[str, Any] = field(default_factory=dict)
    """The UI hostname and the load balancer it must point at after the recreate."""
    repairs: list[dict[str, Any]] = field(default_factory=list)
    """What a resume or rollback did to the Pulumi state after an interrupted command (at, action)."""
    point_in_time: dict[str, Any] = field(default_factory=dict)
    """The point-in-time restore (mode point-in-time): backup, restore time, scratch instance, snapshot."""
    mode: str = "snapshot"
    """snapshot (restore the snapshot taken after the freeze) or point-in-time (restore the retained
    automated backups to their latest restorable time, as a real disaster would)."""

    def destroy_started(self) -> bool:
        return self.phases[DESTRUCTIVE_FROM].status != PENDING

    def first_unfinished(self) -> str | None:
        return next((name for name in PHASES if self.phases[name].status not in (DONE, SKIPPED)), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "RehearsalState":
        document = dict(document)
        recorded = document.get("phases", {})
        phases = {name: PhaseRecord(**recorded.get(name, {})) for name in PHASES}
        # a state written before a phase existed: a phase that was never recorded but that later
        # phases have passed is skipped, not run out of order on resume
        for i, name in enumerate(PHASES):
            if name not in recorded and any(recorded.get(later, {}).get("status", PENDING) != PENDING for later in PHASES[i + 1 :]):
                phases[name].status = SKIPPED
        checks = [Check(**item) for item in document.get("checks", [])]
        document.update(phases=phases, checks=checks)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in document.items() if k in known})


class StateFileError(Exception):
    """The state file (or its directory) cannot be used; the message says how to recover."""


class StateStore:
    """Reads and writes ``<directory>/state.json``; finished runs are archived beside it."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / "state.json"

    def check(self) -> None:
        """Fail now, before anything is changed, if the state cannot be written or read back."""
        for parent in (self.directory, *self.directory.parents):
            if parent.exists():
                if not parent.is_dir():
                    raise StateFileError(
                        f"the state directory {self.directory} cannot be created: {parent} is a file, not a directory "
                        "(move it away, or pass another --state-dir)"
                    )
                if not os.access(parent, os.W_OK | os.X_OK):
                    raise StateFileError(f"the state directory {self.directory} cannot be written ({parent} is not writable)")
                break
        if self.path.exists() and not self.path.is_file():
            raise StateFileError(f"the state file {self.path} is not a file; move it away")

    def load(self) -> RehearsalState | None:
        self.check()
        if not self.path.exists():
            return None
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            return RehearsalState.from_json(document)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            archived = [p.name for p in sorted(self.directory.glob("state-*.json"))]
            raise StateFileError(
                f"the state file {self.path} is unreadable ({type(exc).__name__}: {str(exc)[:200]}): it was truncated or "
                "edited. Nothing was changed. If no rehearsal of this stack is under way, move it away (for example to "
                f"{self.path.with_name('state.json.broken')}) and start again; if one was (the stack may be destroyed, "
                "protection may be lifted), restore the file from a backup, or finish by hand with the commands in the "
                f"last report in {self.directory}"
                + (f" (earlier runs: {', '.join(archived)})" if archived else "")
            ) from None

    def save(self, state: RehearsalState) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a crash never leaves half a state file

    def archive(self, state: RehearsalState) -> Path:
        target = self.directory / f"state-{state.run_id}.json"
        os.replace(self.path, target)
        return target


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None

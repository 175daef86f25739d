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
    "snapshot",
    "unprotect",
    "destroy",
    "recreate",
    "wait_healthy",
    "canaries_after",
)

# Phases after which the stack no longer matches its config: a failure from here on leaves the
# stack (partly) destroyed, and the way back is to recreate it from the snapshot.
DESTRUCTIVE_FROM = "destroy"

PENDING, RUNNING, DONE, SKIPPED, FAILED = "pending", "running", "done", "skipped", "failed"


@dataclass
class PhaseRecord:
    status: str = PENDING
    started_at: str | None = None
    ended_at: str | None = None
    seconds: float | None = None
    detail: str = ""
    error: str | None = None
    attempts: int = 0


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

    def destroy_started(self) -> bool:
        return self.phases[DESTRUCTIVE_FROM].status != PENDING

    def first_unfinished(self) -> str | None:
        return next((name for name in PHASES if self.phases[name].status not in (DONE, SKIPPED)), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "RehearsalState":
        document = dict(document)
        phases = {name: PhaseRecord(**document.get("phases", {}).get(name, {})) for name in PHASES}
        checks = [Check(**item) for item in document.get("checks", [])]
        document.update(phases=phases, checks=checks)
        return cls(**document)


class StateStore:
    """Reads and writes ``<directory>/state.json``; finished runs are archived beside it."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / "state.json"

    def load(self) -> RehearsalState | None:
        if not self.path.exists():
            return None
        return RehearsalState.from_json(json.loads(self.path.read_text(encoding="utf-8")))

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

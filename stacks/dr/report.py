"""The rehearsal report: per-phase durations (the recovery time), the data-loss window, every check.

Written as Markdown (for people) and JSON (for tools) after every run, successful or not. Every
phase keeps each of its attempts (a resume adds one); a phase's time is the sum of its attempts.
Definitions (docs/data-and-dr.md explains them):

* restore time (the RTO a real disaster would see): the time spent in ``recreate`` and ``wait for
  Airflow healthy``, summed over their attempts. In a real disaster the stack is already gone, so the
  destroy is not part of it. ``restore_wall_seconds`` is the same span on the wall clock (first
  recreate start to healthy), including the time between attempts.
* outage: from the first start of ``destroy`` to Airflow healthy (wall clock).
* batches held: from the freeze to the unfreeze (wall clock): no new task started in between.
* data-loss window: from the snapshot's SnapshotDatabaseTime (RDS: the most recent transaction in the
  restored instance) to the start of the destroy: writes in that span are not in the restored
  database. With the freeze before the snapshot, the platform wrote no run in it
  (``frozen_before_snapshot``); SnapshotCreateTime is used, and said so, when RDS reports no
  SnapshotDatabaseTime.
* point-in-time lag: the database's latest restorable time against the instant it was read: what a
  restore to the latest restorable time would lose in a real disaster (RPO).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import os

from stacks.dr.state import PHASES, RehearsalState, parse_iso

TITLES = {
    "preflight": "preflight",
    "canaries_before": "canaries before",
    "freeze": "freeze (pause DAGs, wait for tasks)",
    "snapshot": "manual snapshot",
    "unprotect": "lift protection",
    "destroy": "destroy",
    "recreate": "recreate from snapshot",
    "wait_healthy": "wait for Airflow healthy",
    "canaries_after": "canaries after",
    "unfreeze": "unfreeze (un-pause DAGs)",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign, whole = ("-" if seconds < 0 else ""), abs(int(round(seconds)))
    return f"{sign}{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _between(start: str | None, end: str | None) -> float | None:
    a, b = parse_iso(start), parse_iso(end)
    return (b - a).total_seconds() if a and b else None


def _spent(state: RehearsalState, *names: str) -> float | None:
    """Seconds spent in these phases, every attempt included (None when none of them ran)."""
    values = [state.phases[n].seconds for n in names if state.phases[n].seconds is not None]
    return sum(values) if values else None


def summary(state: RehearsalState) -> dict[str, Any]:
    """Derived figures: recovery times and data-loss window, in seconds (None when not reached)."""
    phases = state.phases
    healthy = phases["wait_healthy"].status == "done"
    healthy_at = phases["wait_healthy"].ended_at if healthy else None
    database_time = state.snapshot.get("database_time")
    window_start = database_time or state.snapshot.get("create_time")
    frozen_at = state.frozen.get("at")
    unfrozen_at = state.frozen.get("unpaused_at")
    freeze_started = phases["freeze"].started_at
    return {
        "recovery": {
            "restore_seconds": _spent(state, "recreate", "wait_healthy") if healthy else None,
            "restore_wall_seconds": _between(phases["recreate"].started_at, healthy_at),
            "outage_seconds": _between(phases["destroy"].started_at, healthy_at),
            "batches_held_seconds": _between(freeze_started, unfrozen_at),
            "total_seconds": _spent(state, *PHASES),
            "total_wall_seconds": _between(phases["preflight"].started_at, _last_end(state)),
            "attempts": {name: phases[name].attempts for name in PHASES if phases[name].attempts > 1},
        },
        "data_loss_window": {
            "snapshot_database_time": database_time,
            "snapshot_create_time": state.snapshot.get("create_time"),
            "window_starts_at": window_start,
            "window_start_field": "SnapshotDatabaseTime" if database_time else ("SnapshotCreateTime" if window_start else None),
            "destroy_started_at": phases["destroy"].started_at,
            "snapshot_window_seconds": _between(window_start, phases["destroy"].started_at),
            "frozen_at": frozen_at,
            "frozen_before_snapshot": (parse_iso(frozen_at) <= parse_iso(window_start)) if frozen_at and window_start else None,
            "unfinished_tasks_at_snapshot": state.frozen.get("unfinished_tasks"),
            "latest_restorable_time": state.canaries.get("latest_restorable_time"),
            "pitr_measured_at": state.canaries.get("pitr_measured_at"),
            "pitr_lag_seconds": _between(state.canaries.get("latest_restorable_time"), state.canaries.get("pitr_measured_at")),
            "point_in_time_restore": state.point_in_time or None,
        },
    }


def directory_problem(directory: Path) -> str | None:
    """Why reports cannot be written to ``directory`` (None when they can), found before anything runs."""
    for parent in (directory, *directory.parents):
        if parent.exists():
            if not parent.is_dir():
                return f"the report directory {directory} cannot be used: {parent} is a file, not a directory (pass another --report-dir)"
            if not os.access(parent, os.W_OK | os.X_OK):
                return f"the report directory {directory} is not writable ({parent}: permission denied; pass another --report-dir)"
            return None
    return None


def _last_end(state: RehearsalState) -> str | None:
    ends = [p.ended_at for p in state.phases.values() if p.ended_at]
    return max(ends) if ends else None


def document(state: RehearsalState, next_steps: list[str]) -> dict[str, Any]:
    return {
        "stack": state.stack,
        "run_id": state.run_id,
        "status": state.status,
        "tier": state.tier,
        "region": state.region,
        "started_at": state.started_at,
        "phases": {
            name: {
                "title": TITLES[name],
                "status": record.status,
                "started_at": record.started_at,
                "ended_at": record.ended_at,
                "seconds": record.seconds,
                "attempts": record.attempts,
                "history": record.history,
                "detail": record.detail,
                "error": record.error,
            }
            for name, record in state.phases.items()
        },
        **summary(state),
        "snapshot": state.snapshot,
        "freeze": state.frozen,
        "dns": state.dns or None,
        "repairs": state.repairs,
        "mode": state.mode,
        "kept_across_destroy": {
            "protected": state.kept_resources,
            "retained": state.retained_resources,
            "checked": state.durable,
        },
        "checks": [
            {"phase": c.phase, "name": c.name, "passed": c.passed, "detail": c.detail} for c in state.checks
        ],
        "failure": state.failure or None,
        "next_steps": next_steps,
    }


def markdown(state: RehearsalState, next_steps: list[str]) -> str:
    figures = summary(state)
    recovery, window = figures["recovery"], figures["data_loss_window"]
    verdict = {
        "succeeded": "PASSED",
        "checks_failed": "FAILED (checks)",
        "failed": "FAILED",
        "rolled_back": "ROLLED BACK",
        "running": "RUNNING",
        "interrupted": "INTERRUPTED",
    }.get(state.status, state.status.upper())
    lines = [
        f"# DR rehearsal of stack `{state.stack}`: {verdict}",
        "",
        f"Run `{state.run_id}`, started {state.started_at}; tier {state.tier or '?'}, region {state.region or '?'}.",
        "",
        "## Recovery time",
        "",
        f"- Restore time (recreate and wait for Airflow healthy, every attempt; the RTO of a real disaster): "
        f"**{duration(recovery['restore_seconds'])}** (wall clock {duration(recovery['restore_wall_seconds'])})",
        f"- Outage (destroy start to Airflow healthy): {duration(recovery['outage_seconds'])}",
        f"- Batches held (freeze to unfreeze): {duration(recovery['batches_held_seconds'])}",
        f"- Whole rehearsal: {duration(recovery['total_seconds'])} in the phases (wall clock {duration(recovery['total_wall_seconds'])})",
        "",
        "| # | phase | status | attempts | first started | time (all attempts) | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, name in enumerate(PHASES, 1):
        record = state.phases[name]
        detail = record.error if record.status in ("failed", "interrupted") else record.detail
        if record.attempts > 1:
            detail = f"{detail} (attempts: " + ", ".join(
                f"{a['status']} {duration(a['seconds'])}" for a in record.history
            ) + ")"
        lines.append(
            f"| {i} | {TITLES[name]} | {record.status} | {record.attempts} | {record.started_at or '-'} | "
            f"{duration(record.seconds)} | {_cell(detail)} |"
        )
    start_field = window["window_start_field"]
    frozen = window["frozen_before_snapshot"]
    lines += [
        "",
        "## Data-loss window",
        "",
        f"- Snapshot `{state.snapshot.get('id', '-')}`: {start_field or 'database time'} {window['window_starts_at'] or '-'}"
        + (" (RDS reported no SnapshotDatabaseTime)" if start_field == "SnapshotCreateTime" else "")
        + f"; destroy started {window['destroy_started_at'] or '-'}: writes in between "
        f"({duration(window['snapshot_window_seconds'])}) are not in the restored database.",
        f"- Freeze: DAGs paused and tasks waited for at {window['frozen_at'] or '-'}"
        + (
            " (before the snapshot: every run the platform committed is in it)" if frozen
            else " (AFTER the snapshot's database time: runs of the span between may be missing)" if frozen is False
            else ""
        )
        + (f"; {window['unfinished_tasks_at_snapshot']} task instance(s) were still unfinished" if window["unfinished_tasks_at_snapshot"] else "")
        + ".",
        f"- Point-in-time lag: {duration(window['pitr_lag_seconds'])} (latest restorable time "
        f"{window['latest_restorable_time'] or '-'}, read at {window['pitr_measured_at'] or '-'}): what a restore to "
        "the latest restorable time would lose in a real disaster.",
        "",
        "## Checks",
        "",
        "| phase | check | result | detail |",
        "|---|---|---|---|",
    ]
    for check in state.checks:
        lines.append(f"| {TITLES[check.phase]} | {check.name} | {'pass' if check.passed else 'FAIL'} | {_cell(check.detail)} |")
    if not state.checks:
        lines.append("| - | (none recorded) | - | - |")
    lines += [
        "",
        "## Kept across the destroy",
        "",
        "Kept in the state (protected; `pulumi destroy --exclude-protected` skips them):",
        "",
    ]
    lines += [f"- `{item}`" for item in state.kept_resources] or ["- (none)"]
    lines += ["", "Left in AWS, adopted by the next up (retained; the destroy only removes them from the state):", ""]
    lines += [f"- `{item}`" for item in state.retained_resources] or ["- (none)"]
    if next_steps:
        lines += ["", "## Next steps", ""] + [f"- {step}" for step in next_steps]
    return "\n".join(lines) + "\n"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def write(state: RehearsalState, directory: Path, next_steps: list[str]) -> tuple[Path, Path]:
    """Write both files (each atomically); the directory was checked up front (``directory_problem``)."""
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"dr-report-{state.stack}-{state.run_id}"
    md, js = base.with_suffix(".md"), base.with_suffix(".json")
    for path, text in (
        (md, markdown(state, next_steps)),
        (js, json.dumps(document(state, next_steps), indent=2, sort_keys=True, default=str) + "\n"),
    ):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return md, js

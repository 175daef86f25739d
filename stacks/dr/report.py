"""The rehearsal report: per-phase durations (the recovery time), the data-loss window, every check.

Written as Markdown (for people) and JSON (for tools) after every run, successful or not. Definitions:

* restore time (the RTO a real disaster would see): from the start of ``recreate`` to Airflow
  healthy. In a real disaster the stack is already gone, so the destroy is not part of it.
* outage: from the start of ``destroy`` to Airflow healthy: how long batches could not run.
* snapshot window: from the snapshot's creation time to the start of ``destroy``. Writes in that
  window are not in the snapshot: this is what the rehearsal itself loses.
* point-in-time lag: from the database's latest restorable time to the moment the canaries were
  recorded: what restoring to the latest restorable time would lose in a real disaster (RPO).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stacks.dr.state import PHASES, RehearsalState, parse_iso

TITLES = {
    "preflight": "preflight",
    "canaries_before": "canaries before",
    "snapshot": "manual snapshot",
    "unprotect": "lift protection",
    "destroy": "destroy",
    "recreate": "recreate from snapshot",
    "wait_healthy": "wait for Airflow healthy",
    "canaries_after": "canaries after",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign, whole = ("-" if seconds < 0 else ""), abs(int(round(seconds)))
    return f"{sign}{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _between(start: str | None, end: str | None) -> float | None:
    a, b = parse_iso(start), parse_iso(end)
    return (b - a).total_seconds() if a and b else None


def summary(state: RehearsalState) -> dict[str, Any]:
    """Derived figures: recovery times and data-loss window, in seconds (None when not reached)."""
    phases = state.phases
    healthy_at = phases["wait_healthy"].ended_at if phases["wait_healthy"].status == "done" else None
    snapshot_time = state.snapshot.get("create_time")
    return {
        "recovery": {
            "restore_seconds": _between(phases["recreate"].started_at, healthy_at),
            "outage_seconds": _between(phases["destroy"].started_at, healthy_at),
            "total_seconds": _between(phases["preflight"].started_at, _last_end(state)),
        },
        "data_loss_window": {
            "snapshot_create_time": snapshot_time,
            "destroy_started_at": phases["destroy"].started_at,
            "snapshot_window_seconds": _between(snapshot_time, phases["destroy"].started_at),
            "latest_restorable_time": state.canaries.get("latest_restorable_time"),
            "canaries_recorded_at": state.canaries.get("recorded_at"),
            "pitr_lag_seconds": _between(state.canaries.get("latest_restorable_time"), state.canaries.get("recorded_at")),
        },
    }


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
                "detail": record.detail,
                "error": record.error,
            }
            for name, record in state.phases.items()
        },
        **summary(state),
        "snapshot": state.snapshot,
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
    }.get(state.status, state.status.upper())
    lines = [
        f"# DR rehearsal of stack `{state.stack}`: {verdict}",
        "",
        f"Run `{state.run_id}`, started {state.started_at}; tier {state.tier or '?'}, region {state.region or '?'}.",
        "",
        "## Recovery time",
        "",
        f"- Restore time (recreate start to Airflow healthy; the RTO of a real disaster): **{duration(recovery['restore_seconds'])}**",
        f"- Outage (destroy start to Airflow healthy): {duration(recovery['outage_seconds'])}",
        f"- Whole rehearsal: {duration(recovery['total_seconds'])}",
        "",
        "| # | phase | status | started | duration | detail |",
        "|---|---|---|---|---|---|",
    ]
    for i, name in enumerate(PHASES, 1):
        record = state.phases[name]
        detail = record.error if record.status == "failed" else record.detail
        lines.append(
            f"| {i} | {TITLES[name]} | {record.status} | {record.started_at or '-'} | {duration(record.seconds)} | {_cell(detail)} |"
        )
    lines += [
        "",
        "## Data-loss window",
        "",
        f"- Snapshot `{state.snapshot.get('id', '-')}` created {window['snapshot_create_time'] or '-'}; "
        f"destroy started {window['destroy_started_at'] or '-'}: writes in between "
        f"({duration(window['snapshot_window_seconds'])}) are not in the snapshot.",
        f"- Point-in-time lag when the canaries were recorded: {duration(window['pitr_lag_seconds'])} "
        f"(latest restorable time {window['latest_restorable_time'] or '-'}): what a restore to the "
        "latest restorable time would lose in a real disaster.",
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
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"dr-report-{state.stack}-{state.run_id}"
    md, js = base.with_suffix(".md"), base.with_suffix(".json")
    md.write_text(markdown(state, next_steps), encoding="utf-8")
    js.write_text(json.dumps(document(state, next_steps), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return md, js

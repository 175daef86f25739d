"""``dr-rehearsal <stack> --cleanup``: what the rehearsals left behind, listed, and deleted on confirmation.

Every rehearsal leaves, by design (the rehearsal itself never deletes a snapshot):

* its own manual snapshot (tagged ``dr-rehearsal=<run>`` and ``stack=<stack>``), and in point-in-time
  mode the snapshot of the restored backups (tagged too);
* the final snapshot the destroy wrote of the database (recorded in the run's state file);
* the retained automated backups of the deleted instance (point-in-time recovery outlives it).

All are billed until deleted, and the manual snapshots count against the region's quota (100 by
default): two a run. The clean-up keeps the newest of each kind and deletes the older ones, after
listing them and a typed confirmation (``--yes`` for unattended runs). It touches nothing while a
rehearsal of the stack is unfinished (its snapshot may be the only copy of the database), nothing of
another stack, and no snapshot a rehearsal did not make or record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from stacks.dr.aws_ops import AutomatedBackup, AwsError, AwsOps, DbSnapshot
from stacks.dr.state import UNFINISHED, StateFileError, StateStore, iso

TAG_RUN, TAG_STACK = "dr-rehearsal", "stack"


@dataclass(frozen=True)
class Leftover:
    kind: str
    """rehearsal snapshot, final snapshot, retained automated backup."""
    identifier: str
    """Snapshot identifier, or the backup's DbiResourceId."""
    created: str | None
    keep: bool
    why: str


def recorded_final_snapshots(state_dir: Path) -> set[str]:
    """Final snapshots the destroys of earlier rehearsals wrote, from their state files."""
    found = set()
    for path in sorted(state_dir.glob("state*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        final = (document.get("snapshot") or {}).get("final_snapshot") if isinstance(document, dict) else None
        if final:
            found.add(final)
    return found


def leftovers(aws: AwsOps, stack: str, database: str, state_dir: Path) -> list[Leftover]:
    """Everything of this stack's rehearsals, newest first per kind, the newest of each kind kept."""
    finals = recorded_final_snapshots(state_dir)
    snapshots = aws.manual_snapshots(database)
    own = [s for s in snapshots if dict(s.tags).get(TAG_STACK) == stack and TAG_RUN in dict(s.tags)]
    written = [s for s in snapshots if s.identifier in finals]
    backups = [b for b in aws.automated_backups(database) if b.status == "retained"]
    found: list[Leftover] = []
    for kind, items in (("rehearsal snapshot", own), ("final snapshot", written)):
        ordered = sorted(items, key=_snapshot_time, reverse=True)
        found += [
            Leftover(kind, s.identifier, iso(s.create_time), i == 0, "newest: kept" if i == 0 else "older than the newest")
            for i, s in enumerate(ordered)
        ]
    ordered_backups = sorted(backups, key=_backup_time, reverse=True)
    found += [
        Leftover(
            "retained automated backup",
            b.resource_id,
            iso(b.instance_create_time),
            i == 0,
            ("newest: kept" if i == 0 else "older than the newest")
            + f" (restorable {iso(b.earliest_time) or '?'} to {iso(b.latest_time) or '?'})",
        )
        for i, b in enumerate(ordered_backups)
    ]
    return found


def _snapshot_time(snapshot: DbSnapshot) -> str:
    return iso(snapshot.create_time) or ""


def _backup_time(backup: AutomatedBackup) -> str:
    return iso(backup.instance_create_time) or ""


def run_cleanup(
    *,
    stack: str,
    database: str,
    state_dir: Path,
    aws: AwsOps,
    yes: bool,
    ask: Callable[[str], str | None],
    out: TextIO,
) -> int:
    """0: nothing to delete or everything listed deleted; 1: a deletion failed; 2: refused."""

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    try:
        current = StateStore(state_dir).load()
    except StateFileError as exc:
        say(f"refused: {exc}")
        return 2
    if current is not None and current.status in UNFINISHED:
        say(
            f"refused: the rehearsal {current.run_id} of {stack} is unfinished (phase {current.first_unfinished()}): its "
            "snapshot may be the only copy of the database. Finish it (--resume) or roll it back (--rollback) first"
        )
        return 2
    try:
        found = leftovers(aws, stack, database, state_dir)
    except AwsError as exc:
        say(f"error: {exc}")
        return 1
    say(f"Left by the DR rehearsals of {stack} (database {database}, region {aws.region}):")
    if not found:
        say("  nothing")
        return 0
    for item in found:
        say(f"  {'keep  ' if item.keep else 'DELETE'} {item.kind} {item.identifier} (created {item.created or '?'}): {item.why}")
    doomed = [item for item in found if not item.keep]
    if not doomed:
        say("Nothing older than the newest: nothing to delete.")
        return 0
    if not yes:
        answer = ask(f"Delete the {len(doomed)} item(s) marked DELETE? Type the stack name ({stack}) to confirm: ")
        if answer is None:
            say("refused: confirmation needed and there is no terminal to ask on: pass --yes to delete unattended")
            return 2
        if answer.strip() != stack:
            say("refused: not confirmed; nothing deleted")
            return 2
    failures = 0
    for item in doomed:
        try:
            if item.kind == "retained automated backup":
                aws.rds.delete_db_instance_automated_backup(DbiResourceId=item.identifier)
            else:
                aws.rds.delete_db_snapshot(DBSnapshotIdentifier=item.identifier)
            say(f"deleted {item.kind} {item.identifier}")
        except (ClientError, BotoCoreError) as exc:
            failures += 1
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else str(exc)
            say(f"FAILED to delete {item.kind} {item.identifier}: {code}")
    say(f"{len(doomed) - failures} deleted, {failures} failed, {len(found) - len(doomed)} kept")
    return 1 if failures else 0

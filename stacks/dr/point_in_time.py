"""The point-in-time mode of the rehearsal (``--point-in-time``): recreate from a point-in-time restore.

A real disaster restores the database to its latest restorable time (the automated backups and the
transaction logs RDS ships about every five minutes), not to a snapshot someone took a minute
before. This mode exercises exactly that, inside the snapshot phase, after the freeze and before
anything is destroyed (the restore needs the stack's subnet group and security groups, which the
destroy deletes):

1. wait until the instance's latest restorable time has passed the freeze, so the restore can hold
   every run committed before it;
2. restore the instance to its latest restorable time into a scratch instance
   (``RestoreDBInstanceToPointInTime``, ``UseLatestRestorableTime``) in the same subnet group,
   security groups, parameter group and class, without deletion protection or public access;
3. snapshot the scratch instance (tagged like the rehearsal's own snapshot), wait until available;
4. delete the scratch instance (no final snapshot, no retained backups: it was never the stack's);
5. the recreate restores the stack's database from that snapshot.

Every step is recorded in ``state.point_in_time`` before it is waited for, so a resume goes on from
where it stopped and never restores twice. The report gives the restore time and its lag behind the
freeze (what a restore to the latest restorable time lost).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, WaiterError

from stacks.dr.state import iso, parse_iso

if TYPE_CHECKING:
    from stacks.dr.rehearsal import Rehearsal


def scratch_identifier(stack: str, run_id: str) -> str:
    """A valid, unique DB instance identifier (at most 63 characters) for the scratch restore."""
    cleaned = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", f"dr-pitr-{stack}-{run_id}".lower())).strip("-")
    return cleaned[:63].rstrip("-")


def take_point_in_time_snapshot(rehearsal: "Rehearsal") -> str:
    """Steps 1-4 of the module docstring; returns the snapshot the recreate restores."""
    from stacks.dr.rehearsal import DB_OUTPUT, PhaseError

    state = rehearsal.state
    aws = rehearsal._aws()
    rds = aws.rds
    record = state.point_in_time
    database = state.resources_before[DB_OUTPUT]
    scratch = record.get("scratch_instance") or scratch_identifier(state.stack, state.run_id)
    snapshot_id = f"{scratch}-snapshot"
    options = rehearsal.options

    if record.get("snapshot_available"):
        return record["snapshot"]
    if not record.get("restore_requested"):
        frozen_at = parse_iso(state.frozen.get("at"))
        source = _instance(rds, database)
        if source is None:
            raise PhaseError(f"database {database} disappeared before the point-in-time restore")
        deadline = rehearsal.now().timestamp() + options.snapshot_timeout
        while frozen_at and (source.get("LatestRestorableTime") is None or source["LatestRestorableTime"] < frozen_at):
            if rehearsal.now().timestamp() >= deadline:
                raise PhaseError(
                    f"the latest restorable time of {database} ({iso(source.get('LatestRestorableTime')) or 'none'}) did not "
                    f"reach the freeze ({iso(frozen_at)}) within {int(options.snapshot_timeout)} s: are automated backups on?"
                )
            rehearsal._progress(
                f"waiting for the latest restorable time ({iso(source.get('LatestRestorableTime')) or 'none'}) to pass the freeze"
            )
            rehearsal.sleep(options.snapshot_poll)
            source = _instance(rds, database) or source
        restore_time = source.get("LatestRestorableTime")
        params: dict[str, Any] = {
            "SourceDBInstanceIdentifier": database,
            "TargetDBInstanceIdentifier": scratch,
            "UseLatestRestorableTime": True,
            "DBInstanceClass": source["DBInstanceClass"],
            "MultiAZ": False,
            "PubliclyAccessible": False,
            "DeletionProtection": False,
            "CopyTagsToSnapshot": False,
            "Tags": [{"Key": "dr-rehearsal", "Value": state.run_id}, {"Key": "stack", "Value": state.stack}],
        }
        subnet_group = (source.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
        if subnet_group:
            params["DBSubnetGroupName"] = subnet_group
        groups = [g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups") or [] if g.get("VpcSecurityGroupId")]
        if groups:
            params["VpcSecurityGroupIds"] = groups
        parameter_groups = [g["DBParameterGroupName"] for g in source.get("DBParameterGroups") or [] if g.get("DBParameterGroupName")]
        if parameter_groups:
            params["DBParameterGroupName"] = parameter_groups[0]
        try:
            rds.restore_db_instance_to_point_in_time(**params)
        except ClientError as exc:
            raise PhaseError(f"point-in-time restore of {database} into {scratch}: {_code(exc)}") from None
        record.update(
            source=database,
            scratch_instance=scratch,
            restore_requested=iso(rehearsal.now()),
            restore_time=iso(restore_time),
            lag_behind_freeze_seconds=(restore_time - frozen_at).total_seconds() if restore_time and frozen_at else None,
        )
        rehearsal._save()
        rehearsal._progress(f"restoring {database} to {iso(restore_time)} (its latest restorable time) into {scratch}")
    _wait(rehearsal, "db_instance_available", {"DBInstanceIdentifier": scratch}, f"scratch instance {scratch}")
    if not record.get("snapshot"):
        try:
            rds.create_db_snapshot(
                DBSnapshotIdentifier=snapshot_id,
                DBInstanceIdentifier=scratch,
                Tags=[{"Key": "dr-rehearsal", "Value": state.run_id}, {"Key": "stack", "Value": state.stack}],
            )
        except ClientError as exc:
            raise PhaseError(f"snapshot {snapshot_id} of the point-in-time restore: {_code(exc)}") from None
        record["snapshot"] = snapshot_id
        rehearsal._save()
    aws.wait_snapshot_available(
        snapshot_id,
        timeout=options.snapshot_timeout,
        delay=options.snapshot_poll,
        on_wait=lambda status: rehearsal._progress(f"snapshot {snapshot_id}: {status}"),
    )
    record["snapshot_available"] = iso(rehearsal.now())
    rehearsal._save()
    try:  # the scratch instance was never the stack's: no final snapshot, no retained backups
        rds.delete_db_instance(DBInstanceIdentifier=scratch, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
        record["scratch_deleted"] = iso(rehearsal.now())
    except ClientError as exc:
        if _code(exc) != "DBInstanceNotFound":
            record["scratch_left"] = f"{scratch}: {_code(exc)} (delete it by hand)"
            rehearsal._progress(f"could not delete the scratch instance {scratch}: {_code(exc)}; delete it by hand")
    rehearsal._save()
    return snapshot_id


def _instance(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except ClientError as exc:
        if _code(exc) == "DBInstanceNotFound":
            return None
        raise


def _wait(rehearsal: "Rehearsal", waiter_name: str, params: dict[str, str], what: str) -> None:
    from stacks.dr.rehearsal import PhaseError

    waiter = rehearsal._aws().rds.get_waiter(waiter_name)
    deadline = rehearsal.now().timestamp() + rehearsal.options.snapshot_timeout
    while True:
        try:
            waiter.wait(**params, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
            return
        except WaiterError as exc:
            if "Max attempts exceeded" not in str(exc):
                raise PhaseError(f"{what} will not become available: {exc}") from None
        if rehearsal.now().timestamp() >= deadline:
            raise PhaseError(f"{what} not available after {int(rehearsal.options.snapshot_timeout)} s")
        rehearsal._progress(f"{what}: restoring")
        rehearsal.sleep(rehearsal.options.snapshot_poll)


def _code(exc: Exception) -> str:
    return exc.response.get("Error", {}).get("Code", str(exc)) if isinstance(exc, ClientError) else str(exc)


def lag_text(record: dict[str, Any]) -> str:
    """One line for the report: restore time and its distance to the freeze."""
    if not record:
        return ""
    lag = record.get("lag_behind_freeze_seconds")
    when = record.get("restore_time") or "?"
    return f"restored to {when}" + (f", {lag:.0f} s after the freeze" if lag is not None else "")


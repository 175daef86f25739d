"""``dr-rehearsal <stack> --cleanup``: the leftovers of earlier rehearsals, listed, and deleted on confirmation."""

from __future__ import annotations

from tests.dr.fakes import InjectedFailure
from tests.dr.test_cli import _wiring

from stacks.cli import main


def _three_rehearsals(world) -> None:
    for _ in range(3):
        assert world.run() == 0, world.out.getvalue()
        world.clock.advance(86400)


def _share_state(world) -> None:
    """The CLI reads <state root>/<stack>: give it the rehearsal's state files."""
    target = world.state_dir.parent / world.stack.name
    target.mkdir(exist_ok=True)
    for path in world.state_dir.glob("state*.json"):
        (target / path.name).write_text(path.read_text())


def _cleanup(world, *extra: str, answers=None) -> tuple[int, str]:
    _share_state(world)
    wiring = _wiring(world)
    replies = list(answers or [])
    wiring.ask = lambda prompt: replies.pop(0) if replies else None
    wiring.state_root = world.state_dir.parent
    start = len(world.out.getvalue())
    code = main(["dr-rehearsal", world.stack.name, "--cleanup", *extra], dr_wiring=wiring)
    return code, world.out.getvalue()[start:]


def test_cleanup_lists_everything_and_deletes_all_but_the_newest_of_each_kind(world):
    _three_rehearsals(world)
    rehearsal_snapshots = world.snapshots()
    finals = [s for s in world.all_snapshots() if "-final-" in s]
    assert len(rehearsal_snapshots) == 3 and len(finals) == 3
    retained = [b for b in world.rds_as_on_aws.backups if b["Status"] == "retained"]
    assert len(retained) == 3  # one per deleted instance: billed until deleted

    code, out = _cleanup(world, answers=["dev"])
    assert code == 0, out
    assert out.count("DELETE") == 6 and out.count("keep  ") == 3
    assert world.snapshots() == [rehearsal_snapshots[-1]]
    assert [s for s in world.all_snapshots() if "-final-" in s] == sorted(finals)[-1:]
    assert [b["Status"] for b in world.rds_as_on_aws.backups] == ["retained", "active"]
    assert "6 deleted, 0 failed, 3 kept" in out


def test_cleanup_without_confirmation_deletes_nothing(world):
    _three_rehearsals(world)
    before = world.all_snapshots()
    code, out = _cleanup(world, answers=["prod"])
    assert code == 2 and "not confirmed; nothing deleted" in out
    code, out = _cleanup(world)
    assert code == 2 and "pass --yes to delete unattended" in out
    assert world.all_snapshots() == before


def test_cleanup_refuses_while_a_rehearsal_is_unfinished(world):
    world.stack.fail_next["destroy"] = InjectedFailure("boom")
    assert world.run() == 1
    code, out = _cleanup(world, "--yes")
    assert code == 2 and "is unfinished" in out and "--resume" in out
    assert world.snapshots() == ["dr-dev-20250301-090000"]


def test_cleanup_leaves_snapshots_it_did_not_make(world):
    assert world.run() == 0
    rds = world.session.client("rds")
    rds.create_db_snapshot(DBSnapshotIdentifier="before-the-migration", DBInstanceIdentifier=world.stack.database)
    world.clock.advance(86400)
    assert world.run() == 0
    code, out = _cleanup(world, "--yes")
    assert code == 0
    assert "before-the-migration" not in out and "before-the-migration" in world.all_snapshots()


def test_nothing_to_clean_says_so(world):
    code, out = _cleanup(world, "--yes")
    assert code == 0
    assert "Left by the DR rehearsals of dev (database batch-platform-dev-airflow, region eu-west-1):" in out
    assert "active" not in out  # the running instance's own backups are not leftovers

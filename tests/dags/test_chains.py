"""Job chains in the DAGs: downstream triggers that wait and propagate, and Asset-scheduled upstream links."""

from __future__ import annotations

import pytest

from batch_platform.chains import ASSET_URI_PREFIX
from batch_platform.factory import build_dag
from batch_platform.spec import SpecError, parse_spec_data

BASE = {"name": "b", "image": "registry.internal/batch/b:1", "command": ["run"]}


def dag_of(**fields):
    return build_dag(parse_spec_data({**BASE, **fields}, f"{fields.get('name', 'b')}.yaml"))


def test_every_batch_task_emits_its_jobs_asset_on_success():
    task = dag_of().get_task("run")
    assert [asset.uri for asset in task.outlets] == [ASSET_URI_PREFIX + "b"]


def test_after_alone_schedules_the_dag_on_any_upstream_asset():
    from airflow.sdk import AssetAny

    dag = dag_of(after=["a", "team.z"])
    assert isinstance(dag.timetable.asset_condition, AssetAny)
    assert sorted(a.uri for a in dag.timetable.asset_condition.objects) == [ASSET_URI_PREFIX + "a", ASSET_URI_PREFIX + "team.z"]


def test_after_with_a_cron_schedule_runs_on_both():
    from airflow.sdk import AssetOrTimeSchedule

    dag = dag_of(after=["a"], schedule={"cron": ["0 3 * * *"]})
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "0 3 * * *"


def test_blocking_trigger_waits_deferred_and_fails_with_the_downstream_run():
    dag = dag_of(triggers=[{"dag_id": "c", "wait": True}])
    task = dag.get_task("trigger_c")
    assert task.wait_for_completion is True and task.deferrable is True
    assert task.failed_states == ["failed"] and task.allowed_states == ["success"]
    assert task.upstream_task_ids == {"run"}


def test_blocking_trigger_without_propagate_accepts_a_failed_downstream_run():
    task = dag_of(triggers=[{"dag_id": "c", "wait": True, "propagate": False}]).get_task("trigger_c")
    assert task.failed_states == [] and sorted(task.allowed_states) == ["failed", "success"]


def test_fire_and_forget_trigger_does_not_wait():
    task = dag_of(triggers=[{"dag_id": "c", "when": "failure"}]).get_task("trigger_c")
    assert task.wait_for_completion is False and task.trigger_rule == "all_failed"


def test_a_job_that_only_triggers_others_has_no_batch_task():
    dag = build_dag(parse_spec_data({"name": "fan-out", "triggers": [{"dag_id": "x"}, {"dag_id": "y"}]}, "fan-out.yaml"))
    assert sorted(dag.task_ids) == ["trigger_x", "trigger_y"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "n", "command": ["run"]}, "field 'image': required field is missing"),
        ({"name": "n", "image": "i"}, "field 'command': required field is missing"),
        ({"name": "n"}, "field 'image': required field is missing"),
        ({"name": "n", "image": "i", "command": ["x"], "after": ["n"]}, "cannot run after itself"),
    ],
)
def test_image_and_command_are_required_unless_the_job_only_triggers_others(data, expected):
    with pytest.raises(SpecError) as caught:
        parse_spec_data(data, "n.yaml")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    "schedule",
    [None, {"cron": ["0 3 * * *"]}, {"cron": ["0 7 1-7 * 1", "30 18 * * 5"], "timezone": "Europe/Berlin"}],
    ids=["assets-only", "assets-or-cron", "assets-or-jenkins-timetable"],
)
def test_upstream_schedules_survive_the_schedulers_serialization(schedule):
    from airflow.serialization.serialized_objects import DagSerialization

    fields = {"after": ["a"], **({"schedule": schedule} if schedule else {})}
    dag = dag_of(**fields)
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert [a.uri for a in restored.timetable.asset_condition.objects] == [ASSET_URI_PREFIX + "a"]
    if schedule:
        assert type(restored.timetable.timetable).__name__ == type(dag.timetable.timetable).__name__
    assert restored.get_task("run").outlets[0].uri == ASSET_URI_PREFIX + "b"

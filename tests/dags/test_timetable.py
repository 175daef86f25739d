"""The Jenkins timetable: run rules, choice of timetable, and the scheduler's round trip via the plugin."""

from __future__ import annotations

from datetime import UTC, datetime

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from batch_platform.jenkins_cron import parse_spec
from batch_platform.spec import parse_spec_data
from batch_platform.timetable import JenkinsCronTimetable, timetable_for


def at(*args):
    return datetime(*args, tzinfo=UTC)


NO_CATCHUP = TimeRestriction(earliest=None, latest=None, catchup=False)


def test_first_run_is_the_next_fire_time_never_a_missed_one():
    tt = JenkinsCronTimetable(["0 9 13 * 5"])
    info = tt.next_run_at(None, NO_CATCHUP, now=at(2024, 1, 1, 12))
    assert info.run_after == at(2024, 9, 13, 9)
    assert info.data_interval == DataInterval(at(2024, 9, 13, 9), at(2024, 9, 13, 9))


def test_next_run_follows_the_last_one():
    tt = JenkinsCronTimetable(["0 2 * * *", "30 14 * * 6"])
    last = DataInterval(at(2024, 6, 8, 2), at(2024, 6, 8, 2))
    assert tt.next_run_at(last, NO_CATCHUP, now=at(2024, 6, 8, 2, 0, 5)).run_after == at(2024, 6, 8, 14, 30)


def test_after_an_outage_the_latest_missed_fire_time_runs_once():
    tt = JenkinsCronTimetable(["0 * * * *"], "Europe/Berlin")
    last = DataInterval(at(2024, 6, 8, 2), at(2024, 6, 8, 2))
    assert tt.next_run_at(last, NO_CATCHUP, now=at(2024, 6, 8, 7, 20)).run_after == at(2024, 6, 8, 7)


def test_catchup_walks_every_fire_time_from_the_start_date():
    tt = JenkinsCronTimetable(["0 9 13 * 5"])
    restriction = TimeRestriction(earliest=at(2024, 1, 1), latest=None, catchup=True)
    assert tt.next_run_at(None, restriction, now=at(2030, 1, 1)).run_after == at(2024, 9, 13, 9)


def test_latest_bound_and_never_firing_schedules_stop_scheduling():
    tt = JenkinsCronTimetable(["0 0 30 2 *"])  # February 30th: Jenkins accepts it, it never fires
    assert tt.next_run_at(None, NO_CATCHUP, now=at(2024, 1, 1)) is None
    tt = JenkinsCronTimetable(["0 2 * * *"])
    restriction = TimeRestriction(earliest=None, latest=at(2024, 1, 1, 1), catchup=False)
    assert tt.next_run_at(None, restriction, now=at(2024, 1, 1)) is None


def test_next_dagrun_info_uses_the_wall_clock():
    before = pendulum.now("UTC")
    info = JenkinsCronTimetable(["* * * * *"]).next_dagrun_info(
        last_automated_data_interval=None, restriction=NO_CATCHUP
    )
    assert before <= info.run_after <= before.add(minutes=1)
    assert info.run_after.second == 0


def test_dst_in_the_timetable():
    tt = JenkinsCronTimetable(["30 2 * * *"], "Europe/Berlin")
    last = DataInterval(at(2024, 10, 27, 0, 30), at(2024, 10, 27, 0, 30))
    assert tt.next_run_at(last, NO_CATCHUP, now=at(2024, 10, 27, 0, 31)).run_after == at(2024, 10, 27, 1, 30)


def test_manual_runs_get_an_exact_interval():
    run_after = pendulum.datetime(2024, 5, 1, 10, 3, tz="UTC")
    assert JenkinsCronTimetable(["0 2 * * *"]).infer_manual_data_interval(run_after=run_after) == DataInterval(
        run_after, run_after
    )


def test_serialize_round_trip_and_summary():
    tt = JenkinsCronTimetable(["0 7 1-7 * 1", "30 18 * * 5"], "Europe/Berlin")
    assert JenkinsCronTimetable.deserialize(tt.serialize()) == tt
    assert tt.summary == "0 7 1-7 * 1 | 30 18 * * 5 (Europe/Berlin)"
    assert "AND" in tt.description


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("H 2 * * *", "CronTriggerTimetable"),
        ("0 9 13 * 5", "JenkinsCronTimetable"),
        ("0 2 * * *\n0 3 * * 6", "JenkinsCronTimetable"),
        ("TZ=America/New_York\n0 2 * * *", "JenkinsCronTimetable"),
    ],
)
def test_timetable_choice(text, kind):
    tt = timetable_for(parse_spec(text, seed="team-a/job"))
    assert type(tt).__name__ == kind


def test_plain_cron_timetable_never_starts_a_missed_run():
    from datetime import timedelta

    # run_immediately=0: Airflow's rule "start the past run if it was due within a buffer" gets a
    # zero buffer, so a freshly deployed DAG waits for its next fire time like Jenkins does.
    tt = timetable_for(parse_spec("H 2 * * *", seed="stuff"))
    assert tt.run_immediately == timedelta(0)
    assert _scheduler_view(_dag({"cron": ["H 2 * * *"]})).timetable._run_immediately == timedelta(0)


# --- via the DAG, serialized and deserialized as the scheduler does it ----------------------------


def _scheduler_view(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def _dag(schedule):
    from batch_platform.factory import build_dag
    from batch_platform.settings import load

    spec = parse_spec_data(
        {"name": "t.job", "image": "img:1", "command": ["run"], "schedule": schedule,
         "jenkins": {"full_name": "team-a/nightly/export"}},
        "jobs/t.job.yaml",
    )
    return build_dag(spec, load({}))


def test_custom_timetable_survives_serialization_through_the_plugin():
    dag = _dag({"cron": ["0 7 1-7 * 1", "30 18 * * 5"], "timezone": "Europe/Berlin"})
    restored = _scheduler_view(dag)
    assert restored.timetable == dag.timetable
    info = restored.timetable.next_run_at(None, NO_CATCHUP, now=at(2024, 6, 1))
    # Monday June 3rd is the first Monday of June: 07:00 in Berlin (CEST) is 05:00 UTC.
    assert info.run_after == at(2024, 6, 3, 5)


def test_plain_cron_dag_keeps_the_jenkins_hash_of_the_full_name():
    dag = _dag({"cron": ["H H * * *"]})
    expected = parse_spec("H H * * *", seed="team-a/nightly/export").single_standard_cron()
    assert _scheduler_view(dag).timetable.summary == expected


def test_plugin_registers_the_timetable():
    from airflow import plugins_manager

    assert "batch_platform.timetable.JenkinsCronTimetable" in plugins_manager.get_timetables_plugins()


# --- every construct, end to end: spec -> DAG -> scheduler's timetable == Jenkins' fire times -------

CONSTRUCTS = [
    "H 17 * * *",
    "H/15 * * * *",
    "H(0-29)/10 * * * *",
    "H H(8-17) * * 1-5",
    "H H(9-17)/4 * * *",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
    "0 0 1-31/10 * *",
    "5,35 */4 * * 0,6",
    "0 12 * * 7",
    "30 6 * 1-3,10-12 1-5",
    "# comment line\nH 2 * * *\n\nH 14 * * 6",
    "TZ=Europe/Berlin\nH 2 * * *",
    "TZ=America/New_York\n30 1 * * *",
    "H 9 13 * 5",
]


@pytest.mark.parametrize("jenkins_spec", CONSTRUCTS)
def test_scheduler_fire_times_match_jenkins_for_every_construct(jenkins_spec):
    full_name = "team-a/nightly/export"
    spec = parse_spec(jenkins_spec, seed=full_name)
    schedule = {"cron": [line.to_cron() for line in spec.lines], "timezone": spec.timezone}
    timetable = _scheduler_view(_dag(schedule)).timetable
    restriction = TimeRestriction(earliest=None, latest=None, catchup=True)
    start = pendulum.datetime(2024, 10, 20, tz="UTC")  # a week before European summer time ends
    expected = spec.fire_times(start, 25)
    last, actual = DataInterval(start, start), []  # the scheduler passes pendulum datetimes
    for _ in range(25):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        actual.append(info.run_after.timestamp())
        last = info.data_interval
    assert actual == [e.timestamp() for e in expected]

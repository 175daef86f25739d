"""``python -m migration jenkins`` end to end: files, report, exit codes, hand edits, and Airflow loading
the generated DAGs with the schedules Jenkins would have used."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batch_platform.jenkins_cron import parse_spec
from migration.cli import main
from migration.writer import HASH_PREFIX, is_generated_and_unchanged
from tests.airflow_env import DAGS_FOLDER, REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures"
INPUTS = [FIXTURES / "jenkins_home", FIXTURES / "jenkinsfiles"]


def run(tmp: Path, *extra: str, inputs=INPUTS) -> int:
    return main(["jenkins", *map(str, inputs), "--out", str(tmp / "jobs"), "--report-dir", str(tmp / "report"), *extra])


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("converted")
    code = run(tmp)
    report = json.loads((tmp / "report" / "migration-report.json").read_text())
    return tmp, code, {job["full_name"]: job for job in report["jobs"]}


def test_exit_status_is_1_when_any_job_failed_but_the_others_converted(converted):
    tmp, code, jobs = converted
    assert code == 1
    written = sorted(p.name for p in (tmp / "jobs").iterdir())
    assert written == sorted(
        f"{name}{ext}"
        for name in ["billing-sync", "ledger-export", "pipeline-from-scm", "pipeline-inline", "team-a.nightly.export",
                     "team-a.nightly.report"]
        for ext in (".py", ".yaml")
    )


def test_report_statuses(converted):
    _, _, jobs = converted
    assert {name: job["status"] for name, job in jobs.items()} == {
        "ledger-export": "review",
        "team-a": "skipped",
        "team-a/nightly": "skipped",
        "team-a/nightly/export": "review",
        "team-a/nightly/report": "converted",
        "pipeline-inline": "converted",
        "pipeline-from-scm": "review",
        "scripted-inline": "manual",
        "matrix": "manual",
        "broken-xml": "error",
        "bad-cron": "error",
        "billing-sync": "review",
        "scripted": "manual",
        "unterminated": "error",
        "unbalanced": "error",
    }


def test_errors_name_the_file_and_the_token(converted):
    _, _, jobs = converted
    assert jobs["bad-cron"]["message"].startswith("tests/migration/fixtures/jenkins_home/jobs/bad-cron/config.xml") or \
        "bad-cron/config.xml" in jobs["bad-cron"]["message"]
    assert "token '25'" in jobs["bad-cron"]["message"]
    assert "broken-xml/config.xml" in jobs["broken-xml"]["message"]
    assert "unterminated.Jenkinsfile: line 6" in jobs["unterminated"]["message"]


def test_report_lists_mapped_and_unmapped_items(converted):
    tmp, _, jobs = converted
    ledger = jobs["ledger-export"]
    assert any("naginator" in item for item in ledger["mapped"])
    assert {i["category"] for i in ledger["not_mapped"]} >= {"scm-polling", "node-label", "plugin", "credentials"}
    # The parameterized trigger points at a job that was not converted: flagged.
    assert any("ledger-audit" in i["detail"] for i in ledger["not_mapped"])
    markdown = (tmp / "report" / "migration-report.md").read_text()
    assert "# Jenkins migration report" in markdown
    assert "| `ledger-export` | review | ledger-export |" in markdown
    assert "Manual migration needed: scripted pipeline" in markdown


def test_no_secret_reaches_any_output(converted):
    tmp, _, jobs = converted
    assert jobs["ledger-export"]["secrets_redacted"] is False  # only password defaults / slack token, never read
    for path in [*(tmp / "jobs").iterdir(), *(tmp / "report").iterdir()]:
        text = path.read_text()
        assert "AQAAAB" not in text, path
        assert "SECRET-DO-NOT-COPY" not in text, path


def test_specs_carry_a_matching_hash_and_no_temp_files_remain(converted):
    tmp, _, _ = converted
    for spec in (tmp / "jobs").glob("*.yaml"):
        text = spec.read_text()
        assert HASH_PREFIX in text and is_generated_and_unchanged(text)
    assert not list((tmp / "jobs").glob(".*"))


# --- Airflow loads what the converter wrote -------------------------------------------------------


@pytest.fixture(scope="module")
def dagbag(converted, tmp_path_factory):
    from airflow.dag_processing.dagbag import DagBag

    tmp, _, _ = converted
    folder = tmp_path_factory.mktemp("dagfolder")
    shutil.copytree(DAGS_FOLDER / "batch_platform", folder / "batch_platform", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(DAGS_FOLDER / ".airflowignore", folder / ".airflowignore")
    shutil.copytree(tmp / "jobs", folder / "jobs")
    return DagBag(dag_folder=str(folder), include_examples=False)


def test_generated_dags_load_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == [
        "billing-sync", "ledger-export", "pipeline-from-scm", "pipeline-inline", "team-a.nightly.export",
        "team-a.nightly.report",
    ]


@pytest.mark.parametrize(
    ("dag_id", "jenkins_spec", "full_name"),
    [
        ("ledger-export", "H 2 * * 1-5", "ledger-export"),
        ("pipeline-inline", "@midnight", "pipeline-inline"),
        ("team-a.nightly.export", "TZ=Europe/Berlin\nH H(1-3) * * 1-5\nH 6 1 * 0", "team-a/nightly/export"),
        ("billing-sync", "TZ=America/New_York\nH 5 * * 1-5", "billing-sync"),
    ],
)
def test_next_runs_in_airflow_match_jenkins(dagbag, dag_id, jenkins_spec, full_name):
    """The scheduler's view (serialized DAG) fires exactly when Jenkins would, over two years."""
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id])).timetable
    jenkins = parse_spec(jenkins_spec, seed=full_name)
    restriction = TimeRestriction(earliest=None, latest=None, catchup=True)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    expected = jenkins.fire_times(start, 40) + [
        jenkins.fire_times(datetime(2025, 3, 29, tzinfo=UTC), 1)[0],  # across a DST change
    ]
    last = DataInterval(start, start)
    actual = []
    for _ in range(40):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        actual.append(info.run_after)
        last = info.data_interval
    dst_start = datetime(2025, 3, 29, tzinfo=UTC)
    info = timetable.next_dagrun_info(last_automated_data_interval=DataInterval(dst_start, dst_start), restriction=restriction)
    actual.append(info.run_after)
    assert [a.timestamp() for a in actual] == [e.timestamp() for e in expected]


# --- re-runs, hand edits, arguments --------------------------------------------------------------


def test_rerun_replaces_unchanged_specs(tmp_path):
    inputs = [FIXTURES / "jenkins_home" / "jobs" / "pipeline-inline" / "config.xml"]
    assert run(tmp_path, inputs=inputs) == 0
    first = (tmp_path / "jobs" / "pipeline-inline.yaml").read_text()
    assert run(tmp_path, inputs=inputs) == 0
    assert (tmp_path / "jobs" / "pipeline-inline.yaml").read_text() == first


def test_hand_edited_spec_is_kept_while_its_job_is_unchanged_and_refused_once_it_changed(tmp_path):
    job = tmp_path / "jenkins" / "jobs" / "pipeline-inline" / "config.xml"
    job.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "jenkins_home" / "jobs" / "pipeline-inline" / "config.xml", job)
    assert run(tmp_path, inputs=[job]) == 0
    spec = tmp_path / "jobs" / "pipeline-inline.yaml"
    edited = spec.read_text().replace("retries: 1", "retries: 5")
    spec.write_text(edited)
    # The Jenkins job is as it was: the edit is the truth now, and that is not a failure.
    assert run(tmp_path, inputs=[job]) == 0
    assert spec.read_text() == edited
    report = json.loads((tmp_path / "report" / "migration-report.json").read_text())
    assert report["jobs"][0]["status"] == "kept"
    assert report["summary"]["kept"] == 1
    (tmp_path / "jobs" / "pipeline-inline.py").unlink()  # a kept spec still gets its DAG file
    assert run(tmp_path, inputs=[job]) == 0
    assert (tmp_path / "jobs" / "pipeline-inline.py").exists() and spec.read_text() == edited
    # The Jenkins job changed since: a person must merge the two.
    text = job.read_text()
    assert "<description>" in text
    job.write_text(text.replace("<description>", "<description>Changed in Jenkins. ", 1))
    assert run(tmp_path, inputs=[job]) == 1
    assert spec.read_text() == edited
    report = json.loads((tmp_path / "report" / "migration-report.json").read_text())
    assert report["jobs"][0]["status"] == "error"
    assert "edited by hand and its Jenkins job changed since it was generated" in report["jobs"][0]["message"]
    assert run(tmp_path, "--force", inputs=[job]) == 0
    assert "retries: 1" in spec.read_text()


def test_hand_written_spec_without_header_is_protected(tmp_path):
    inputs = [FIXTURES / "jenkins_home" / "jobs" / "pipeline-inline" / "config.xml"]
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "pipeline-inline.yaml").write_text("name: pipeline-inline\n")
    assert run(tmp_path, inputs=inputs) == 1
    assert (tmp_path / "jobs" / "pipeline-inline.yaml").read_text() == "name: pipeline-inline\n"
    assert not (tmp_path / "jobs" / "pipeline-inline.py").exists()


def test_two_jobs_with_the_same_name_do_not_overwrite_each_other(tmp_path):
    report_job = FIXTURES / "jenkins_home" / "jobs" / "team-a" / "jobs" / "nightly" / "jobs" / "report" / "config.xml"
    in_folder = tmp_path / "one" / "jobs" / "a" / "jobs" / "x"  # full name a/x -> spec a.x
    dotted = tmp_path / "two" / "jobs" / "a.x"  # full name a.x -> spec a.x as well
    for target in (in_folder, dotted):
        target.mkdir(parents=True)
        shutil.copy(report_job, target)
    assert run(tmp_path, inputs=[tmp_path / "one", tmp_path / "two"]) == 1
    report = json.loads((tmp_path / "report" / "migration-report.json").read_text())
    assert [(job["full_name"], job["status"]) for job in report["jobs"]] == [("a/x", "converted"), ("a.x", "error")]
    assert "also the name of a/x" in report["jobs"][1]["message"]
    assert "a/x" in (tmp_path / "jobs" / "a.x.yaml").read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["jenkins", "missing-dir", "--out", "{out}"],
        ["jenkins", "{fixtures}", "--out", "{out}", "--timezone", "Mars/Olympus"],
        ["jenkins", "{fixtures}", "--out", "{out}", "--java-image", "img/{{job}}"],
        ["jenkins", "{fixtures}"],
        ["jenkins", "{fixtures}", "--out", "{out}", "--bogus"],
        ["cobol", "{fixtures}", "--out", "{out}"],
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(out=tmp_path / "out", fixtures=FIXTURES / "jenkins_home") for a in args]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point(tmp_path):
    """``python -m migration`` runs from the repository root, as the docs show."""
    result = subprocess.run(
        [sys.executable, "-m", "migration", "jenkins", str(FIXTURES / "jenkins_home" / "jobs" / "pipeline-inline"),
         "--out", str(tmp_path / "jobs"), "--report-dir", str(tmp_path / "report")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "converted pipeline-inline" in result.stdout
    assert (tmp_path / "jobs" / "pipeline-inline.yaml").exists()


def test_paused_option_creates_every_dag_paused(tmp_path):
    inputs = [FIXTURES / "jenkins_home" / "jobs" / "pipeline-inline" / "config.xml"]
    assert run(tmp_path, "--paused", inputs=inputs) == 0
    assert "\npaused: true\n" in (tmp_path / "jobs" / "pipeline-inline.yaml").read_text()


def test_every_timer_schedule_is_resolved_in_a_dag_or_in_the_report(converted):
    """Manual and failed jobs included: a Jenkins timer never silently disappears."""
    import yaml

    tmp, _, jobs = converted
    with_timer = {name for name, job in jobs.items()
                  if "TimerTrigger" in Path(job["source"]).read_text() or "cron(" in Path(job["source"]).read_text()}
    assert {"ledger-export", "team-a/nightly/export", "bad-cron", "billing-sync"} <= with_timer
    for name in with_timer:
        job = jobs[name]
        if job["spec"]:
            spec = yaml.safe_load(Path(job["spec"]).read_text())
            assert spec["schedule"]["jenkins_spec"], name
        else:
            assert job["carry_over"]["schedule"]["jenkins_spec"], name

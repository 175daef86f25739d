"""The converter given what people really give it: nothing lost, nothing half-written, no traceback.

Every refusal names the file and what to do; exit 2 for usage and input errors (then nothing is
written at all), 1 when jobs failed to convert (the others still are).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from migration.cli import main
from migration.writer import KUBERNETES_OBJECT_LIMIT_BYTES

FREESTYLE = """<?xml version='1.1' encoding='UTF-8'?>
<project>
  <description>{description}</description>
  <builders>
    <hudson.tasks.Shell>
      <command>{command}</command>
    </hudson.tasks.Shell>
{extra}  </builders>
  <buildWrappers>
{wrappers}  </buildWrappers>
</project>
"""


def job(
    root: Path, full_name: str, description: str = "A job.", command: str = "java -jar /opt/app.jar", extra: str = "",
    wrappers: str = "",
) -> Path:
    directory = root
    for part in full_name.split("/"):
        directory = directory / "jobs" / part
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.xml"
    path.write_text(FREESTYLE.format(description=description, command=command, extra=extra, wrappers=wrappers), encoding="utf-8")
    return path


def run(tmp: Path, *inputs: Path, out: Path | None = None, report: Path | None = None) -> int:
    return main([
        "jenkins", *map(str, inputs), "--out", str(out or tmp / "out"), "--report-dir", str(report or tmp / "report"),
    ])


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def test_an_empty_directory_is_an_input_error_that_says_what_was_searched(tmp_path, capsys):
    empty = tmp_path / "export"
    empty.mkdir()
    assert run(tmp_path, empty) == 2
    err = capsys.readouterr().err
    assert f"error: no Jenkins job definition in {empty}: looked for jobs/<name>/config.xml" in err
    assert "Jenkinsfile" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "report").exists()


def test_a_directory_without_jobs_is_an_input_error(tmp_path, capsys):
    other = tmp_path / "export"
    (other / "notes").mkdir(parents=True)
    (other / "notes" / "config.xml").write_text("<project/>")  # not in a jobs/ layout
    (other / "README.txt").write_text("hello")
    assert run(tmp_path, other) == 2
    assert "no Jenkins job definition" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "report").exists()


def test_folders_without_jobs_are_an_input_error_and_nothing_is_written(tmp_path, capsys):
    folder = tmp_path / "export" / "jobs" / "team"
    folder.mkdir(parents=True)
    (folder / "config.xml").write_text("<com.cloudbees.hudson.plugins.folder.Folder/>")
    assert run(tmp_path, tmp_path / "export") == 2
    assert "(found only folders: 1)" in capsys.readouterr().err
    assert files_under(tmp_path / "out") == [] and files_under(tmp_path / "report") == []


def test_an_unwritable_report_location_is_found_before_any_spec_is_written(tmp_path, capsys):
    job(tmp_path / "export", "nightly")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert run(tmp_path, tmp_path / "export", report=blocker / "report") == 2
    err = capsys.readouterr().err
    assert f"error: --report-dir {blocker / 'report'}: {blocker} is a file, not a directory; nothing was written" in err
    assert not (tmp_path / "out").exists()
    assert run(tmp_path, tmp_path / "export", out=blocker / "jobs") == 2
    assert f"error: --out {blocker / 'jobs'}: {blocker} is a file" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_reports_accumulate_with_an_index(tmp_path, capsys):
    export = tmp_path / "export"
    job(export, "nightly")
    assert run(tmp_path, export) == 0
    first = (tmp_path / "report" / "migration-report.md").read_text()
    assert run(tmp_path, export) == 0  # the same report again: nothing to keep
    assert not (tmp_path / "report" / "history").exists()
    job(export, "weekly")
    capsys.readouterr()
    assert run(tmp_path, export) == 0
    out = capsys.readouterr().out
    kept = tmp_path / "report" / "history" / "migration-report-0001.md"
    assert kept.read_text() == first
    assert (tmp_path / "report" / "history" / "migration-report-0001.json").exists()
    assert f"The previous report is kept as {kept}" in out
    index = (tmp_path / "report" / "index.md").read_text()
    assert "- [run 1](history/migration-report-0001.md): 1 definitions: 1 converted" in index
    assert "- [latest](migration-report.md): 2 definitions: 2 converted" in index


def test_a_name_collision_with_an_earlier_runs_spec_is_refused(tmp_path, capsys):
    first, second = tmp_path / "one", tmp_path / "two"
    job(first, "team/export", description="The team's export.")  # full name team/export -> team.export
    job(second, "team.export", description="Another job.")  # full name team.export -> team.export as well
    assert run(tmp_path, first) == 0
    spec = (tmp_path / "out" / "team.export.yaml").read_text()
    assert run(tmp_path, second) == 1
    err = capsys.readouterr().err
    assert "was generated from the Jenkins job team/export (an earlier run), and team.export maps to the same name" in err
    assert (tmp_path / "out" / "team.export.yaml").read_text() == spec


def test_names_are_transliterated_and_reported_or_refused(tmp_path, capsys):
    export = tmp_path / "export"
    job(export, "Ünïcode-Job")
    job(export, "日次バッチ")
    assert run(tmp_path, export) == 1
    report = json.loads((tmp_path / "report" / "migration-report.json").read_text())
    jobs = {j["full_name"]: j for j in report["jobs"]}
    assert jobs["Ünïcode-Job"]["dag_id"] == "unicode-job"
    assert "job name 'Ünïcode-Job' -> DAG id 'unicode-job'" in jobs["Ünïcode-Job"]["mapped"]
    assert jobs["日次バッチ"]["status"] == "error"
    assert "has letters with no ASCII form" in jobs["日次バッチ"]["message"]
    assert files_under(tmp_path / "out") == ["unicode-job.py", "unicode-job.yaml"]


def test_an_empty_jenkinsfile_says_it_is_empty(tmp_path, capsys):
    empty = tmp_path / "empty.Jenkinsfile"
    empty.write_text("\n  \n")
    assert run(tmp_path, empty) == 1
    assert "the Jenkinsfile is empty: no pipeline to convert" in capsys.readouterr().err
    assert "top level: nothing" not in (tmp_path / "report" / "migration-report.md").read_text()


def test_repeated_unmapped_elements_are_one_item_with_a_count(tmp_path):
    repeated = "    <com.example.UnknownBuilder/>\n" * 115_000
    job(tmp_path / "export", "noisy", extra=repeated)
    assert run(tmp_path, tmp_path / "export") == 0
    report = tmp_path / "report" / "migration-report.md"
    assert report.stat().st_size < 20_000
    items = json.loads((tmp_path / "report" / "migration-report.json").read_text())["jobs"][0]["not_mapped"]
    assert [i["count"] for i in items if "UnknownBuilder" in i["detail"]] == [115_000]
    assert "| 115000 |" in report.read_text()


def test_a_spec_larger_than_kubernetes_stores_is_refused(tmp_path, capsys):
    script = "echo " + "x" * (KUBERNETES_OBJECT_LIMIT_BYTES + 10)
    job(tmp_path / "export", "huge", command=script)
    assert run(tmp_path, tmp_path / "export") == 1
    err = capsys.readouterr().err
    assert "more than the 1,572,864 bytes (1.5 MiB) Kubernetes stores in one object" in err
    assert files_under(tmp_path / "out") == []


def test_a_directory_that_cannot_be_listed_is_reported_not_skipped(tmp_path, capsys, monkeypatch):
    # Permissions do not stop root (CI runs as root): the listing failure is injected where os.walk lists.
    export = tmp_path / "export"
    job(export, "nightly")
    hidden = export / "jobs" / "team"
    hidden.mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == hidden:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert run(tmp_path, export) == 1
    err = capsys.readouterr().err
    assert f"error     {hidden}: {hidden}: cannot list the directory (Permission denied): the jobs in it, if any, were not converted" in err
    assert files_under(tmp_path / "out") == ["nightly.py", "nightly.yaml"]


def test_repeated_no_op_elements_are_one_line_with_a_count(tmp_path):
    wrappers = "    <hudson.plugins.timestamper.TimestamperBuildWrapper/>\n" * 1_000
    job(tmp_path / "export", "stamped", wrappers=wrappers)
    assert run(tmp_path, tmp_path / "export") == 0
    report = (tmp_path / "report" / "migration-report.md").read_text()
    lines = [line for line in report.splitlines() if "TimestamperBuildWrapper" in line]
    assert len(lines) == 1 and lines[0].endswith("(1000 times)"), lines
    noops = json.loads((tmp_path / "report" / "migration-report.json").read_text())["jobs"][0]["no_op"]
    assert [n["count"] for n in noops if "Timestamper" in n["element"]] == [1_000]

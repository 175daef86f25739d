"""Command line: ``python -m migration jenkins PATH... --out DIR``.

Exit status: 0 when every job converted (possibly with items to review, or kept as edited by hand),
1 when any job failed or needs manual migration, 2 for bad command-line arguments or input with no job
definition at all, or an output or report location that cannot be written (then nothing is written).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from batch_platform.jenkins_cron import CronSpecError, validate_timezone

from migration.convert import FolderDefinition, Options, carry_over, link_id, read_definition, to_spec_data
from migration.discover import SKIPPED_DIRS, discover
from migration.jenkins_xml import normalize_repository_url
from migration.model import ConversionError, Issue, ManualMigration
from migration.report import JobReport, grouped, summary, write_reports
from migration.writer import KUBERNETES_OBJECT_LIMIT_BYTES, HandEdited, NameTaken, render_spec, write_job


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m migration", description="Migrate batch jobs to Airflow job specs.")
    commands = parser.add_subparsers(dest="command", required=True)
    jenkins = commands.add_parser(
        "jenkins",
        help="convert Jenkins jobs (jobs/ trees, config.xml files, Jenkinsfiles)",
        description="Convert Jenkins job definitions into batch job specs and a migration report.",
    )
    jenkins.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                         help="a Jenkins jobs/ tree (or JENKINS_HOME), a config.xml, or a Jenkinsfile")
    jenkins.add_argument("--out", required=True, type=Path, help="directory for the specs, e.g. dags/jobs")
    jenkins.add_argument("--report-dir", type=Path, default=Path("migration-report"),
                         help="directory for migration-report.md/.json (default: ./migration-report)")
    jenkins.add_argument("--timezone", default="UTC",
                         help="time zone of the Jenkins controller, used for schedules without TZ= (default: UTC)")
    jenkins.add_argument("--java-image", default=Options.java_image,
                         help="image for jobs whose shell step runs java -jar; {name} is the job name "
                              "(default: %(default)s)")
    jenkins.add_argument("--shell-image", default=Options.shell_image,
                         help="image for other shell steps (default: %(default)s)")
    jenkins.add_argument("--jenkinsfile-folder", default=None,
                         help="Jenkins folder of the jobs that standalone Jenkinsfiles belong to "
                              "(part of their full name, which seeds H)")
    jenkins.add_argument("--paused", action="store_true",
                         help="create every DAG paused, for a staged cut-over (unpause each when its Jenkins job is disabled)")
    jenkins.add_argument("--force", action="store_true", help="overwrite specs even if they were edited by hand")
    jenkins.add_argument("--checkout", action="append", default=[], metavar="URL=DIR",
                         help="a local checkout of a repository that holds pipeline Jenkinsfiles (repeatable): "
                              "pipelines whose script is in SCM at URL are read from DIR")
    return parser


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Options:
    """Check every argument before anything is written."""
    for path in args.paths:
        if not path.exists():
            parser.error(f"{path}: no such file or directory")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out}: not a directory")
    if args.report_dir.exists() and not args.report_dir.is_dir():
        parser.error(f"--report-dir {args.report_dir}: not a directory")
    try:
        validate_timezone(args.timezone)
    except CronSpecError as exc:
        parser.error(f"--timezone: {exc}")
    try:
        args.java_image.format(name="x")
    except (KeyError, IndexError, ValueError):
        parser.error("--java-image: only the {name} placeholder is allowed")
    for option, value in (("--java-image", args.java_image), ("--shell-image", args.shell_image)):
        if not value or any(c.isspace() for c in value):
            parser.error(f"{option}: an image reference without spaces is required")
    checkouts = []
    for item in args.checkout:
        url, sep, directory = item.rpartition("=")
        if not sep or not url.strip() or not directory:
            parser.error(f"--checkout {item!r}: expected URL=DIR, e.g. https://git.example.com/ops/deploy.git=../deploy")
        if not Path(directory).is_dir():
            parser.error(f"--checkout {item!r}: {directory} is not a directory")
        checkouts.append((normalize_repository_url(url), Path(directory)))
    return Options(timezone=args.timezone, java_image=args.java_image, shell_image=args.shell_image,
                   pause_all=args.paused, checkouts=tuple(checkouts), out_dir=str(args.out))


def convert_all(paths: list[Path], out: Path, options: Options, force: bool = False,
                jenkinsfile_folder: str | None = None) -> list[JobReport]:
    """Convert every definition under ``paths``; one bad job never stops the others."""
    reports: list[JobReport] = []
    written: dict[str, str] = {}
    triggered: dict[str, list[str]] = {}
    for definition in discover(paths, jenkinsfile_folder):
        report = JobReport(definition.full_name, definition.display, "error")
        reports.append(report)
        job = None
        try:
            job = read_definition(definition, options)
            data = to_spec_data(job, options)
            name = data["name"]
            if name in written:
                raise ConversionError(f"job name {name!r} is also the name of {written[name]}; rename one of them")
            spec_text = render_spec(data, job.full_name, definition.display)
            size = len(spec_text.encode("utf-8"))
            if size > KUBERNETES_OBJECT_LIMIT_BYTES:
                raise ConversionError(
                    f"the spec would be {size:,} bytes, more than the {KUBERNETES_OBJECT_LIMIT_BYTES:,} bytes (1.5 MiB) "
                    "Kubernetes stores in one object, so the Job made from it could not be created; move the "
                    "script into the job's image and run it from there"
                )
            spec_path, wrote = write_job(out, name, spec_text, job.full_name, force)
            written[name] = definition.full_name
            if wrote:
                report.status = "review" if job.issues else "converted"
            else:
                report.status = "kept"
                report.message = f"{spec_path} was edited by hand and its Jenkins job is unchanged: kept as it is"
            report.dag_id, report.spec = name, str(spec_path)
        except FolderDefinition:
            report.status, report.message = "skipped", "folder: not a job"
        except ManualMigration as exc:
            report.status, report.message = "manual", f"Manual migration needed: {exc}"
            if job is None:  # the reader stopped inside: what it read so far is on the exception's job
                job = getattr(exc, "job", None)
            if job is not None:
                report.carry_over = carry_over(job, options)
        except (ConversionError, HandEdited, NameTaken) as exc:
            report.status, report.message = "error", f"{definition.display}: {exc}"
            read = job or getattr(exc, "job", None)
            if read is not None and (read.timer_spec or read.params or read.triggers or read.upstream):
                report.carry_over = carry_over(read, options)
        except OSError as exc:  # e.g. the disk filled up: this job failed, the others still run
            report.status, report.message = "error", f"{definition.display}: cannot write its spec: {exc}"
        if job is not None:
            # Only a written spec has mappings worth reading; issues help with manual work too.
            report.mapped = job.mapped if report.spec else []
            report.issues, report.secrets_redacted = job.issues, job.secrets_scrubbed
            report.noops = job.noops
            if report.spec:
                triggered[report.dag_id] = [link_id(t.target) for t in job.triggers] + [link_id(u) for u in job.upstream]
    _check_downstream(reports, triggered, out)
    return reports


def _check_downstream(reports: list[JobReport], triggered: dict[str, list[str]], out: Path) -> None:
    """A chain link whose other end has no spec would never fire: say so now (both directions)."""
    for report in reports:
        for target in triggered.get(report.dag_id or "", []):
            if not (out / f"{target}.yaml").exists():
                report.issues.append(Issue(
                    "trigger", f"linked job {target} (a trigger or an upstream job) has no spec in {out}",
                    "convert that job too, or remove the link",
                ))
                report.status = "review"


def _unwritable(directory: Path) -> str | None:
    """Why files cannot be created in ``directory`` (created if missing), or None. Writes nothing."""
    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        return f"{existing} is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def _probe(directory: Path) -> str | None:
    """Create ``directory`` and a file in it (removed again): the proof it can be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".migration-probe-"):
            pass
    except OSError as exc:
        return f"cannot write in {directory}: {exc.strerror or exc}"
    return None


def _no_definitions(paths: list[Path]) -> str:
    searched = ", ".join(str(p) for p in paths)
    return (
        f"no Jenkins job definition in {searched}: looked for jobs/<name>/config.xml (folders at any depth), "
        f"Jenkinsfile and *.Jenkinsfile files, and the config.xml or Jenkinsfile paths given directly (skipping "
        f"{', '.join(sorted(SKIPPED_DIRS))}). Point it at a Jenkins jobs/ tree or JENKINS_HOME"
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    options = _validate(parser, args)
    definitions = discover(args.paths, args.jenkinsfile_folder)
    if not definitions:
        print(f"error: {_no_definitions(args.paths)}", file=sys.stderr)
        return 2
    for option, directory in (("--out", args.out), ("--report-dir", args.report_dir)):
        problem = _unwritable(directory)
        if problem:
            print(f"error: {option} {directory}: {problem}; nothing was written", file=sys.stderr)
            return 2
    for option, directory in (("--out", args.out), ("--report-dir", args.report_dir)):
        problem = _probe(directory)
        if problem:
            print(f"error: {option}: {problem}; nothing was written", file=sys.stderr)
            return 2
    reports = convert_all(args.paths, args.out, options, args.force, args.jenkinsfile_folder)
    if all(report.status == "skipped" for report in reports):  # folders only: nothing was written
        print(f"error: {_no_definitions(args.paths)} (found only folders: {len(reports)})", file=sys.stderr)
        return 2
    try:
        written = write_reports(args.report_dir, reports)
    except OSError as exc:
        print(f"error: --report-dir {args.report_dir}: cannot write the report: {exc}", file=sys.stderr)
        return 1
    for report in reports:
        if report.status in ("converted", "review"):
            items = len(grouped(report.issues))
            extra = f" ({items} item{'s' if items != 1 else ''} to review)" if items else ""
            print(f"{report.status:9} {report.full_name} -> {report.spec}{extra}")
        elif report.status in ("skipped", "kept"):
            print(f"{report.status:9} {report.full_name}: {report.message}")
        else:
            print(f"{report.status:9} {report.full_name}: {report.message}", file=sys.stderr)
    counts = summary(reports)
    print(
        f"{counts['total']} definitions: {counts['converted']} converted, {counts['review']} to review, "
        f"{counts['kept']} kept, {counts['manual']} manual, {counts['error']} failed, {counts['skipped']} skipped. "
        f"Report: {written.markdown} and {written.json}"
    )
    if written.previous is not None:
        print(f"The previous report is kept as {written.previous}; {written.index} lists every run.")
    return 1 if counts["manual"] or counts["error"] else 0

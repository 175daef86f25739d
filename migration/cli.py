"""Command line: ``python -m migration jenkins PATH... --out DIR``.

Exit status: 0 when every job converted (possibly with items to review), 1 when any job failed or
needs manual migration, 2 for bad command-line arguments (then nothing is written at all).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from batch_platform.jenkins_cron import CronSpecError, validate_timezone
from batch_platform.spec import slug

from migration.convert import FolderDefinition, Options, carry_over, read_definition, to_spec_data
from migration.jenkins_xml import normalize_repository_url
from migration.discover import discover
from migration.model import ConversionError, Issue, ManualMigration
from migration.report import JobReport, summary, write_reports
from migration.writer import HandEdited, render_spec, write_job


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
            spec_path, _ = write_job(out, name, render_spec(data, job.full_name, definition.display), force)
            written[name] = definition.full_name
            report.status = "review" if job.issues else "converted"
            report.dag_id, report.spec = name, str(spec_path)
        except FolderDefinition:
            report.status, report.message = "skipped", "folder: not a job"
        except ManualMigration as exc:
            report.status, report.message = "manual", f"Manual migration needed: {exc}"
            if job is None:  # the reader stopped inside: what it read so far is on the exception's job
                job = getattr(exc, "job", None)
            if job is not None:
                report.carry_over = carry_over(job, options)
        except (ConversionError, HandEdited) as exc:
            report.status, report.message = "error", f"{definition.display}: {exc}"
            read = job or getattr(exc, "job", None)
            if read is not None and (read.timer_spec or read.params or read.triggers or read.upstream):
                report.carry_over = carry_over(read, options)
        if job is not None:
            # Only a written spec has mappings worth reading; issues help with manual work too.
            report.mapped = job.mapped if report.spec else []
            report.issues, report.secrets_redacted = job.issues, job.secrets_scrubbed
            report.noops = job.noops
            if report.spec:
                triggered[report.dag_id] = [slug(t.target) for t in job.triggers] + [slug(u) for u in job.upstream]
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


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    options = _validate(parser, args)
    reports = convert_all(args.paths, args.out, options, args.force, args.jenkinsfile_folder)
    md, js = write_reports(args.report_dir, reports)
    for report in reports:
        if report.status in ("converted", "review"):
            extra = f" ({len(report.issues)} items to review)" if report.issues else ""
            print(f"{report.status:9} {report.full_name} -> {report.spec}{extra}")
        elif report.status == "skipped":
            print(f"skipped   {report.full_name}: {report.message}")
        else:
            print(f"{report.status:9} {report.full_name}: {report.message}", file=sys.stderr)
    counts = summary(reports)
    print(
        f"{counts['total']} definitions: {counts['converted']} converted, {counts['review']} to review, "
        f"{counts['manual']} manual, {counts['error']} failed, {counts['skipped']} skipped. Report: {md} and {js}"
    )
    return 1 if counts["manual"] or counts["error"] else 0

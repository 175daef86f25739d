"""The migration report: per job, what mapped and everything that did not, as Markdown and JSON.

Each element of a job is in one class of the plugin knowledge base (``migration/knowledge.py``): mapped,
no-op (listed for transparency, not an item to review), review (a decision, with its question) or manual.

Statuses: ``converted`` (nothing left to do), ``review`` (spec written; some elements did not map),
``kept`` (a spec edited by hand whose Jenkins job has not changed: left as it is), ``manual`` (not
converted on purpose, e.g. a scripted pipeline), ``error`` (bad input or a refused overwrite; nothing
written for that job), ``skipped`` (a folder's own config.xml: not a job). Items that did not map are
grouped: the same element a thousand times is one line with its count. The report holds no
timestamps, so two runs over the same input produce the same report.

Reports accumulate: ``migration-report.md``/``.json`` are the latest run's; a different earlier
report is moved to ``history/migration-report-<n>.md``/``.json`` first, and ``index.md`` lists every
run with its summary.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import astuple

import yaml
from dataclasses import dataclass, field
from pathlib import Path

from typing import Any

from migration.model import Issue, NoOp

STATUSES = ("converted", "review", "kept", "manual", "error", "skipped")


@dataclass
class JobReport:
    full_name: str
    source: str
    status: str
    spec: str | None = None
    dag_id: str | None = None
    message: str = ""
    mapped: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    noops: list[NoOp] = field(default_factory=list)
    carry_over: dict[str, Any] = field(default_factory=dict)  # manual jobs: what to rebuild by hand
    secrets_redacted: bool = False

    def as_dict(self) -> dict:
        return {
            "full_name": self.full_name,
            "source": self.source,
            "status": self.status,
            "dag_id": self.dag_id,
            "spec": self.spec,
            "message": self.message,
            "mapped": list(self.mapped),
            "not_mapped": [{**issue.as_dict(), "count": count} for issue, count in grouped(self.issues)],
            "no_op": [{**noop.as_dict(), "count": count} for noop, count in grouped(self.noops)],
            **({"carry_over": self.carry_over} if self.carry_over else {}),
            "secrets_redacted": self.secrets_redacted,
        }


def grouped(items: list) -> list[tuple]:
    """Each distinct item (an Issue or a NoOp) once, with how often it occurs, in order of first appearance."""
    counts = Counter(astuple(item) for item in items)
    first = {astuple(item): item for item in reversed(items)}
    return [(first[key], count) for key, count in counts.items()]


def summary(jobs: list[JobReport]) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for job in jobs:
        counts[job.status] += 1
    counts["total"] = len(jobs)
    return counts


def class_counts(jobs: list[JobReport]) -> dict[str, int]:
    """Items per knowledge-base class over all jobs (manual counts jobs)."""
    return {
        "mapped": sum(len(job.mapped) for job in jobs),
        "no-op": sum(len(job.noops) for job in jobs),
        "review": sum(len(job.issues) for job in jobs if job.status in ("converted", "review")),
        "manual": sum(1 for job in jobs if job.status == "manual"),
    }


def to_json(jobs: list[JobReport]) -> str:
    return json.dumps({"summary": summary(jobs), "classes": class_counts(jobs), "jobs": [job.as_dict() for job in jobs]},
                      indent=2) + "\n"


def _source(url: str) -> str:
    return f" ([source]({url}))" if url else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(jobs: list[JobReport]) -> str:
    counts = summary(jobs)
    out = [
        "# Jenkins migration report",
        "",
        _summary_line(counts),
        "",
        "Items by class: " + ", ".join(f"{number} {name}" for name, number in class_counts(jobs).items())
        + " (no-op items need nothing and are listed for transparency).",
        "",
        "| Jenkins job | Status | DAG id | To review | No-op |",
        "|---|---|---|---|---|",
    ]
    for job in jobs:
        out.append(
            f"| `{job.full_name}` | {job.status} | {job.dag_id or '-'} | {len(grouped(job.issues))} | {len(grouped(job.noops))} |"
        )
    for job in jobs:
        out += ["", f"## `{job.full_name}` - {job.status}", "", f"Source: `{job.source}`"]
        if job.spec:
            out.append(f"Spec: `{job.spec}`")
        if job.message:
            out += ["", f"**{job.message}**"]
        if job.secrets_redacted:
            out += ["", "Encrypted Jenkins secrets were found and left out of the spec and this report."]
        if job.mapped:
            out += ["", "Mapped:", ""] + [f"- {_cell(item)}" for item in job.mapped]
        if job.carry_over:
            out += ["", "To carry over by hand (resolved from the Jenkins definition):", "", "```yaml",
                    yaml.safe_dump(job.carry_over, sort_keys=False, allow_unicode=True).rstrip(), "```"]
        if job.issues:
            issues = grouped(job.issues)
            out += ["", "Not mapped (needs a decision):", "", "| Category | Detail | Hint | Count |", "|---|---|---|---|"]
            out += [f"| {i.category} | {_cell(i.detail)} | {_cell(i.hint)}{_source(i.source)} | {n} |" for i, n in issues]
            for issue, _ in issues:
                if issue.raw:
                    out += ["", f"Raw XML of {_cell(issue.detail.split(':')[0])}:", "", "```xml", issue.raw, "```"]
        if job.noops:
            out += ["", "No-op (nothing to do on the batch platform):", ""]
            out += [
                f"- {_cell(n.element)}: {_cell(n.why)}{_source(n.source)}{f' ({count} times)' if count > 1 else ''}"
                for n, count in grouped(job.noops)
            ]
    return "\n".join(out) + "\n"


def _summary_line(counts: dict[str, int]) -> str:
    return (
        f"{counts['total']} definitions: {counts['converted']} converted, {counts['review']} converted with items "
        f"to review, {counts['kept']} kept as edited by hand, {counts['manual']} need manual migration, "
        f"{counts['error']} failed, {counts['skipped']} skipped."
    )


@dataclass(frozen=True)
class WrittenReports:
    markdown: Path
    json: Path
    index: Path
    previous: Path | None
    """Where the previous run's report went (None: there was none, or it was identical)."""


_HISTORY = re.compile(r"^migration-report-(\d+)\.md$")


def write_reports(directory: Path, jobs: list[JobReport]) -> WrittenReports:
    from migration.writer import write_atomic

    md, js = directory / "migration-report.md", directory / "migration-report.json"
    markdown, document = to_markdown(jobs), to_json(jobs)
    history = directory / "history"
    previous = None
    if md.exists() and md.read_text(encoding="utf-8") != markdown:
        numbers = [int(m.group(1)) for p in history.glob("migration-report-*.md") if (m := _HISTORY.match(p.name))]
        number = max(numbers, default=0) + 1
        history.mkdir(exist_ok=True)
        previous = history / f"migration-report-{number:04d}.md"
        md.replace(previous)
        if js.exists():
            js.replace(history / f"migration-report-{number:04d}.json")
    write_atomic(md, markdown)
    write_atomic(js, document)
    index = directory / "index.md"
    write_atomic(index, _index(directory, history))
    return WrittenReports(md, js, index, previous)


def _index(directory: Path, history: Path) -> str:
    lines = ["# Migration reports", "", "Every run of the converter, oldest first; the last one is the latest.", ""]
    runs = sorted(
        (int(m.group(1)), p) for p in history.glob("migration-report-*.md") if (m := _HISTORY.match(p.name))
    )
    for number, path in [*runs, (None, directory / "migration-report.md")]:
        first = path.read_text(encoding="utf-8").splitlines()[2:3]
        label = f"run {number}" if number is not None else "latest"
        lines.append(f"- [{label}]({path.relative_to(directory).as_posix()}): {first[0] if first else ''}")
    return "\n".join(lines) + "\n"

"""The migration report: per job, what mapped and everything that did not, as Markdown and JSON.

Statuses: ``converted`` (nothing left to do), ``review`` (spec written; some elements did not map),
``manual`` (not converted on purpose, e.g. a scripted pipeline), ``error`` (bad input or a refused
overwrite; nothing written for that job), ``skipped`` (a folder's own config.xml: not a job). The
report holds no timestamps, so two runs over the same input produce the same report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from migration.model import Issue

STATUSES = ("converted", "review", "manual", "error", "skipped")


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
            "not_mapped": [issue.as_dict() for issue in self.issues],
            "secrets_redacted": self.secrets_redacted,
        }


def summary(jobs: list[JobReport]) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for job in jobs:
        counts[job.status] += 1
    counts["total"] = len(jobs)
    return counts


def to_json(jobs: list[JobReport]) -> str:
    return json.dumps({"summary": summary(jobs), "jobs": [job.as_dict() for job in jobs]}, indent=2) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(jobs: list[JobReport]) -> str:
    counts = summary(jobs)
    out = [
        "# Jenkins migration report",
        "",
        f"{counts['total']} definitions: {counts['converted']} converted, {counts['review']} converted with items "
        f"to review, {counts['manual']} need manual migration, {counts['error']} failed, {counts['skipped']} skipped.",
        "",
        "| Jenkins job | Status | DAG id | Not mapped |",
        "|---|---|---|---|",
    ]
    for job in jobs:
        out.append(f"| `{job.full_name}` | {job.status} | {job.dag_id or '-'} | {len(job.issues)} |")
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
        if job.issues:
            out += ["", "Not mapped (needs a decision):", "", "| Category | Detail | Hint |", "|---|---|---|"]
            out += [f"| {i.category} | {_cell(i.detail)} | {_cell(i.hint)} |" for i in job.issues]
    return "\n".join(out) + "\n"


def write_reports(directory: Path, jobs: list[JobReport]) -> tuple[Path, Path]:
    from migration.writer import write_atomic

    md, js = directory / "migration-report.md", directory / "migration-report.json"
    write_atomic(md, to_markdown(jobs))
    write_atomic(js, to_json(jobs))
    return md, js

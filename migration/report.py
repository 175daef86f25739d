"""The migration report: per job, what mapped and everything that did not, as Markdown and JSON.

Each element of a job is in one class of the plugin knowledge base (``migration/knowledge.py``): mapped,
no-op (listed for transparency, not an item to review), review (a decision, with its question) or manual.

Statuses: ``converted`` (nothing left to do), ``review`` (spec written; some elements did not map),
``manual`` (not converted on purpose, e.g. a scripted pipeline), ``error`` (bad input or a refused
overwrite; nothing written for that job), ``skipped`` (a folder's own config.xml: not a job). The
report holds no timestamps, so two runs over the same input produce the same report.
"""

from __future__ import annotations

import json

import yaml
from dataclasses import dataclass, field
from pathlib import Path

from typing import Any

from migration.model import Issue, NoOp

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
            "not_mapped": [issue.as_dict() for issue in self.issues],
            "no_op": [noop.as_dict() for noop in self.noops],
            **({"carry_over": self.carry_over} if self.carry_over else {}),
            "secrets_redacted": self.secrets_redacted,
        }


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
        f"{counts['total']} definitions: {counts['converted']} converted, {counts['review']} converted with items "
        f"to review, {counts['manual']} need manual migration, {counts['error']} failed, {counts['skipped']} skipped.",
        "",
        "Items by class: " + ", ".join(f"{number} {name}" for name, number in class_counts(jobs).items())
        + " (no-op items need nothing and are listed for transparency).",
        "",
        "| Jenkins job | Status | DAG id | To review | No-op |",
        "|---|---|---|---|---|",
    ]
    for job in jobs:
        out.append(f"| `{job.full_name}` | {job.status} | {job.dag_id or '-'} | {len(job.issues)} | {len(job.noops)} |")
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
            out += ["", "Not mapped (needs a decision):", "", "| Category | Detail | Hint |", "|---|---|---|"]
            out += [f"| {i.category} | {_cell(i.detail)} | {_cell(i.hint)}{_source(i.source)} |" for i in job.issues]
            for issue in (i for i in job.issues if i.raw):
                out += ["", f"Raw XML of {_cell(issue.detail.split(':')[0])}:", "", "```xml", issue.raw, "```"]
        if job.noops:
            out += ["", "No-op (nothing to do on the batch platform):", ""]
            out += [f"- {_cell(n.element)}: {_cell(n.why)}{_source(n.source)}" for n in job.noops]
    return "\n".join(out) + "\n"


def write_reports(directory: Path, jobs: list[JobReport]) -> tuple[Path, Path]:
    from migration.writer import write_atomic

    md, js = directory / "migration-report.md", directory / "migration-report.json"
    write_atomic(md, to_markdown(jobs))
    write_atomic(js, to_json(jobs))
    return md, js

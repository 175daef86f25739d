"""What the converter knows about one Jenkins job, independent of where it was read from.

Readers (``jenkins_xml``, ``jenkinsfile``) fill a ``JenkinsJob``; ``convert`` turns it into a spec.
Every element a reader sees lands either in a field here (and later in the spec) or in ``issues``:
nothing is dropped silently. ``mapped`` records, for the report, what became what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Jenkins stores secrets encrypted as {AQAAAB...}; such text must never reach a spec or the report.
JENKINS_SECRET_RE = re.compile(r"\{AQAAAB[A-Za-z0-9+/=]+\}")


class ConversionError(Exception):
    """A job that cannot be converted (bad input); the message says where and why."""


class ManualMigration(ConversionError):
    """A job the converter deliberately does not convert (e.g. a scripted pipeline): manual work."""


@dataclass
class Issue:
    """Something in the Jenkins job that has no automatic equivalent."""

    category: str  # plugin, scm-polling, node-label, groovy, parameter, credentials, variable, option, step, ...
    detail: str
    hint: str = ""
    source: str = ""  # the plugin's documentation page, when the knowledge base knows the element
    raw: str = ""  # the element's XML when the converter does not know it, so nothing is lost

    def as_dict(self) -> dict[str, str]:
        item = {"category": self.category, "detail": self.detail, "hint": self.hint}
        if self.source:
            item["source"] = self.source
        if self.raw:
            item["raw"] = self.raw
        return item


@dataclass
class NoOp:
    """An element that needs nothing on the batch platform: listed for transparency, not to review."""

    element: str
    why: str
    source: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"element": self.element, "why": self.why, "source": self.source}


@dataclass
class Trigger:
    target: str  # Jenkins full name of the downstream job
    when: str = "success"  # success | failure | always
    conf: dict[str, str] = field(default_factory=dict)
    wait: bool = False  # wait for the downstream run to finish (blocking TriggerBuilder, pipeline build wait)
    propagate: bool = True  # with wait: this run fails when the downstream run fails
    origin: str = ""  # what Jenkins element the link came from, for the report


@dataclass
class Param:
    name: str
    type: str  # string | text | boolean | choice | password
    default: str | bool | None = None
    choices: list[str] | None = None
    description: str = ""


@dataclass
class ScmScript:
    """A pipeline whose Jenkinsfile lives in a repository (CpsScmFlowDefinition)."""

    url: str
    branch: str
    script_path: str
    read: bool = False  # True once the Jenkinsfile of a local checkout was read


@dataclass
class JenkinsJob:
    full_name: str
    source: str
    kind: str  # freestyle | pipeline | jenkinsfile
    description: str = ""
    disabled: bool = False
    concurrent: bool | None = None
    timer_spec: str | None = None
    params: list[Param] = field(default_factory=list)
    shell_steps: list[str] = field(default_factory=list)
    docker_image: str | None = None
    timeout_minutes: int | None = None
    retries: int | None = None
    retry_delay_seconds: int | None = None
    emails: list[str] = field(default_factory=list)
    slack_channel: str | None = None
    triggers: list[Trigger] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)  # ReverseBuildTrigger: Jenkins full names this job runs after
    max_active_runs: int | None = None  # throttle-concurrents total limit
    env: dict[str, str] = field(default_factory=dict)
    mapped: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    noops: list[NoOp] = field(default_factory=list)
    scm_script: ScmScript | None = None
    secrets_scrubbed: bool = False

    def issue(self, category: str, detail: str, hint: str = "", source: str = "", raw: str = "") -> None:
        self.issues.append(Issue(category, self.scrub(detail), hint, source, self.scrub(raw)))

    def noop(self, element: str, why: str, source: str = "") -> None:
        self.noops.append(NoOp(element, why, source))

    def scrub(self, text: str) -> str:
        """Text with Jenkins-encrypted secrets removed (remembered, so the report can say so)."""
        cleaned = JENKINS_SECRET_RE.sub("<redacted Jenkins secret>", text)
        if cleaned != text:
            self.secrets_scrubbed = True
        return cleaned

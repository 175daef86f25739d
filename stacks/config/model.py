"""The typed model of a whole stack file (``Pulumi.<stack>.yaml``). Defaults live here and only here.

Every key sits under the project's namespace (``batch-platform:<section>``). Defaults are the
production-shaped choice; a cheaper environment loosens them explicitly in its stack file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stacks.config.base import Section
from stacks.config.cluster import ClusterConfig
from stacks.config.network import NetworkConfig
from stacks.config.problems import Problem

NAMESPACE = "batch-platform"

TIERS = ("dev", "prod")


class StackConfig(Section):
    """Everything one environment needs. Sections are documented on their own models."""

    tier: Literal["dev", "prod"] = Field(
        description="dev is cheap and disposable; prod adds the resilience and protection rules."
    )
    region: str = Field(
        pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$",
        description="AWS region every resource of the stack lives in, e.g. eu-west-1.",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Extra tags on every AWS resource (added to the provider's default tags).",
    )
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    def problems(self, tier: str, path: str = "") -> list[Problem]:
        found: list[Problem] = []
        for name in type(self).model_fields:
            section = getattr(self, name)
            if isinstance(section, Section):
                found += section.problems(tier, name)
        for key in self.tags:
            if key.lower().startswith("aws:"):
                found.append(Problem(f"tags.{key}", key, "tag keys starting with aws: are reserved by AWS"))
        return found

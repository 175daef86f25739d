"""Config section ``cluster``: the EKS control plane, who administers it, and its managed node groups."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal, Optional

from pydantic import Field, field_validator

from infra.amis import release_version_problem
from infra.aws_catalog import instance_type_problem
from infra.versions import DEFAULT_KUBERNETES_VERSION, SUPPORTED_KUBERNETES_VERSIONS
from stacks.config.base import RetentionDays, Section
from stacks.config.patching import PatchingConfig
from stacks.config.problems import Problem

REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")

# An IAM role ARN, optionally with a path (e.g. aws-reserved/sso.amazonaws.com/...).
_ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
# Graviton families (m6g, c7gn, t4g, r8g...) need the arm64 AMI types, which we do not build for.
_ARM_FAMILY = re.compile(r"^[a-z]+\d+g[a-z]*$")
_PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
)


class NodeGroupConfig(Section):
    """One managed node group: instance types, capacity type, size bounds, disk, AMI and how it rolls."""

    instance_types: list[str] = Field(
        min_length=1,
        description="EC2 instance types (x86_64), all of about the same size: the autoscaler plans with the first.",
    )
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(
        "ON_DEMAND", description="ON_DEMAND, or SPOT (cheaper, but AWS may reclaim a node with 2 minutes' notice)."
    )
    min_size: int = Field(ge=0, description="Fewest nodes; the autoscaler never goes below it.")
    max_size: int = Field(ge=1, le=450, description="Most nodes; the autoscaler never goes above it.")
    desired_size: int = Field(
        ge=0,
        description="Nodes at creation; afterwards the autoscaler owns it (later changes here are ignored).",
    )
    disk_size_gib: int = Field(50, ge=20, le=16384, description="Encrypted gp3 volume for images and pod storage, GiB.")
    max_unavailable: Optional[int] = Field(
        None, ge=1, le=100, description="Nodes replaced at once during a roll (default 1 when no percentage is set)."
    )
    max_unavailable_percentage: Optional[int] = Field(
        None, ge=1, le=100, description="Share of nodes replaced at once during a roll, instead of max_unavailable."
    )
    ami_type: Literal["AL2023", "BOTTLEROCKET"] = Field(
        "AL2023", description="Amazon Linux 2023 (default) or Bottlerocket."
    )
    ami_release_version: Optional[str] = Field(
        None,
        description="Pin of the AMI release (e.g. the value dev reports in node_group_release_versions); "
        "unset = the release AWS recommends, read from SSM on every run.",
    )

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, value: list[str]) -> list[str]:
        for item in value:
            problem = instance_type_problem(item)
            if problem:
                raise ValueError(f"{item}: {problem}")
            if _ARM_FAMILY.match(item.split(".")[0]):
                raise ValueError(
                    f"{item} is a Graviton (arm64) type; node groups use x86_64 AMIs: choose an Intel/AMD type such as m6i"
                )
        if len(set(value)) != len(value):
            raise ValueError("expected each instance type once")
        return value

    def roll_settings(self) -> tuple[Optional[int], Optional[int]]:
        """(max_unavailable, max_unavailable_percentage) with the default of one node at a time."""
        if self.max_unavailable is None and self.max_unavailable_percentage is None:
            return 1, None
        return self.max_unavailable, self.max_unavailable_percentage

    def problems(self, tier: str, path: str) -> list[Problem]:
        found = []
        if self.max_size < self.min_size:
            found.append(Problem(f"{path}.max_size", self.max_size, f"must be >= min_size ({self.min_size})"))
        elif not self.min_size <= self.desired_size <= self.max_size:
            found.append(
                Problem(
                    f"{path}.desired_size",
                    self.desired_size,
                    f"must be between min_size ({self.min_size}) and max_size ({self.max_size})",
                )
            )
        if self.max_unavailable is not None and self.max_unavailable_percentage is not None:
            found.append(
                Problem(
                    f"{path}.max_unavailable_percentage",
                    self.max_unavailable_percentage,
                    "set either max_unavailable or max_unavailable_percentage, not both",
                )
            )
        return found


class NodeGroupsConfig(Section):
    """The two node groups of the platform (labels and taints come from infra/scheduling.py)."""

    system: NodeGroupConfig = Field(
        default_factory=lambda: NodeGroupConfig(
            instance_types=["m6i.large"], min_size=3, max_size=6, desired_size=3
        ),
        description="Airflow and the cluster add-ons; on-demand, tainted so batch pods cannot land there.",
    )
    batch: NodeGroupConfig = Field(
        default_factory=lambda: NodeGroupConfig(
            instance_types=["m6i.2xlarge"], min_size=0, max_size=20, desired_size=0
        ),
        description="Batch Jobs only; scaled by the Cluster Autoscaler between min_size and max_size.",
    )


class ClusterConfig(Section):
    """The EKS cluster: version, API endpoint access, administrators, control-plane logs, node groups."""

    kubernetes_version: str = Field(
        DEFAULT_KUBERNETES_VERSION,
        description="EKS versions in standard support whose add-ons are pinned in infra/versions.py",
    )
    endpoint_public_access_cidrs: list[str] = Field(
        default_factory=list,
        description="Public ranges allowed to reach the Kubernetes API from the internet; empty = private endpoint only.",
    )
    allow_public_endpoint_from_anywhere: bool = Field(
        False, description="Must be true to accept 0.0.0.0/0 in endpoint_public_access_cidrs."
    )
    admin_role_arns: list[str] = Field(
        default_factory=list,
        description="IAM roles given cluster-admin through EKS access entries (the creator is admin too).",
    )
    control_plane_log_types: list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]] = Field(
        default_factory=lambda: list(REQUIRED_LOG_TYPES),
        description="Control-plane logs sent to CloudWatch; api, audit and authenticator are required.",
    )
    control_plane_log_retention_days: RetentionDays = Field(
        365, description="How long control-plane logs are kept in CloudWatch Logs."
    )
    node_groups: NodeGroupsConfig = Field(default_factory=NodeGroupsConfig)
    patching: PatchingConfig = Field(default_factory=PatchingConfig)

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if isinstance(value, (int, float)):
            raise ValueError(
                f'expected a quoted version string such as "{DEFAULT_KUBERNETES_VERSION}" '
                "(unquoted, YAML reads 1.30 as the number 1.3)"
            )
        if value not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(f"expected one of {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}")
        return value

    @field_validator("endpoint_public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                network = ipaddress.IPv4Network(item, strict=True)
            except ValueError as exc:
                raise ValueError(f"expected IPv4 ranges in CIDR notation such as 203.0.113.0/24, got {item!r} ({exc})") from None
            if network.prefixlen and any(network.overlaps(r) for r in _PRIVATE_RANGES):
                raise ValueError(
                    f"{item} is a private range: the public endpoint only sees public addresses "
                    "(the VPC reaches the private endpoint already)"
                )
        return value

    @field_validator("admin_role_arns")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _ROLE_ARN.match(item):
                raise ValueError(
                    f"expected IAM role ARNs such as arn:aws:iam::123456789012:role/platform-admin, got {item!r}"
                )
        if len(set(value)) != len(value):
            raise ValueError("expected each role once")
        return value

    def problems(self, tier: str, path: str) -> list[Problem]:
        found: list[Problem] = []
        open_ranges = [c for c in self.endpoint_public_access_cidrs if c.endswith("/0")]
        if open_ranges and not self.allow_public_endpoint_from_anywhere:
            found.append(
                Problem(
                    f"{path}.endpoint_public_access_cidrs",
                    self.endpoint_public_access_cidrs,
                    f"{open_ranges[0]} opens the Kubernetes API to the whole internet; list your own public "
                    f"ranges, or set {path}.allow_public_endpoint_from_anywhere: true to accept it knowingly",
                )
            )
        missing = [t for t in REQUIRED_LOG_TYPES if t not in self.control_plane_log_types]
        if missing:
            found.append(
                Problem(
                    f"{path}.control_plane_log_types",
                    self.control_plane_log_types,
                    f"must include {', '.join(REQUIRED_LOG_TYPES)} (missing {', '.join(missing)}): "
                    "who called the API and with which identity is what an incident review needs",
                )
            )
        groups = f"{path}.node_groups"
        for role in ("system", "batch"):
            group: NodeGroupConfig = getattr(self.node_groups, role)
            found += group.problems(tier, f"{groups}.{role}")
            if group.ami_release_version is not None:
                why = release_version_problem(group.ami_type, self.kubernetes_version, group.ami_release_version)
                if why:
                    found.append(Problem(f"{groups}.{role}.ami_release_version", group.ami_release_version, why))
        found += self.patching.problems(tier, f"{path}.patching")
        system = self.node_groups.system
        if system.capacity_type != "ON_DEMAND":
            found.append(
                Problem(
                    f"{groups}.system.capacity_type",
                    system.capacity_type,
                    "expected ON_DEMAND: the system group runs Airflow and the add-ons, which a spot "
                    "reclaim would take down",
                )
            )
        if tier == "prod" and system.min_size < 2:
            found.append(
                Problem(
                    f"{groups}.system.min_size",
                    system.min_size,
                    "prod needs >= 2 system nodes: with one, every AMI roll or AZ failure stops Airflow",
                )
            )
        return found

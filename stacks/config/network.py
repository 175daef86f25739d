"""Config section ``network``: the VPC and its subnets."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from infra.cidr import MAX_AZ_COUNT, MIN_AZ_COUNT, CidrPlanError, plan_subnets
from stacks.config.base import RetentionDays, Section
from stacks.config.problems import Problem


class NetworkConfig(Section):
    """The VPC: CIDR, how many AZs it spans, NAT strategy and flow logs."""

    vpc_cidr: str = Field(
        "10.0.0.0/16",
        description="VPC range; a /16 gives each AZ a /19 private subnet for nodes and pods.",
    )
    az_count: int = Field(
        3,
        ge=MIN_AZ_COUNT,
        le=MAX_AZ_COUNT,
        description="AZs to spread subnets over; EKS needs at least 2, 3 survives the loss of one.",
    )
    nat_gateways: Literal["one_per_az", "single"] = Field(
        "one_per_az",
        description="one_per_az keeps egress up when an AZ fails; single is cheaper (dev).",
    )
    flow_logs_retention_days: RetentionDays = Field(
        365, description="How long VPC flow logs are kept in CloudWatch Logs."
    )

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr(cls, value: str) -> str:
        # Checked on its own (the subnet layout reserves room for the most AZs whatever az_count is),
        # so a bad range is reported together with every other problem of the section.
        if "/" not in value:
            raise ValueError("expected an IPv4 network with its prefix length, such as 10.0.0.0/16")
        try:
            plan_subnets(value, MIN_AZ_COUNT)
        except CidrPlanError as exc:
            raise ValueError(str(exc)) from None
        return value

    def problems(self, tier: str, path: str) -> list[Problem]:
        found = []
        if tier == "prod" and self.nat_gateways != "one_per_az":
            found.append(
                Problem(
                    f"{path}.nat_gateways",
                    self.nat_gateways,
                    "prod needs one_per_az: with a single NAT gateway, losing its AZ cuts every "
                    "node's egress (image pulls, AWS APIs)",
                )
            )
        return found

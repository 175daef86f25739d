"""The composition: one environment built from its typed config.

This is the only place that knows how the infra components fit together. ``__main__.py`` (for
``pulumi up``) and the offline plan (``python -m stacks plan``) both call ``build_environment``.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.network import Network, NetworkArgs
from stacks.config import Problem, StackConfig, StackConfigError
from stacks.data import build_data_stores

PROJECT = "batch-platform"


def default_tags(config: StackConfig, stack: str) -> dict[str, str]:
    """Tags the AWS provider puts on every resource it manages (cost allocation, ownership)."""
    return {"project": PROJECT, "environment": stack, "managed-by": "pulumi", **config.tags}


def build_environment(config: StackConfig, stack: str) -> dict[str, Any]:
    """Register every resource of the environment and return the stack outputs (name -> value)."""
    aws_provider = aws.Provider(
        "aws",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(config, stack)),
    )
    on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})

    zones = aws.get_availability_zones(
        state="available",
        # Local Zones and Wavelength Zones are opt-in and lack most services: regular AZs only.
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
        opts=pulumi.InvokeOptions(provider=aws_provider),
    )
    wanted = config.network.az_count
    if len(zones.names) < wanted:
        raise StackConfigError(
            f"Pulumi.{stack}.yaml",
            [Problem("network.az_count", wanted, f"{config.region} has only {len(zones.names)} AZs available: {zones.names}")],
        )

    network = Network(
        f"{stack}-network",
        NetworkArgs(
            availability_zones=sorted(zones.names)[:wanted],
            vpc_cidr=config.network.vpc_cidr,
            nat_gateways=config.network.nat_gateways,
            flow_logs_retention_days=config.network.flow_logs_retention_days,
        ),
        opts=on_aws,
    )

    data = build_data_stores(config, stack, network, project=PROJECT, aws_provider=aws_provider)

    return {
        "region": config.region,
        "vpc_id": network.vpc.id,
        "public_subnet_ids": network.public_subnet_ids,
        "private_subnet_ids": network.private_subnet_ids,
        "database_subnet_ids": network.database_subnet_ids,
        **data.stack_outputs(),
    }

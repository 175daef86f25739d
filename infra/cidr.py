"""CIDR planning for the network: a pure function of (VPC CIDR, number of AZs).

Each AZ gets three subnets, carved from the VPC range in a fixed order so that the plan for a given
input never changes (changing a subnet CIDR replaces the subnet and everything in it):

* private  (VPC prefix + 3, a /19 in a /16): nodes and pods. The VPC CNI gives every pod a VPC
  address, so these are by far the largest; a /19 holds 8,187 usable addresses.
* public   (VPC prefix + 6, a /22 in a /16): load balancers and NAT gateways only.
* database (VPC prefix + 8, a /24 in a /16): RDS, isolated (no route to the internet).

Blocks are allocated largest first, each aligned on its own size, so they never overlap. Slots are
reserved for MAX_AZ_COUNT AZs whatever ``az_count`` is, so subnet i of a tier depends only on the
VPC CIDR and i: raising the AZ count later adds subnets without moving (replacing) existing ones.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PRIVATE_EXTRA_BITS = 3
PUBLIC_EXTRA_BITS = 6
DATABASE_EXTRA_BITS = 8

# The VPC CNI needs room for pods: below this, a node group of a few dozen nodes runs out of IPs.
MIN_PRIVATE_PREFIX = 22
MIN_AZ_COUNT = 2
MAX_AZ_COUNT = 6
# AWS accepts VPC CIDR blocks from /16 (largest) to /28 (smallest).
LARGEST_VPC_PREFIX = 16


class CidrPlanError(ValueError):
    """The VPC CIDR cannot hold the subnets asked for. The message says why and what would fit."""


@dataclass(frozen=True)
class SubnetPlan:
    """Subnet CIDRs per tier, index i being the i-th availability zone."""

    vpc: ipaddress.IPv4Network
    public: tuple[ipaddress.IPv4Network, ...]
    private: tuple[ipaddress.IPv4Network, ...]
    database: tuple[ipaddress.IPv4Network, ...]

    def all_subnets(self) -> list[ipaddress.IPv4Network]:
        return [*self.public, *self.private, *self.database]


def plan_subnets(vpc_cidr: str, az_count: int) -> SubnetPlan:
    """Return the public, private and database subnets for ``az_count`` AZs inside ``vpc_cidr``.

    Raises CidrPlanError when the CIDR is malformed, not a network address, larger than AWS allows,
    or too small to give every AZ a private subnet of at least /22.
    """
    try:
        vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    except ValueError as exc:
        raise CidrPlanError(f"expected an IPv4 network in CIDR notation such as 10.0.0.0/16 ({exc})") from None
    if not MIN_AZ_COUNT <= az_count <= MAX_AZ_COUNT:
        raise CidrPlanError(f"AZ count must be between {MIN_AZ_COUNT} and {MAX_AZ_COUNT}, got {az_count}")
    if vpc.prefixlen < LARGEST_VPC_PREFIX:
        raise CidrPlanError(f"AWS VPCs are at most a /{LARGEST_VPC_PREFIX}; got a /{vpc.prefixlen}")
    if not (vpc.is_private or vpc.subnet_of(ipaddress.IPv4Network("100.64.0.0/10"))):
        raise CidrPlanError("expected a private range (RFC 1918 10/8, 172.16/12, 192.168/16, or 100.64/10)")

    private_prefix = vpc.prefixlen + PRIVATE_EXTRA_BITS
    if private_prefix > MIN_PRIVATE_PREFIX:
        largest_vpc = MIN_PRIVATE_PREFIX - PRIVATE_EXTRA_BITS
        raise CidrPlanError(
            f"too small: each private subnet would be a /{private_prefix} "
            f"({2 ** (32 - private_prefix)} addresses) but the VPC CNI gives every pod a VPC address, "
            f"so private subnets must be /{MIN_PRIVATE_PREFIX} or larger; use a /{largest_vpc} or larger VPC"
        )

    cursor = int(vpc.network_address)
    end = int(vpc.broadcast_address) + 1

    def allocate(prefix: int) -> tuple[ipaddress.IPv4Network, ...]:
        nonlocal cursor
        size = 2 ** (32 - prefix)
        blocks = []
        for _ in range(MAX_AZ_COUNT):
            cursor = -(-cursor // size) * size  # align up to the block size
            if cursor + size > end:
                raise CidrPlanError("the subnets do not fit in the VPC; use a larger VPC")
            blocks.append(ipaddress.IPv4Network((cursor, prefix)))
            cursor += size
        return tuple(blocks[:az_count])

    private = allocate(private_prefix)
    public = allocate(vpc.prefixlen + PUBLIC_EXTRA_BITS)
    database = allocate(vpc.prefixlen + DATABASE_EXTRA_BITS)
    return SubnetPlan(vpc=vpc, public=public, private=private, database=database)

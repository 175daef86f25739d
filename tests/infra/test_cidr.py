"""CIDR planning: a pure function of (VPC CIDR, AZ count)."""

import ipaddress
import itertools

import pytest

from infra.cidr import MAX_AZ_COUNT, CidrPlanError, plan_subnets


@pytest.mark.parametrize("az_count", range(2, MAX_AZ_COUNT + 1))
@pytest.mark.parametrize("vpc", ["10.0.0.0/16", "172.16.0.0/17", "192.168.0.0/18", "100.64.0.0/19"])
def test_no_overlaps_and_everything_inside_the_vpc(vpc, az_count):
    plan = plan_subnets(vpc, az_count)
    subnets = plan.all_subnets()
    assert len(subnets) == 3 * az_count
    assert all(s.subnet_of(ipaddress.IPv4Network(vpc)) for s in subnets)
    for a, b in itertools.combinations(subnets, 2):
        assert not a.overlaps(b), f"{a} overlaps {b}"


def test_default_cidr_gives_each_az_a_slash19_private_subnet():
    plan = plan_subnets("10.0.0.0/16", 3)
    assert [str(s) for s in plan.private] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert [s.prefixlen for s in plan.public] == [22, 22, 22]
    assert [s.prefixlen for s in plan.database] == [24, 24, 24]


def test_adding_an_az_never_moves_existing_subnets():
    two, three = plan_subnets("10.0.0.0/16", 2), plan_subnets("10.0.0.0/16", 3)
    assert three.private[:2] == two.private
    assert three.public[:2] == two.public
    assert three.database[:2] == two.database


def test_smallest_accepted_vpc_still_gives_slash22_private_subnets():
    plan = plan_subnets("10.0.0.0/19", 6)
    assert {s.prefixlen for s in plan.private} == {22}


@pytest.mark.parametrize(
    "vpc, az_count, message",
    [
        ("10.0.0.0/20", 2, "too small: each private subnet would be a /23 (512 addresses)"),
        ("10.0.0.0/24", 3, "use a /19 or larger VPC"),
        ("10.0.0.0/15", 3, "AWS VPCs are at most a /16; got a /15"),
        ("10.0.0.1/16", 3, "expected an IPv4 network in CIDR notation"),
        ("not-a-cidr", 3, "expected an IPv4 network in CIDR notation"),
        ("8.8.0.0/16", 3, "expected a private range"),
        ("10.0.0.0/16", 1, "AZ count must be between 2 and 6, got 1"),
        ("10.0.0.0/16", 7, "AZ count must be between 2 and 6, got 7"),
    ],
)
def test_rejects_what_cannot_work_with_a_clear_message(vpc, az_count, message):
    with pytest.raises(CidrPlanError) as err:
        plan_subnets(vpc, az_count)
    assert message in str(err.value)

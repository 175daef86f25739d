"""The Network component, as the dev and prod stacks register it (recorded under mocks, preview=False)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from infra.cidr import plan_subnets
from infra.network import Network, NetworkArgs, flow_logs_policy
from stacks.offline import record

SUBNET = "aws:ec2/subnet:Subnet"


def subnets_by_tier(plan) -> dict[str, list]:
    tiers: dict[str, list] = {}
    for subnet in plan.of_type(SUBNET):
        tiers.setdefault(subnet.input("tags.tier"), []).append(subnet)
    return tiers


@pytest.fixture(params=["dev", "prod"])
def stack_plan(request, dev_plan, prod_plan):
    return {"dev": dev_plan, "prod": prod_plan}[request.param]


def test_vpc_has_dns_support_and_the_configured_cidr(stack_plan):
    vpc = stack_plan.one("aws:ec2/vpc:Vpc")
    assert vpc.input("cidrBlock") == stack_plan.config.network.vpc_cidr
    assert vpc.input("enableDnsSupport") is True
    assert vpc.input("enableDnsHostnames") is True


def test_one_subnet_per_tier_and_az_with_the_planned_cidrs(stack_plan):
    network = stack_plan.config.network
    expected = plan_subnets(network.vpc_cidr, network.az_count)
    tiers = subnets_by_tier(stack_plan)
    assert set(tiers) == {"public", "private", "database"}
    for tier, cidrs in (("public", expected.public), ("private", expected.private), ("database", expected.database)):
        subnets = sorted(tiers[tier], key=lambda s: s.input("availabilityZone"))
        assert len(subnets) == network.az_count
        assert len({s.input("availabilityZone") for s in subnets}) == network.az_count
        assert [s.input("cidrBlock") for s in subnets] == [str(c) for c in cidrs]


def test_private_subnets_are_at_least_slash19_at_the_default_size(stack_plan):
    for subnet in subnets_by_tier(stack_plan)["private"]:
        assert int(subnet.input("cidrBlock").split("/")[1]) <= 19


def test_eks_load_balancer_tags(stack_plan):
    tiers = subnets_by_tier(stack_plan)
    assert all(s.input("tags")["kubernetes.io/role/elb"] == "1" for s in tiers["public"])
    assert all(s.input("tags")["kubernetes.io/role/internal-elb"] == "1" for s in tiers["private"])
    assert not any("kubernetes.io/role/elb" in s.input("tags") for s in tiers["private"] + tiers["database"])
    assert not any("kubernetes.io/role/internal-elb" in s.input("tags") for s in tiers["public"] + tiers["database"])


def test_no_subnet_hands_out_public_ips(stack_plan):
    assert all(not s.input("mapPublicIpOnLaunch", False) for s in stack_plan.of_type(SUBNET))


def test_nat_gateways_per_az_in_prod_and_one_in_dev(dev_plan, prod_plan):
    for plan, expected in ((dev_plan, 1), (prod_plan, 3)):
        nats = plan.of_type("aws:ec2/natGateway:NatGateway")
        assert len(nats) == expected
        assert len(plan.of_type("aws:ec2/eip:Eip")) == expected
        public_ids = {f"{s.name}-id" for s in subnets_by_tier(plan)["public"]}
        assert {n.input("subnetId") for n in nats} <= public_ids


def test_private_routes_go_through_their_own_azs_nat_in_prod(prod_plan):
    routes = [r for r in prod_plan.of_type("aws:ec2/route:Route") if r.input("natGatewayId")]
    assert len(routes) == 3
    for route in routes:
        suffix = route.name.rsplit("-", 1)[1]
        assert route.input("natGatewayId") == f"prod-network-nat-{suffix}-id"
        assert route.input("destinationCidrBlock") == "0.0.0.0/0"


def test_all_private_routes_share_the_single_nat_in_dev(dev_plan):
    routes = [r for r in dev_plan.of_type("aws:ec2/route:Route") if r.input("natGatewayId")]
    assert {r.input("natGatewayId") for r in routes} == {"dev-network-nat-a-id"}
    assert len(routes) == 2


def test_route_table_associations_isolate_the_database_tier(stack_plan):
    az_count = stack_plan.config.network.az_count
    associations = stack_plan.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    assert len(associations) == 3 * az_count
    stack = stack_plan.stack
    db_rt = f"{stack}-network-database-rt-id"
    db_assoc = [a for a in associations if a.input("routeTableId") == db_rt]
    assert len(db_assoc) == az_count
    # The database route table has no route at all: no internet, no NAT.
    assert not [r for r in stack_plan.of_type("aws:ec2/route:Route") if r.input("routeTableId") == db_rt]
    public_default = stack_plan.one("aws:ec2/route:Route", f"{stack}-network-public-default")
    assert public_default.input("gatewayId") == f"{stack}-network-igw-id"


def test_db_subnet_group_holds_exactly_the_database_subnets(stack_plan):
    group = stack_plan.one("aws:rds/subnetGroup:SubnetGroup")
    database_ids = {f"{s.name}-id" for s in subnets_by_tier(stack_plan)["database"]}
    assert set(group.input("subnetIds")) == database_ids


def test_flow_logs_capture_all_traffic_into_a_log_group_with_retention(stack_plan):
    flow_log = stack_plan.one("aws:ec2/flowLog:FlowLog")
    log_group = stack_plan.one("aws:cloudwatch/logGroup:LogGroup", f"{stack_plan.stack}-network-flow-logs")
    assert flow_log.input("trafficType") == "ALL"
    assert flow_log.input("logDestinationType") == "cloud-watch-logs"
    assert flow_log.input("logDestination") == log_group.input("arn", f"arn:aws:logs:eu-west-1:123456789012:loggroup/{log_group.input('name')}")
    assert log_group.input("retentionInDays") == stack_plan.config.network.flow_logs_retention_days
    role = stack_plan.one("aws:iam/role:Role", f"{stack_plan.stack}-network-flow-logs")
    trust = json.loads(role.input("assumeRolePolicy"))
    assert trust["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}


def test_flow_logs_role_may_write_only_to_its_log_group():
    policy = json.loads(flow_logs_policy("arn:aws:logs:eu-west-1:1:log-group:/x"))
    (statement,) = policy["Statement"]
    assert statement["Resource"] == ["arn:aws:logs:eu-west-1:1:log-group:/x", "arn:aws:logs:eu-west-1:1:log-group:/x:*"]
    assert "logs:*" not in statement["Action"]


def test_s3_gateway_endpoint_serves_private_and_database_route_tables(stack_plan):
    endpoint = stack_plan.one("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.input("vpcEndpointType") == "Gateway"
    assert endpoint.input("serviceName") == f"com.amazonaws.{stack_plan.config.region}.s3"
    az_count = stack_plan.config.network.az_count
    assert len(endpoint.input("routeTableIds")) == az_count + 1


def test_default_security_group_is_emptied(stack_plan):
    default_sg = stack_plan.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not default_sg.input("ingress")
    assert not default_sg.input("egress")


def test_every_network_resource_is_parented_to_the_component(stack_plan):
    component = stack_plan.one("batch-platform:infra:Network")
    network_types = ("aws:ec2/", "aws:cloudwatch/", "aws:iam/", "aws:rds/subnetGroup")
    children = [r for r in stack_plan.resources if r.name.startswith(f"{stack_plan.stack}-network")]
    assert len(children) > 20
    assert all(r.parent == component.urn for r in children if r.type.startswith(network_types))


def test_every_network_resource_uses_the_explicit_provider(stack_plan):
    provider = stack_plan.one("pulumi:providers:aws")
    assert provider.input("region") == stack_plan.config.region
    assert all(r.provider and r.provider.startswith(provider.urn) for r in stack_plan.resources if r.type.startswith("aws:"))


def test_provider_tags_every_resource_with_its_environment(stack_plan):
    tags = stack_plan.one("pulumi:providers:aws").input("defaultTags")
    tags = json.loads(tags) if isinstance(tags, str) else tags
    assert tags["tags"]["environment"] == stack_plan.stack
    assert tags["tags"]["managed-by"] == "pulumi"


def test_the_component_alone_with_four_azs():
    def program():
        network = Network(
            "t",
            NetworkArgs(availability_zones=["x-1a", "x-1b", "x-1c", "x-1d"], nat_gateways="single"),
        )
        return {"private": network.private_subnet_ids, "vpc": network.vpc.id}

    plan = record(program, region="x-1")
    assert Counter(s.input("tags.tier") for s in plan.of_type(SUBNET)) == {"public": 4, "private": 4, "database": 4}
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert plan.outputs["private"] == ["t-private-a-id", "t-private-b-id", "t-private-c-id", "t-private-d-id"]

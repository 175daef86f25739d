"""The Network component: VPC, three subnet tiers per AZ, NAT, routing, flow logs, S3 endpoint.

Tiers (CIDRs from ``infra.cidr.plan_subnets``):

* public: load balancers and NAT gateways; route to the internet gateway; tagged
  ``kubernetes.io/role/elb`` so the AWS Load Balancer Controller may place internet-facing LBs.
* private: nodes and pods; default route to a NAT gateway (the AZ's own, or the single one);
  tagged ``kubernetes.io/role/internal-elb`` for internal load balancers.
* database: isolated (no route to the internet at all), grouped in a DB subnet group.

The VPC's default security group is emptied (no rules), so nothing can fall back on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra.log_groups import service_log_group
from infra.cidr import plan_subnets

FLOW_LOGS_SERVICE = "vpc-flow-logs.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """Inputs of the Network component."""

    availability_zones: Sequence[str]
    """AZ names, one set of subnets per AZ (its length is the AZ count; at least 2)."""

    vpc_cidr: str = "10.0.0.0/16"
    """VPC range. The default gives every private subnet a /19 (room for pods under the VPC CNI)."""

    nat_gateways: Literal["one_per_az", "single"] = "one_per_az"
    """one_per_az (default) keeps egress up when an AZ fails; single saves cost outside prod."""

    flow_logs_retention_days: int = 365
    """Retention of the VPC flow logs in CloudWatch Logs (must be a value CloudWatch accepts)."""

    tags: dict[str, str] = field(default_factory=dict)
    """Tags for every resource, on top of the provider's default tags."""

    cluster_name: Optional[str] = None
    """EKS cluster using the public and private subnets: they get ``kubernetes.io/cluster/<name>=shared``,
    which the Kubernetes service controller uses to pick subnets for load balancers. Default: none."""


class Network(pulumi.ComponentResource):
    """A VPC laid out for EKS and RDS across ``len(args.availability_zones)`` AZs."""

    vpc: aws.ec2.Vpc
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    database_subnet_ids: pulumi.Output[list[str]]
    db_subnet_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:Network", name, None, opts)
        azs = list(args.availability_zones)
        plan = plan_subnets(args.vpc_cidr, len(azs))
        child = pulumi.ResourceOptions(parent=self)

        def tags(role: str, **extra: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{role}", **extra}

        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"} if args.cluster_name else {}

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(plan.vpc),
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=child,
        )

        # CIS AWS 5.4: the default security group must allow nothing.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=self.vpc.id, tags=tags("default-sg"), opts=child)

        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tags("igw"), opts=child)

        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=self.vpc.id, tags=tags("public-rt"), opts=child)
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        database_rt = aws.ec2.RouteTable(
            f"{name}-database-rt", vpc_id=self.vpc.id, tags=tags("database-rt"), opts=child
        )

        public, private, database = [], [], []
        private_route_tables = []
        nat_ids: list[pulumi.Output[str]] = []
        for i, az in enumerate(azs):
            suffix = az[-1] if az[-1].isalpha() else str(i)
            pub = aws.ec2.Subnet(
                f"{name}-public-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=str(plan.public[i]),
                availability_zone=az,
                map_public_ip_on_launch=False,
                tags=tags(f"public-{suffix}", **{"kubernetes.io/role/elb": "1", "tier": "public"}, **cluster_tag),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{suffix}", subnet_id=pub.id, route_table_id=public_rt.id, opts=child
            )
            public.append(pub)

            if args.nat_gateways == "one_per_az" or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{suffix}", domain="vpc", tags=tags(f"nat-{suffix}"), opts=child)
                nat = aws.ec2.NatGateway(
                    f"{name}-nat-{suffix}",
                    allocation_id=eip.id,
                    subnet_id=pub.id,
                    tags=tags(f"nat-{suffix}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
                nat_ids.append(nat.id)

            priv = aws.ec2.Subnet(
                f"{name}-private-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=str(plan.private[i]),
                availability_zone=az,
                tags=tags(f"private-{suffix}", **{"kubernetes.io/role/internal-elb": "1", "tier": "private"}, **cluster_tag),
                opts=child,
            )
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{suffix}", vpc_id=self.vpc.id, tags=tags(f"private-rt-{suffix}"), opts=child
            )
            aws.ec2.Route(
                f"{name}-private-default-{suffix}",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_ids[-1],
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}", subnet_id=priv.id, route_table_id=rt.id, opts=child
            )
            private.append(priv)
            private_route_tables.append(rt)

            db = aws.ec2.Subnet(
                f"{name}-database-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=str(plan.database[i]),
                availability_zone=az,
                tags=tags(f"database-{suffix}", tier="database"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-database-{suffix}", subnet_id=db.id, route_table_id=database_rt.id, opts=child
            )
            database.append(db)

        db_subnet_group = aws.rds.SubnetGroup(
            f"{name}-db",
            description=f"Isolated database subnets of {name}",
            subnet_ids=[s.id for s in database],
            tags=tags("db"),
            opts=child,
        )

        # S3 traffic (image layers from ECR, task logs) stays on the AWS network and skips NAT charges.
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=pulumi.Output.concat("com.amazonaws.", aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region, ".s3"),
            vpc_endpoint_type="Gateway",
            # The per-AZ tables last, so adding an AZ appends to the list instead of shifting it.
            route_table_ids=[database_rt.id] + [rt.id for rt in private_route_tables],
            tags=tags("s3"),
            opts=child,
        )

        self._flow_logs(name, args, tags)

        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private])
        self.database_subnet_ids = pulumi.Output.all(*[s.id for s in database])
        self.db_subnet_group_name = db_subnet_group.name
        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "database_subnet_ids": self.database_subnet_ids,
                "db_subnet_group_name": self.db_subnet_group_name,
            }
        )

    def _flow_logs(self, name: str, args: NetworkArgs, tags) -> None:
        """All VPC traffic metadata to CloudWatch Logs, through a role only the flow-logs service can assume."""
        child = pulumi.ResourceOptions(parent=self)
        log_group = service_log_group(
            f"{name}-flow-logs",
            name=f"/aws/vpc/{name}/flow-logs",
            retention_in_days=args.flow_logs_retention_days,
            tags=tags("flow-logs"),
            parent=self,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": FLOW_LOGS_SERVICE}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            tags=tags("flow-logs"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(flow_logs_policy),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags("flow-logs"),
            opts=child,
        )


def flow_logs_policy(log_group_arn: str) -> str:
    """Least privilege for the flow-logs role: write to this one log group."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": [log_group_arn, f"{log_group_arn}:*"],
                }
            ],
        }
    )

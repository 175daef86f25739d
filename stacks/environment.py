"""The composition: one environment built from its typed config.

This is the only place that knows how the infra components fit together. ``__main__.py`` (for
``pulumi up``) and the offline plan (``python -m stacks plan``) both call ``build_environment``.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra.cluster import Cluster, ClusterArgs, NodeGroupSpec
from infra.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from infra.database import POSTGRES_PORT
from infra.network import Network, NetworkArgs
from stacks.airflow_image import build_airflow_image
from infra.batch_secrets import read_batch_secrets
from stacks.airflow_wiring import batch_secrets_prefix, build_airflow
from stacks.config import Problem, StackConfig, StackConfigError
from stacks.data import build_data_stores, database_identifier
from stacks.names import stack_name_problems
from stacks.operations import build_operations
from stacks.patching.releases import record_parameter

PROJECT = "batch-platform"


def default_tags(config: StackConfig, stack: str) -> dict[str, str]:
    """Tags the AWS provider puts on every resource it manages (cost allocation, ownership)."""
    return {"project": PROJECT, "environment": stack, "managed-by": "pulumi", **config.tags}


def build_environment(config: StackConfig, stack: str) -> dict[str, Any]:
    """Register every resource of the environment and return the stack outputs (name -> value)."""
    # Before anything registers: every AWS name derived from the stack's name must be one AWS accepts.
    problems = stack_name_problems(PROJECT, stack, config.region)
    if problems:
        raise StackConfigError(f"Pulumi.{stack}.yaml", problems)
    aws_provider = aws.Provider(
        "aws",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(config, stack)),
    )
    on_aws = pulumi.ResourceOptions(providers={"aws": aws_provider})

    zones = aws.get_availability_zones(
        # No filter on the zones' current state: a zone "impaired" during an AWS event must not drop
        # out of the list, or the next `up` would shift every subnet to other zones (and replace them).
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

    # First after the provider: a missing Airflow image or a malformed batch secret fails the update
    # before anything else changes.
    airflow_image = build_airflow_image(config, stack, project=PROJECT, aws_provider=aws_provider)
    batch_secrets = read_batch_secrets(
        batch_secrets_prefix(PROJECT, stack), pulumi.InvokeOptions(provider=aws_provider)
    )

    network = Network(
        f"{stack}-network",
        NetworkArgs(
            availability_zones=sorted(zones.names)[:wanted],
            vpc_cidr=config.network.vpc_cidr,
            nat_gateways=config.network.nat_gateways,
            flow_logs_retention_days=config.network.flow_logs_retention_days,
            cluster_name=cluster_name(stack),
        ),
        opts=on_aws,
    )

    # The database and the cluster do not depend on each other, so Pulumi creates (or restores)
    # them in parallel: the two longest steps of a recreate overlap. Only the security group that
    # ties them together comes first.
    data = build_data_stores(config, stack, network, project=PROJECT, aws_provider=aws_provider)
    cluster = build_cluster(config, stack, network, on_aws, database_clients=data.database_clients_security_group_id)
    ClusterAutoscaler(
        f"{stack}-cluster-autoscaler",
        ClusterAutoscalerArgs(
            cluster_name=cluster.cluster_name,
            kubernetes_version=config.cluster.kubernetes_version,
            region=config.region,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            wait_for=cluster.system_ready,
        ),
        opts=pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.k8s_provider}),
    )
    airflow_outputs = build_airflow(
        config,
        stack,
        kubernetes_provider=cluster.k8s_provider,
        oidc_provider_arn=cluster.oidc_provider_arn,
        oidc_issuer=cluster.oidc_issuer,
        database_instance_class=config.database.instance_class,
        database_port=POSTGRES_PORT,
        metadata_connection_uri=data.database.metadata_connection_uri,
        fernet_key=data.airflow_secrets.fernet_key,
        api_secret_key=data.airflow_secrets.api_secret_key,
        jwt_secret=data.airflow_secrets.jwt_secret,
        admin_password=data.airflow_secrets.admin_password,
        task_log_bucket_name=data.task_logs.bucket,
        task_log_bucket_arn=data.task_logs.arn,
        image=airflow_image,
        wait_for=cluster.system_ready,
        opts=on_aws,
        project=PROJECT,
        batch_secrets=batch_secrets,
    )

    operations_outputs = build_operations(
        config,
        stack,
        project=PROJECT,
        cluster=cluster,
        cluster_name=cluster_name(stack),
        database_identifier=database_identifier(PROJECT, stack),
        opts=on_aws,
    )

    return {
        "region": config.region,
        "vpc_id": network.vpc.id,
        "public_subnet_ids": network.public_subnet_ids,
        "private_subnet_ids": network.private_subnet_ids,
        "database_subnet_ids": network.database_subnet_ids,
        **data.stack_outputs(),
        "cluster_name": cluster.cluster_name,
        "cluster_endpoint": cluster.endpoint,
        "kubeconfig": cluster.kubeconfig,
        "oidc_provider_arn": cluster.oidc_provider_arn,
        "node_group_names": cluster.node_group_names,
        "node_group_release_versions": cluster.node_group_release_versions,
        **airflow_outputs,
        "airflow_image_repository": airflow_image.own_repository_url,
        **operations_outputs,
    }


def cluster_name(stack: str) -> str:
    """Physical EKS cluster name: unique per stack, so dev and prod can share an account."""
    return f"{PROJECT}-{stack}"


def build_cluster(
    config: StackConfig,
    stack: str,
    network: Network,
    opts: pulumi.ResourceOptions,
    *,
    database_clients: pulumi.Input[str],
) -> Cluster:
    """The EKS cluster and its node groups, from the ``cluster`` section.

    ``database_clients`` is the security group the database admits: the system nodes (Airflow,
    PgBouncer) carry it, and the batch nodes too when ``batch.database_egress`` asks for it.
    """
    section = config.cluster
    reaches_database = {"system": True, "batch": config.batch.database_egress}
    groups = []
    for role in ("system", "batch"):
        group = getattr(section.node_groups, role)
        max_unavailable, percentage = group.roll_settings()
        groups.append(
            NodeGroupSpec(
                role=role,
                instance_types=group.instance_types,
                capacity_type=group.capacity_type,
                min_size=group.min_size,
                max_size=group.max_size,
                desired_size=group.desired_size,
                disk_size_gib=group.disk_size_gib,
                max_unavailable=max_unavailable,
                max_unavailable_percentage=percentage,
                ami_family=group.ami_type,
                ami_release_version=group.ami_release_version,
                force_update_version=section.patching.force,
                release_record=record_parameter(stack, role),
                extra_security_group_ids=(database_clients,) if reaches_database[role] else (),
            )
        )
    return Cluster(
        f"{stack}-cluster",
        ClusterArgs(
            cluster_name=cluster_name(stack),
            vpc_id=network.vpc.id,
            private_subnet_ids=network.private_subnet_ids,
            node_groups=groups,
            kubernetes_version=section.kubernetes_version,
            endpoint_public_access_cidrs=section.endpoint_public_access_cidrs,
            admin_role_arns=section.admin_role_arns,
            log_types=section.control_plane_log_types,
            log_retention_days=section.control_plane_log_retention_days,
        ),
        opts=opts,
    )

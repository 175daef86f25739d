"""The Cluster component: an EKS control plane and managed node groups that AWS patches and replaces.

What is built with which package, and why:

* The control plane is a pulumi-eks ``eks.Cluster`` (the package our users chose): version, private
  endpoint (+ public CIDRs), API authentication mode with access entries for the admin roles,
  envelope encryption of Secrets, control-plane logs, the IRSA OIDC provider, and the vpc-cni and
  kube-proxy add-ons at versions pinned in ``infra/versions.py``. All of these are inputs of the
  component, so the offline plan records and tests them.
* Built with pulumi-aws, because pulumi-eks hides or prevents what must be tested or controlled:

  - the KMS key (rotation on) and the control-plane log group: pulumi-eks takes a key ARN and
    leaves the log group to EKS, which creates it with no retention. We create
    ``/aws/eks/<name>/cluster`` first, with retention, so EKS writes into ours.
  - the node groups (``aws.eks.NodeGroup`` + ``aws.ec2.LaunchTemplate``) instead of
    ``eks.ManagedNodeGroup``: that remote component hides its launch template (IMDSv2, encrypted
    gp3, no SSH key must be visible and tested), it does not expose the Auto Scaling group the
    autoscaler's scale-from-zero tags must go on, and passing one pulumi-eks resource into another
    is what produced event-loop failures in our test runs.
  - the coredns and aws-ebs-csi-driver add-ons: both run Deployments that must tolerate the
    tainted system group (``configuration_values``) and can only become healthy once nodes exist,
    but pulumi-eks creates its coredns add-on inside the cluster component, before any of our
    node groups, where it would wait for a node until the add-on times out. The EBS CSI driver is
    not offered by pulumi-eks and needs its own IRSA role.

Lookups made before registering (``infra.cluster_access``, ``infra.node_scaling``): whether the
cluster exists yet and, if so, the creator recorded on it and its node groups' live sizes. They
answer differently on the first run and on later ones, and the program is written for both.

Nodes run only in the private subnets, with IMDSv2 required and a hop limit of 1 (pods cannot
borrow the node role; they use IRSA), no SSH key (SSM Session Manager instead), and a node role
with only the AWS managed policies nodes need. Each node group's ``release_version`` is, on every
run: the pin, else the target of its node-patching record, else AWS's SSM parameter (``infra.amis``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from infra.cluster_access import (
    CREATOR_TAG,
    admin_entries,
    creator_tag_value,
    existing_cluster,
    principal_key,
    recorded_creator,
)
from infra.log_groups import service_log_group
from infra.node_scaling import IGNORED_DESIRED_SIZE, Sizes, group_of_role, scaling_decision
from infra.amis import EKS_AMI_TYPES, AmiFamily, release_from_record, release_parameter, root_volumes
from infra.irsa import irsa_role
from infra.scheduling import (
    KUBERNETES_TAINT_EFFECTS,
    SYSTEM,
    node_labels,
    node_selector,
    node_taint,
    toleration,
)
from infra.versions import DEFAULT_KUBERNETES_VERSION, EKS_ADDON_VERSIONS

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

# What a node needs and nothing more: join the cluster, let the VPC CNI manage ENIs (aws-node runs
# with the node role), pull images from ECR, and be reachable through SSM Session Manager.
NODE_POLICY_ARNS = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
EBS_CSI_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"

# 1: only processes on the node itself (kubelet, host-network daemons) reach the instance metadata
# service; a pod cannot fetch the node role's credentials and must use its own IRSA role.
IMDS_HOP_LIMIT = 1

AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler/node-template"


@dataclass(frozen=True, kw_only=True)
class NodeGroupSpec:
    """One managed node group. Its labels and taint come from ``infra.scheduling`` for ``role``."""

    role: str
    """Scheduling role (``system`` or ``batch``): the group's label ``workload=<role>`` and its taint."""

    instance_types: Sequence[str]
    min_size: int
    max_size: int
    desired_size: int
    """Initial size only: the Cluster Autoscaler owns it afterwards, so later changes are ignored,
    except that new bounds move the live size into them (``infra.node_scaling``)."""

    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    """ON_DEMAND by default: SPOT nodes can be reclaimed mid-Job."""

    disk_size_gib: int = 50
    """Encrypted gp3 volume for images and pod storage; 50 GiB holds a few JVM images comfortably."""

    max_unavailable: Optional[int] = 1
    """Nodes replaced at once in a roll; 1 lets PodDisruptionBudgets of 2-replica services hold."""

    max_unavailable_percentage: Optional[int] = None
    """Alternative to ``max_unavailable`` for large groups (exactly one of the two is sent)."""

    ami_family: AmiFamily = "AL2023"
    """Amazon Linux 2023 by default (EKS's default); Bottlerocket is selectable."""

    ami_release_version: Optional[str] = None
    """Pin; None (default) follows the release AWS recommends, read from SSM on every run."""

    release_record: Optional[str] = None
    """SSM parameter of the node-patching record (``python -m stacks patch-nodes``): when it exists and
    names a release of this Kubernetes version, the group runs that release instead of the recommended
    one, so a plain ``pulumi up`` keeps what the procedure decided and proved. None: always follow AWS."""

    force_update_version: bool = False
    """Whether a roll evicts past PodDisruptionBudgets that still block after EKS's drain timeout.
    False (default): the update fails with PodEvictionFailure instead (cluster.patching.force)."""

    extra_security_group_ids: Sequence[pulumi.Input[str]] = ()
    """Security groups the nodes (and so their pods) carry besides the cluster security group, e.g.
    the database-clients group for the groups whose pods reach the metadata database. Default: none."""


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """Inputs of the Cluster component."""

    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    """Subnets of the control-plane ENIs and of every node (nodes never get public addresses)."""

    node_groups: Sequence[NodeGroupSpec]

    cluster_name: Optional[str] = None
    """Physical EKS cluster name; defaults to the component name. Fixed, because the log group, the
    autoscaler's IAM conditions and its ASG discovery tags are all derived from it."""

    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    """Must have add-on versions in ``infra.versions.EKS_ADDON_VERSIONS``."""

    endpoint_public_access_cidrs: Sequence[str] = ()
    """Empty (default): the API is reachable only from the VPC."""

    admin_role_arns: Sequence[str] = ()
    """Roles given AmazonEKSClusterAdminPolicy through access entries. The principal that created
    the cluster is admin already (pulumi-eks always sets bootstrapClusterCreatorAdminPermissions) and
    gets no entry of ours, whether or not it is listed: see ``infra.cluster_access``."""

    log_types: Sequence[str] = ("api", "audit", "authenticator")
    log_retention_days: int = 365

    tags: dict[str, str] = field(default_factory=dict)


def node_template_tags(role: str, capacity_type: str) -> dict[str, str]:
    """ASG tags that tell the Cluster Autoscaler what a node of an empty group would look like.

    Scaling a group up from zero, the autoscaler has no node to look at: without these tags it
    does not know that the group's nodes carry ``workload=<role>`` (and the matching taint), so a
    pending batch pod selecting that label would never trigger a scale-up. Managed node groups tag
    their ASG for discovery but do not copy labels and taints, hence these.
    """
    tags = {f"{AUTOSCALER_TAG_PREFIX}/label/{k}": v for k, v in node_labels(role).items()}
    tags[f"{AUTOSCALER_TAG_PREFIX}/label/eks.amazonaws.com/capacityType"] = capacity_type
    taint = node_taint(role)
    tags[f"{AUTOSCALER_TAG_PREFIX}/taint/{taint['key']}"] = (
        f"{taint['value']}:{KUBERNETES_TAINT_EFFECTS[taint['effect']]}"
    )
    return tags


def system_pod_placement() -> dict[str, object]:
    """Node selector and tolerations that put an add-on's pods on the (tainted) system group."""
    return {
        "nodeSelector": node_selector(SYSTEM),
        # CriticalAddonsOnly is in the add-ons' default tolerations; setting ours replaces the list.
        "tolerations": [toleration(SYSTEM), {"key": "CriticalAddonsOnly", "operator": "Exists"}],
    }


def coredns_configuration() -> dict[str, object]:
    """coredns add-on configuration: on the system group, which is the only untainted-for-it capacity."""
    return system_pod_placement()


def ebs_csi_configuration() -> dict[str, object]:
    """aws-ebs-csi-driver configuration: controller on the system group; the node DaemonSet keeps
    its default of tolerating every taint, so volumes attach on batch nodes too."""
    return {"controller": system_pod_placement(), "node": {"tolerateAllTaints": True}}


def kubeconfig_server(kubeconfig_json: str) -> str:
    """The API server URL of the (single-cluster) kubeconfig that pulumi-eks generates."""
    return json.loads(kubeconfig_json)["clusters"][0]["cluster"]["server"]


def _tag_resource_name(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.removeprefix(AUTOSCALER_TAG_PREFIX + "/").lower()).strip("-")


class Cluster(pulumi.ComponentResource):
    """An EKS cluster with self-patching managed node groups. What other components use:

    * ``cluster_name`` (str): the EKS cluster name.
    * ``endpoint`` (Output[str]): the API server URL.
    * ``kubeconfig`` (Output[str], secret): kubeconfig JSON (uses ``aws eks get-token``).
    * ``k8s_provider`` (kubernetes Provider): for every Kubernetes resource on this cluster.
    * ``oidc_provider_arn`` / ``oidc_issuer`` (Output[str]): for ``infra.irsa.irsa_role``
      (the issuer without ``https://``).
    * ``node_security_group_id`` (Output[str]): the EKS cluster security group, carried by every
      node and therefore every pod (VPC CNI); allow it as a source to reach the database.
    * ``node_groups`` (dict role -> aws.eks.NodeGroup), ``node_group_names`` and
      ``node_group_release_versions`` (Output[dict role -> str]).
    * ``system_ready`` (list of resources): depend on these to deploy onto the system group.
    """

    cluster_name: str
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    k8s_provider: k8s.Provider
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    node_groups: dict[str, aws.eks.NodeGroup]
    node_group_names: pulumi.Output[dict[str, str]]
    node_group_release_versions: pulumi.Output[dict[str, str]]
    system_ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        if args.kubernetes_version not in EKS_ADDON_VERSIONS:
            raise ValueError(
                f"Kubernetes {args.kubernetes_version} has no pinned add-on versions; "
                f"supported: {', '.join(EKS_ADDON_VERSIONS)}"
            )
        super().__init__("batch-platform:infra:Cluster", name, None, opts)
        addons = EKS_ADDON_VERSIONS[args.kubernetes_version]
        cluster_name = args.cluster_name or name
        self.cluster_name = cluster_name
        child = pulumi.ResourceOptions(parent=self)

        def tags(role: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{cluster_name}-{role}"}

        # --- control plane -------------------------------------------------------------------
        secrets_key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes Secrets in EKS cluster {cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags("secrets"),
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-secrets", name=f"alias/{cluster_name}-secrets", target_key_id=secrets_key.key_id, opts=child
        )
        # EKS writes control-plane logs to this exact name; created first, it keeps our retention
        # (kept on destroy and adopted again: see infra.log_groups).
        log_group = service_log_group(
            f"{name}-control-plane",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            tags=tags("control-plane-logs"),
            parent=self,
        )

        invoke = pulumi.InvokeOptions(parent=self)
        exists = existing_cluster(aws.eks.get_clusters(opts=invoke).names or [], cluster_name)
        if exists:
            # Later runs (and retries): the creator recorded at creation, whoever runs this one.
            creator = recorded_creator(aws.eks.get_cluster(name=cluster_name, opts=invoke).tags)
            self._live_groups = aws.eks.get_node_groups(cluster_name=cluster_name, opts=invoke).names or []
        else:
            # First run (or the recreate after a destroy): EKS makes this run's identity the creator.
            caller = aws.get_caller_identity(opts=invoke).arn
            issuer = aws.iam.get_session_context(arn=caller, opts=invoke).issuer_arn
            key = principal_key(issuer)
            creator = creator_tag_value(key) if key else None
            self._live_groups = []
        self.creator = creator
        """The cluster creator's principal key (``infra.cluster_access``), or None when unknown."""
        entry_roles = admin_entries(args.admin_role_arns, creator)
        if creator and len(entry_roles) < len(args.admin_role_arns):
            pulumi.log.info(
                f"{creator} created the cluster and is its admin through EKS's own access entry: no second entry", self
            )

        public_cidrs = list(args.endpoint_public_access_cidrs)
        self.eks = eks.Cluster(
            f"{name}-eks",
            eks.ClusterArgs(
                name=cluster_name,
                version=args.kubernetes_version,
                vpc_id=args.vpc_id,
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=bool(public_cidrs),
                public_access_cidrs=public_cidrs or None,
                authentication_mode=eks.AuthenticationMode.API,
                access_entries={
                    _access_entry_name(arn): eks.AccessEntryArgs(
                        principal_arn=arn,
                        access_policies={
                            "cluster-admin": eks.AccessPolicyAssociationArgs(
                                policy_arn=CLUSTER_ADMIN_POLICY,
                                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                            )
                        },
                    )
                    for arn in entry_roles
                },
                encryption_config_key_arn=secrets_key.arn,
                enabled_cluster_log_types=list(args.log_types),
                create_oidc_provider=True,
                skip_default_node_group=True,
                # Nodes then carry the security group EKS creates for the cluster, which already
                # allows all traffic between nodes and with the control plane.
                skip_default_security_groups=True,
                # The network policy agent enforces the batch namespace's NetworkPolicies.
                vpc_cni_options=eks.VpcCniOptionsArgs(addon_version=addons.vpc_cni, enable_network_policy=True),
                kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(version=addons.kube_proxy),
                # coredns is created below, after the node groups, with system-group placement.
                coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
                tags=args.tags,
                # Written at creation and sent unchanged afterwards (read back above).
                cluster_tags={CREATOR_TAG: creator} if creator else None,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        # The server of the kubeconfig pulumi-eks builds is the cluster endpoint. Reading it there
        # rather than from the `core` output avoids deserialising CoreData, whose type hints import
        # all of pulumi_kubernetes.core.v1 (half a second of every plan).
        self.endpoint = self.eks.kubeconfig_json.apply(kubeconfig_server)
        self.kubeconfig = pulumi.Output.secret(self.eks.kubeconfig_json)
        self.oidc_provider_arn = self.eks.oidc_provider_arn
        self.oidc_issuer = self.eks.oidc_issuer
        self.node_security_group_id = self.eks.node_security_group_id
        self.k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, opts=child)

        # --- nodes ---------------------------------------------------------------------------
        node_role = aws.iam.Role(
            f"{name}-node",
            description=f"Nodes of EKS cluster {cluster_name}",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                    ],
                }
            ),
            tags=tags("node"),
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{arn.rsplit('/', 1)[-1]}", role=node_role.name, policy_arn=arn, opts=child
            )
            for arn in NODE_POLICY_ARNS
        ]

        self.node_groups = {}
        releases: dict[str, pulumi.Output[str]] = {}
        for spec in args.node_groups:
            group, release = self._node_group(name, cluster_name, args, spec, node_role, attachments, tags)
            self.node_groups[spec.role] = group
            releases[spec.role] = release

        # --- add-ons that need nodes ---------------------------------------------------------
        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=list(self.node_groups.values()))
        coredns = aws.eks.Addon(
            f"{name}-coredns",
            cluster_name=cluster_name,
            addon_name="coredns",
            addon_version=addons.coredns,
            configuration_values=json.dumps(coredns_configuration(), sort_keys=True),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=args.tags,
            opts=after_nodes,
        )
        ebs_role = irsa_role(
            f"{name}-ebs-csi",
            oidc_provider_arn=self.oidc_provider_arn,
            oidc_issuer=self.oidc_issuer,
            namespace="kube-system",
            service_account=EBS_CSI_SERVICE_ACCOUNT,
            managed_policy_arns=[EBS_CSI_POLICY_ARN],
            parent=self,
        )
        aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=cluster_name,
            addon_name="aws-ebs-csi-driver",
            addon_version=addons.aws_ebs_csi_driver,
            service_account_role_arn=ebs_role.arn,
            configuration_values=json.dumps(ebs_csi_configuration(), sort_keys=True),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=args.tags,
            opts=after_nodes,
        )

        self.system_ready = [*self.node_groups.values(), coredns]
        self.node_group_names = pulumi.Output.all(
            **{role: group.node_group_name for role, group in self.node_groups.items()}
        )
        self.node_group_release_versions = pulumi.Output.all(**releases)
        self.register_outputs(
            {
                "cluster_name": cluster_name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer": self.oidc_issuer,
                "node_security_group_id": self.node_security_group_id,
                "node_group_names": self.node_group_names,
                "node_group_release_versions": self.node_group_release_versions,
            }
        )

    def _decided_release(self, spec: NodeGroupSpec, kubernetes_version: str, recommended: pulumi.Output[str]) -> pulumi.Output[str]:
        """The release the group's node-patching record decided, else ``recommended``.

        Looked up by path, which answers an empty list (not an error) before the first record exists.
        The record holds no secret: its value is unsecreted so the release shows in plans and outputs.
        """
        folder, _, _ = spec.release_record.rpartition("/")
        found = aws.ssm.get_parameters_by_path_output(path=folder, recursive=False, opts=pulumi.InvokeOutputOptions(parent=self))
        records = pulumi.Output.unsecret(pulumi.Output.all(found.names, found.values))

        def choose(args: list) -> str:
            (names, values), fallback = args
            text = dict(zip(names or [], values or [])).get(spec.release_record)
            return release_from_record(text, spec.ami_family, kubernetes_version) or fallback

        return pulumi.Output.all(records, recommended).apply(choose)

    def _node_group(self, name, cluster_name, args: ClusterArgs, spec: NodeGroupSpec, node_role, attachments, tags):
        child = pulumi.ResourceOptions(parent=self)
        role = spec.role
        if spec.ami_release_version is not None:
            release: pulumi.Output[str] = pulumi.Output.from_input(spec.ami_release_version)
        else:
            # Read on every run: when AWS publishes a release, the next `pulumi up` rolls the group.
            release = aws.ssm.get_parameter_output(
                name=release_parameter(spec.ami_family, args.kubernetes_version),
                opts=pulumi.InvokeOutputOptions(parent=self),
            ).insecure_value
            if spec.release_record is not None:
                release = self._decided_release(spec, args.kubernetes_version, release)

        template = aws.ec2.LaunchTemplate(
            f"{name}-{role}",
            name_prefix=f"{cluster_name}-{role}-",
            description=f"Nodes of the {role} group of EKS cluster {cluster_name}",
            update_default_version=True,
            # With security groups in a launch template EKS no longer adds the cluster security
            # group by itself, so it is listed first; without extra groups EKS adds it alone.
            vpc_security_group_ids=[self.node_security_group_id, *spec.extra_security_group_ids]
            if spec.extra_security_group_ids
            else None,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=IMDS_HOP_LIMIT,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=volume["device_name"], ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(**volume["ebs"])
                )
                for volume in root_volumes(spec.ami_family, spec.disk_size_gib)
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags(f"{role}-node"))
                for kind in ("instance", "volume")
            ],
            tags=tags(f"{role}-nodes"),
            opts=child,
        )

        live_name = group_of_role(self._live_groups, f"{role}-")
        live = None
        if live_name is not None:
            found = aws.eks.get_node_group(
                cluster_name=cluster_name, node_group_name=live_name, opts=pulumi.InvokeOptions(parent=self)
            ).scaling_configs
            if found:
                live = Sizes(found[0].min_size, found[0].max_size, found[0].desired_size)
        scaling = scaling_decision(Sizes(spec.min_size, spec.max_size, spec.desired_size), live)

        max_unavailable, percentage = spec.max_unavailable, spec.max_unavailable_percentage
        if percentage is not None:
            max_unavailable = None
        taint = node_taint(role)
        group = aws.eks.NodeGroup(
            f"{name}-{role}",
            cluster_name=cluster_name,
            # A prefix, not a name: a change that replaces the group creates the new one first.
            node_group_name_prefix=f"{role}-",
            node_role_arn=node_role.arn,
            subnet_ids=args.private_subnet_ids,
            instance_types=list(spec.instance_types),
            capacity_type=spec.capacity_type,
            ami_type=EKS_AMI_TYPES[spec.ami_family],
            version=args.kubernetes_version,
            release_version=release,
            force_update_version=spec.force_update_version,
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=spec.min_size, max_size=spec.max_size, desired_size=scaling.desired_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(
                max_unavailable=max_unavailable, max_unavailable_percentage=percentage
            ),
            node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
            labels=node_labels(role),
            taints=[aws.eks.NodeGroupTaintArgs(key=taint["key"], value=taint["value"], effect=taint["effect"])],
            tags=tags(f"{role}-nodes"),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.eks, *attachments],
                # The Cluster Autoscaler owns the desired size once the group exists, except when new
                # bounds must move it (infra.node_scaling).
                ignore_changes=[IGNORED_DESIRED_SIZE] if scaling.ignore_desired else [],
            ),
        )

        asg_name = group.resources.apply(lambda resources: resources[0].autoscaling_groups[0].name)
        for key, value in node_template_tags(role, spec.capacity_type).items():
            aws.autoscaling.Tag(
                f"{name}-{role}-{_tag_resource_name(key)}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=child,
            )
        return group, release


def _access_entry_name(role_arn: str) -> str:
    """A stable key per role (its name), so reordering the list replaces nothing."""
    return re.sub(r"[^A-Za-z0-9-]+", "-", role_arn.rsplit("/", 1)[-1]).strip("-").lower()

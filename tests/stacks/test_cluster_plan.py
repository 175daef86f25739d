"""The cluster as both real stack files register it (offline plan, preview=False), setting by setting."""

from __future__ import annotations

import json

import pytest

from infra.amis import EKS_AMI_TYPES, release_parameter
from infra.cluster import (
    CLUSTER_ADMIN_POLICY,
    EBS_CSI_POLICY_ARN,
    NODE_POLICY_ARNS,
    coredns_configuration,
    ebs_csi_configuration,
    node_template_tags,
)
from infra.cluster_autoscaler import autoscaler_policy
from infra.scheduling import node_labels, node_taint
from infra.versions import (
    CLUSTER_AUTOSCALER_CHART,
    CLUSTER_AUTOSCALER_CHART_REPOSITORY,
    CLUSTER_AUTOSCALER_CHART_VERSION,
    CLUSTER_AUTOSCALER_IMAGE_TAGS,
    EKS_ADDON_VERSIONS,
)
from stacks.offline import canned

ROLES = ("system", "batch")


@pytest.fixture(params=["dev", "prod"])
def plan(request):
    return request.getfixturevalue(f"{request.param}_plan")


def eks_cluster(plan):
    return plan.one("eks:index:Cluster", f"{plan.stack}-cluster-eks")


def node_group(plan, role):
    return plan.one("aws:eks/nodeGroup:NodeGroup", f"{plan.stack}-cluster-{role}")


def private_subnets(plan):
    return [f"{s.name}-id" for s in plan.of_type("aws:ec2/subnet:Subnet") if s.input("tags.tier") == "private"]


def trust_subject(plan, role_name):
    policy = json.loads(plan.one("aws:iam/role:Role", role_name).input("assumeRolePolicy"))
    [statement] = policy["Statement"]
    return statement["Principal"]["Federated"], statement["Condition"]["StringEquals"]


# --- control plane -------------------------------------------------------------------------------


def test_cluster_name_and_pinned_kubernetes_version(plan):
    cluster = eks_cluster(plan)
    assert cluster.input("name") == f"batch-platform-{plan.stack}"
    assert cluster.input("version") == plan.config.cluster.kubernetes_version == "1.35"


def test_api_authentication_with_access_entries_for_the_configured_admin_roles(plan):
    cluster = eks_cluster(plan)
    assert cluster.input("authenticationMode") == "API"
    entries = cluster.input("accessEntries")
    assert sorted(e["principalArn"] for e in entries.values()) == sorted(plan.config.cluster.admin_role_arns)
    for entry in entries.values():
        assert entry["accessPolicies"] == {
            "cluster-admin": {"policyArn": CLUSTER_ADMIN_POLICY, "accessScope": {"type": "cluster"}}
        }
    assert not plan.of_type("kubernetes:core/v1:ConfigMap")  # no aws-auth


def test_endpoint_is_private_with_public_access_only_for_the_configured_cidrs(plan):
    cluster = eks_cluster(plan)
    cidrs = plan.config.cluster.endpoint_public_access_cidrs
    assert cidrs and "0.0.0.0/0" not in cidrs
    assert cluster.input("endpointPrivateAccess") is True
    assert cluster.input("endpointPublicAccess") is True
    assert cluster.input("publicAccessCidrs") == cidrs


def test_control_plane_and_nodes_live_in_the_private_subnets(plan):
    assert eks_cluster(plan).input("subnetIds") == private_subnets(plan)
    for role in ROLES:
        assert node_group(plan, role).input("subnetIds") == private_subnets(plan)


def test_secrets_are_envelope_encrypted_with_a_rotating_kms_key(plan):
    key = plan.one("aws:kms/key:Key", f"{plan.stack}-cluster-secrets")
    assert key.input("enableKeyRotation") is True
    cluster = eks_cluster(plan)
    assert cluster.input("encryptionConfigKeyArn").startswith("arn:aws:kms:")
    assert key.urn in cluster.options["dependsOn"]


def test_control_plane_logs_go_to_a_log_group_with_retention_created_before_the_cluster(plan):
    section = plan.config.cluster
    cluster = eks_cluster(plan)
    assert set(cluster.input("enabledClusterLogTypes")) >= {"api", "audit", "authenticator"}
    assert cluster.input("enabledClusterLogTypes") == section.control_plane_log_types
    group = plan.one("aws:cloudwatch/logGroup:LogGroup", f"{plan.stack}-cluster-control-plane")
    assert group.input("name") == f"/aws/eks/batch-platform-{plan.stack}/cluster"
    assert group.input("retentionInDays") == section.control_plane_log_retention_days
    assert group.urn in cluster.options["dependsOn"]


def test_irsa_oidc_provider_and_no_default_node_group(plan):
    cluster = eks_cluster(plan)
    assert cluster.input("createOidcProvider") is True
    assert cluster.input("skipDefaultNodeGroup") is True
    assert plan.outputs["oidc_provider_arn"].startswith("arn:aws:iam::123456789012:oidc-provider/")


# --- add-ons ---------------------------------------------------------------------------------------


def test_addon_versions_come_from_the_one_version_table(plan):
    pins = EKS_ADDON_VERSIONS[plan.config.cluster.kubernetes_version]
    cluster = eks_cluster(plan)
    assert cluster.input("vpcCniOptions.addonVersion") == pins.vpc_cni
    assert cluster.input("kubeProxyAddonOptions.version") == pins.kube_proxy
    assert cluster.input("corednsAddonOptions.enabled") is False  # ours, below, after the nodes
    addons = {a.input("addonName"): a for a in plan.of_type("aws:eks/addon:Addon")}
    assert addons["coredns"].input("addonVersion") == pins.coredns
    assert addons["aws-ebs-csi-driver"].input("addonVersion") == pins.aws_ebs_csi_driver


def test_addons_with_deployments_run_on_the_system_group_and_wait_for_the_nodes(plan):
    addons = {a.input("addonName"): a for a in plan.of_type("aws:eks/addon:Addon")}
    assert json.loads(addons["coredns"].input("configurationValues")) == coredns_configuration()
    assert json.loads(addons["aws-ebs-csi-driver"].input("configurationValues")) == ebs_csi_configuration()
    for addon in addons.values():
        assert addon.input("clusterName") == f"batch-platform-{plan.stack}"
        for role in ROLES:
            assert node_group(plan, role).urn in addon.options["dependsOn"]


def test_ebs_csi_driver_has_its_own_irsa_role(plan):
    addon = plan.one("aws:eks/addon:Addon", f"{plan.stack}-cluster-ebs-csi")
    role_name = f"{plan.stack}-cluster-ebs-csi"
    assert addon.input("serviceAccountRoleArn") == f"arn:aws:iam::123456789012:role/{role_name}"
    federated, condition = trust_subject(plan, role_name)
    assert federated == plan.outputs["oidc_provider_arn"]
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in condition.values()
    [attachment] = [a for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if a.name.startswith(role_name)]
    assert attachment.input("policyArn") == EBS_CSI_POLICY_ARN


# --- node groups -----------------------------------------------------------------------------------


def test_release_version_is_read_from_ssm_for_the_clusters_kubernetes_version(plan):
    version = plan.config.cluster.kubernetes_version
    ssm = {i.args["name"]: i.result["insecureValue"] for i in plan.invokes if i.token == "aws:ssm/getParameter:getParameter"}
    for role in ROLES:
        config = getattr(plan.config.cluster.node_groups, role)
        assert config.ami_release_version is None
        path = release_parameter(config.ami_type, version)
        assert path == f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/recommended/release_version"
        group = node_group(plan, role)
        assert group.input("releaseVersion") == ssm[path]
        assert group.input("version") == version
        assert group.input("amiType") == EKS_AMI_TYPES["AL2023"]
    assert plan.outputs["node_group_release_versions"] == {role: ssm[path] for role in ROLES}


def test_sizes_capacity_and_instance_types_come_from_config(plan):
    for role in ROLES:
        config = getattr(plan.config.cluster.node_groups, role)
        group = node_group(plan, role)
        assert group.input("scalingConfig") == {
            "minSize": config.min_size,
            "maxSize": config.max_size,
            "desiredSize": config.desired_size,
        }
        assert group.input("capacityType") == config.capacity_type
        assert group.input("instanceTypes") == config.instance_types
    assert node_group(plan, "system").input("capacityType") == "ON_DEMAND"


def test_autoscaler_owns_the_desired_size_after_creation(plan):
    for role in ROLES:
        assert node_group(plan, role).options["ignoreChanges"] == ["scalingConfig.desiredSize"]


def test_update_config_bounds_the_roll(plan):
    expected = {"dev": {"system": {"maxUnavailable": 1}, "batch": {"maxUnavailable": 1}},
                "prod": {"system": {"maxUnavailable": 1}, "batch": {"maxUnavailablePercentage": 25}}}[plan.stack]
    for role in ROLES:
        assert node_group(plan, role).input("updateConfig") == expected[role]


def test_groups_are_labelled_and_tainted_from_the_scheduling_module(plan):
    for role in ROLES:
        group = node_group(plan, role)
        assert group.input("labels") == node_labels(role) == {"workload": role}
        assert group.input("taints") == [node_taint(role)]


def test_launch_templates_require_imdsv2_encrypt_gp3_roots_and_have_no_ssh_key(plan):
    for role in ROLES:
        config = getattr(plan.config.cluster.node_groups, role)
        template = plan.one("aws:ec2/launchTemplate:LaunchTemplate", f"{plan.stack}-cluster-{role}")
        assert node_group(plan, role).input("launchTemplate") == {"id": f"{template.name}-id", "version": "1"}
        assert template.input("metadataOptions") == {
            "httpEndpoint": "enabled",
            "httpTokens": "required",
            "httpPutResponseHopLimit": 1,
            "instanceMetadataTags": "disabled",
        }
        assert template.input("blockDeviceMappings") == [
            {
                "deviceName": "/dev/xvda",
                "ebs": {"volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true", "volumeSize": config.disk_size_gib},
            }
        ]
        assert template.input("keyName") is None
        assert template.input("networkInterfaces") is None  # no public address can be requested
        assert node_group(plan, role).input("remoteAccess") is None


def test_node_role_has_only_the_managed_policies_nodes_need_and_groups_self_repair(plan):
    role_name = f"{plan.stack}-cluster-node"
    trust = json.loads(plan.one("aws:iam/role:Role", role_name).input("assumeRolePolicy"))
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = [a.input("policyArn") for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if a.name.startswith(role_name + "-")]
    assert sorted(attached) == sorted(NODE_POLICY_ARNS)
    assert not [p for p in plan.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.startswith(role_name)]
    for role in ROLES:
        assert node_group(plan, role).input("nodeRepairConfig") == {"enabled": True}


def test_scale_from_zero_tags_are_on_each_groups_own_asg(plan):
    tags = plan.of_type("aws:autoscaling/tag:Tag")
    for role in ROLES:
        group = node_group(plan, role)
        asg = canned.OUTPUTS["aws:eks/nodeGroup:NodeGroup"](group.name, group.inputs, plan.config.region)["resources"][0][
            "autoscalingGroups"
        ][0]["name"]
        on_asg = {t.input("tag.key"): t.input("tag.value") for t in tags if t.input("autoscalingGroupName") == asg}
        assert on_asg == node_template_tags(role, group.input("capacityType"))
        assert all(t.input("tag.propagateAtLaunch") is False for t in tags)


# --- autoscaler --------------------------------------------------------------------------------------


def test_cluster_autoscaler_chart_pinned_and_installed_with_the_clusters_provider(plan):
    release = plan.one("kubernetes:helm.sh/v3:Release", f"{plan.stack}-cluster-autoscaler")
    assert release.input("chart") == CLUSTER_AUTOSCALER_CHART
    assert release.input("version") == CLUSTER_AUTOSCALER_CHART_VERSION
    assert release.input("repositoryOpts.repo") == CLUSTER_AUTOSCALER_CHART_REPOSITORY
    assert release.input("namespace") == "kube-system"
    assert release.input("values.image.tag") == CLUSTER_AUTOSCALER_IMAGE_TAGS[plan.config.cluster.kubernetes_version]
    provider = plan.one("pulumi:providers:kubernetes")
    assert release.provider.startswith(provider.urn)
    assert provider.secret_paths == ["kubeconfig"]
    for dependency in (node_group(plan, "system"), plan.one("aws:eks/addon:Addon", f"{plan.stack}-cluster-coredns")):
        assert dependency.urn in release.options["dependsOn"]


def test_cluster_autoscaler_discovers_this_clusters_groups_with_its_own_irsa_role(plan):
    cluster_name = f"batch-platform-{plan.stack}"
    release = plan.one("kubernetes:helm.sh/v3:Release", f"{plan.stack}-cluster-autoscaler")
    assert release.input("values.autoDiscovery.tags") == [
        "k8s.io/cluster-autoscaler/enabled",
        f"k8s.io/cluster-autoscaler/{cluster_name}",
    ]
    role_name = f"{plan.stack}-cluster-autoscaler-irsa"
    annotations = release.input("values.rbac.serviceAccount.annotations")
    assert annotations == {"eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/{role_name}"}
    federated, condition = trust_subject(plan, role_name)
    assert federated == plan.outputs["oidc_provider_arn"]
    assert "system:serviceaccount:kube-system:cluster-autoscaler" in condition.values()
    assert release.input("values.rbac.serviceAccount.name") == "cluster-autoscaler"


def test_cluster_autoscaler_may_only_scale_this_clusters_node_groups(plan):
    cluster_name = f"batch-platform-{plan.stack}"
    policy = plan.one("aws:iam/rolePolicy:RolePolicy", f"{plan.stack}-cluster-autoscaler-irsa")
    assert policy.input("policy") == autoscaler_policy(cluster_name, plan.config.region, "123456789012")
    scale = [s for s in json.loads(policy.input("policy"))["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert scale[0]["Condition"]["StringEquals"] == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}


# --- outputs -----------------------------------------------------------------------------------------


def test_stack_outputs_for_operators(plan):
    outputs = plan.outputs
    assert outputs["cluster_name"] == f"batch-platform-{plan.stack}"
    assert outputs["cluster_endpoint"].startswith("https://")
    assert outputs["kubeconfig"] == "[secret]" and "kubeconfig" in plan.secret_outputs
    assert json.loads(plan.raw_outputs["kubeconfig"])["clusters"][0]["cluster"]["server"] == outputs["cluster_endpoint"]
    assert set(outputs["node_group_names"]) == set(ROLES)
    assert outputs["node_group_names"]["batch"].startswith("batch-")
    assert set(outputs["node_group_release_versions"]) == set(ROLES)

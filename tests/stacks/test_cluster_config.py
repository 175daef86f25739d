"""Bad cluster config fails with a message naming the file, the key path, the value and what was expected.

Each case is the real Pulumi.prod.yaml with one change, validated as the loader would.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.config import StackConfigError, stack_file, validate
from stacks.offline import harness

PROD = yaml.safe_load(stack_file("prod").read_text(encoding="utf-8"))["config"]
DEV = yaml.safe_load(stack_file("dev").read_text(encoding="utf-8"))["config"]
SOURCE = "Pulumi.prod.yaml"


def problems_with(change, base=PROD, source=SOURCE) -> list[str]:
    document = copy.deepcopy(base)
    change(document["batch-platform:cluster"])
    with pytest.raises(StackConfigError) as raised:
        validate(document, source)
    return [p.render(source) for p in raised.value.problems]


def group(role, **values):
    return lambda cluster: cluster["node_groups"][role].update(values)


def key(name, value):
    return lambda cluster: cluster.__setitem__(name, value)


def test_the_real_stack_files_are_valid():
    assert validate(PROD, SOURCE).cluster.node_groups.batch.max_size == 20
    assert validate(DEV, "Pulumi.dev.yaml").cluster.node_groups.batch.capacity_type == "SPOT"


def test_max_below_min():
    assert problems_with(group("batch", min_size=3, max_size=2)) == [
        "Pulumi.prod.yaml: cluster.node_groups.batch.max_size = 2: must be >= min_size (3)"
    ]


def test_desired_outside_bounds():
    assert problems_with(group("batch", desired_size=30)) == [
        "Pulumi.prod.yaml: cluster.node_groups.batch.desired_size = 30: must be between min_size (0) and max_size (20)"
    ]


def test_unknown_capacity_type():
    assert problems_with(group("batch", capacity_type="PREEMPTIBLE")) == [
        "Pulumi.prod.yaml: cluster.node_groups.batch.capacity_type = \"PREEMPTIBLE\": expected 'ON_DEMAND' or 'SPOT' "
        "(ON_DEMAND, or SPOT (cheaper, but AWS may reclaim a node with 2 minutes' notice).)"
    ]


def test_kubernetes_version_outside_the_supported_list():
    assert problems_with(key("kubernetes_version", "1.29")) == [
        'Pulumi.prod.yaml: cluster.kubernetes_version = "1.29": expected one of 1.34, 1.35 '
        "(EKS versions in standard support whose add-ons are pinned in infra/versions.py)"
    ]


def test_unquoted_kubernetes_version_explains_the_yaml_trap():
    assert problems_with(key("kubernetes_version", 1.3)) == [
        'Pulumi.prod.yaml: cluster.kubernetes_version = 1.3: expected a quoted version string such as "1.35" '
        "(unquoted, YAML reads 1.30 as the number 1.3) "
        "(EKS versions in standard support whose add-ons are pinned in infra/versions.py)"
    ]


def test_open_public_endpoint_in_prod():
    assert problems_with(key("endpoint_public_access_cidrs", ["198.51.100.0/24", "0.0.0.0/0"])) == [
        'Pulumi.prod.yaml: cluster.endpoint_public_access_cidrs = ["198.51.100.0/24", "0.0.0.0/0"]: 0.0.0.0/0 opens '
        "the Kubernetes API to the whole internet; list your own public ranges, or set "
        "cluster.allow_public_endpoint_from_anywhere: true to accept it knowingly"
    ]


def test_open_public_endpoint_is_accepted_when_explicitly_allowed():
    document = copy.deepcopy(PROD)
    document["batch-platform:cluster"].update(endpoint_public_access_cidrs=["0.0.0.0/0"], allow_public_endpoint_from_anywhere=True)
    assert validate(document, SOURCE).cluster.endpoint_public_access_cidrs == ["0.0.0.0/0"]


def test_private_range_as_public_endpoint_cidr():
    assert problems_with(key("endpoint_public_access_cidrs", ["10.0.0.0/8"])) == [
        'Pulumi.prod.yaml: cluster.endpoint_public_access_cidrs = ["10.0.0.0/8"]: 10.0.0.0/8 is a private range: '
        "the public endpoint only sees public addresses (the VPC reaches the private endpoint already) "
        "(Public ranges allowed to reach the Kubernetes API from the internet; empty = private endpoint only.)"
    ]


def test_pin_in_the_wrong_format():
    assert problems_with(group("system", ami_release_version="1.35.3")) == [
        'Pulumi.prod.yaml: cluster.node_groups.system.ami_release_version = "1.35.3": expected an Amazon Linux 2023 '
        "EKS AMI release such as 1.35.3-20260801 (<kubelet version>-<YYYYMMDD>), as in the stack output "
        "node_group_release_versions of the environment that proved it"
    ]


def test_pin_of_another_kubernetes_version():
    assert problems_with(group("batch", ami_release_version="1.34.6-20260801")) == [
        'Pulumi.prod.yaml: cluster.node_groups.batch.ami_release_version = "1.34.6-20260801": this release is for '
        "Kubernetes 1.34 but cluster.kubernetes_version is 1.35: pin a release of 1.35 (or remove the pin)"
    ]


def test_al2023_pin_on_a_bottlerocket_group():
    [message] = problems_with(group("batch", ami_type="BOTTLEROCKET", ami_release_version="1.35.3-20260801"))
    assert message.startswith(
        'Pulumi.prod.yaml: cluster.node_groups.batch.ami_release_version = "1.35.3-20260801": expected a Bottlerocket '
        "release such as 1.45.0"
    )


def test_admin_that_is_not_a_role_arn():
    assert problems_with(key("admin_role_arns", ["arn:aws:iam::123456789012:user/bob"])) == [
        'Pulumi.prod.yaml: cluster.admin_role_arns = ["arn:aws:iam::123456789012:user/bob"]: expected IAM role ARNs '
        "such as arn:aws:iam::123456789012:role/platform-admin, got 'arn:aws:iam::123456789012:user/bob' "
        "(IAM roles given cluster-admin through EKS access entries (the creator is admin too).)"
    ]


def test_no_admin_roles_is_accepted():
    document = copy.deepcopy(PROD)
    document["batch-platform:cluster"]["admin_role_arns"] = []
    assert validate(document, SOURCE).cluster.admin_role_arns == []


def test_required_control_plane_logs_cannot_be_dropped():
    assert problems_with(key("control_plane_log_types", ["api"])) == [
        'Pulumi.prod.yaml: cluster.control_plane_log_types = ["api"]: must include api, audit, authenticator '
        "(missing audit, authenticator): who called the API and with which identity is what an incident review needs"
    ]


def test_unknown_control_plane_log_type():
    assert problems_with(key("control_plane_log_types", ["api", "audit", "authenticator", "kubelet"])) == [
        "Pulumi.prod.yaml: cluster.control_plane_log_types.3 = \"kubelet\": expected 'api', 'audit', 'authenticator', "
        "'controllerManager' or 'scheduler'"
    ]


def test_spot_system_group():
    assert problems_with(group("system", capacity_type="SPOT")) == [
        'Pulumi.prod.yaml: cluster.node_groups.system.capacity_type = "SPOT": expected ON_DEMAND: the system group '
        "runs Airflow and the add-ons, which a spot reclaim would take down"
    ]


def test_single_system_node_in_prod_but_not_in_dev():
    assert problems_with(group("system", min_size=1, desired_size=1)) == [
        "Pulumi.prod.yaml: cluster.node_groups.system.min_size = 1: prod needs >= 2 system nodes: with one, every "
        "AMI roll or AZ failure stops Airflow"
    ]
    document = copy.deepcopy(DEV)
    document["batch-platform:cluster"]["node_groups"]["system"].update(min_size=1, desired_size=1)
    assert validate(document, "Pulumi.dev.yaml").cluster.node_groups.system.min_size == 1


def test_graviton_instance_type():
    assert problems_with(group("batch", instance_types=["m7g.large"])) == [
        'Pulumi.prod.yaml: cluster.node_groups.batch.instance_types = ["m7g.large"]: m7g.large is a Graviton (arm64) '
        "type; node groups use x86_64 AMIs: choose an Intel/AMD type such as m6i "
        "(EC2 instance types (x86_64), all of about the same size: the autoscaler plans with the first.)"
    ]


def test_both_roll_settings():
    assert problems_with(group("batch", max_unavailable=2)) == [
        "Pulumi.prod.yaml: cluster.node_groups.batch.max_unavailable_percentage = 25: set either max_unavailable "
        "or max_unavailable_percentage, not both"
    ]


def test_misspelt_key_gets_a_suggestion():
    [message] = problems_with(group("batch", max_unavaliable=2))
    assert message.startswith(
        "Pulumi.prod.yaml: cluster.node_groups.batch.max_unavaliable = 2: unknown key; did you mean max_unavailable?"
    )


def test_unknown_node_group():
    def add_gpu(cluster):
        cluster["node_groups"]["gpu"] = {}

    assert problems_with(add_gpu) == [
        "Pulumi.prod.yaml: cluster.node_groups.gpu = {}: unknown key; expected one of: batch, system"
    ]


def test_every_problem_is_reported_at_once():
    def many(cluster):
        cluster["endpoint_public_access_cidrs"] = ["0.0.0.0/0"]
        cluster["node_groups"]["batch"].update(desired_size=99)
        cluster["node_groups"]["system"].update(capacity_type="SPOT")

    found = [p.split(" = ")[0] for p in problems_with(many)]
    assert found == [
        "Pulumi.prod.yaml: cluster.endpoint_public_access_cidrs",
        "Pulumi.prod.yaml: cluster.node_groups.batch.desired_size",
        "Pulumi.prod.yaml: cluster.node_groups.system.capacity_type",
    ]


def test_bad_stack_file_registers_nothing(tmp_path: Path, monkeypatch):
    document = yaml.safe_load(stack_file("prod").read_text(encoding="utf-8"))
    document["config"]["batch-platform:cluster"]["node_groups"]["batch"]["max_size"] = -1
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")

    def no_registration(*args, **kwargs):
        raise AssertionError("a resource program ran for an invalid stack file")

    monkeypatch.setattr(harness, "record", no_registration)
    with pytest.raises(StackConfigError, match=r"cluster.node_groups.batch.max_size = -1: expected >= 1"):
        harness.run_plan("prod", root=tmp_path)

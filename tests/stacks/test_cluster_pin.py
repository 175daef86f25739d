"""A pin overrides the SSM release, and Bottlerocket reads its own parameter: prod config with two changes."""

from __future__ import annotations

import copy

import pytest
import yaml

from infra.amis import release_parameter
from stacks.config import stack_file, validate
from stacks.environment import build_environment
from stacks.offline import record

PIN = "1.35.3-20260801"


@pytest.fixture(scope="module")
def pinned_plan():
    document = copy.deepcopy(yaml.safe_load(stack_file("prod").read_text(encoding="utf-8"))["config"])
    groups = document["batch-platform:cluster"]["node_groups"]
    groups["system"]["ami_release_version"] = PIN
    groups["batch"]["ami_type"] = "BOTTLEROCKET"
    config = validate(document, "Pulumi.prod.yaml")
    plan = record(lambda: build_environment(config, "prod"), stack="prod", region=config.region)
    plan.config = config
    return plan


def ssm_reads(plan):
    return {i.args["name"]: i.result["insecureValue"] for i in plan.invokes if i.token == "aws:ssm/getParameter:getParameter"}


def test_pin_reaches_release_version_and_ssm_is_not_consulted_for_that_group(pinned_plan):
    system = pinned_plan.one("aws:eks/nodeGroup:NodeGroup", "prod-cluster-system")
    assert system.input("releaseVersion") == PIN
    assert release_parameter("AL2023", "1.35") not in ssm_reads(pinned_plan)
    assert pinned_plan.outputs["node_group_release_versions"]["system"] == PIN


def test_bottlerocket_group_reads_the_bottlerocket_parameter(pinned_plan):
    batch = pinned_plan.one("aws:eks/nodeGroup:NodeGroup", "prod-cluster-batch")
    path = "/aws/service/bottlerocket/aws-k8s-1.35/x86_64/latest/image_version"
    assert list(ssm_reads(pinned_plan)) == [path]
    assert batch.input("releaseVersion") == ssm_reads(pinned_plan)[path]
    assert batch.input("amiType") == "BOTTLEROCKET_x86_64"
    assert pinned_plan.outputs["node_group_release_versions"]["batch"] == ssm_reads(pinned_plan)[path]


def test_bottlerocket_encrypts_its_os_and_data_volumes(pinned_plan):
    template = pinned_plan.one("aws:ec2/launchTemplate:LaunchTemplate", "prod-cluster-batch")
    devices = {d["deviceName"]: d["ebs"] for d in template.input("blockDeviceMappings")}
    assert set(devices) == {"/dev/xvda", "/dev/xvdb"}
    assert all(v["encrypted"] == "true" and v["volumeType"] == "gp3" for v in devices.values())
    assert devices["/dev/xvdb"]["volumeSize"] == 50

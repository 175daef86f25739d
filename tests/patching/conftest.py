"""Fixtures of the patching tests: moto for AWS (both stacks' clusters and node groups), the fakes, the CLI."""

from __future__ import annotations

import functools
import io
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml
from moto import mock_aws

from stacks import cli
from stacks.config import load_stack_file, stack_file
from stacks.config.loader import PROJECT_ROOT
from stacks.environment import cluster_name
from stacks.patching.aws import PatchAws

from tests.patching.fakes import REGION, Clock, FakeKube, RecordingStack, publish, recorded_updates

_LOADER = botocore.session.get_session().get_component("data_loader")
OLD = "1.35.3-20260801"
NEW = "1.35.4-20260815"


def session() -> boto3.session.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(region_name=REGION, botocore_session=core)


@dataclass
class World:
    project: Path
    clock: Clock
    kube: FakeKube
    stacks: dict[str, RecordingStack] = field(default_factory=dict)
    in_progress: dict[Any, list[str]] = field(default_factory=dict)
    update_calls: list[dict[str, Any]] = field(default_factory=list)
    out: io.StringIO = field(default_factory=io.StringIO)

    def aws(self, region: str = REGION) -> PatchAws:
        aws = PatchAws(region, session=session())
        self.update_calls = recorded_updates(aws.eks, self.in_progress)
        return aws

    def publish(self, release: str, when: datetime | None = None) -> None:
        publish(REGION, "AL2023", "1.35", release, when or self.clock.now())

    def edit(self, stack: str, change) -> None:
        """Edit Pulumi.<stack>.yaml of the test's project copy: ``change(config_dict)``."""
        path = self.project / f"Pulumi.{stack}.yaml"
        document = yaml.safe_load(path.read_text())
        change(document["config"])
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        self.stacks[stack]._config = load_stack_file(stack_file(stack, self.project))

    def run(self, *argv: str) -> int:
        self.out.seek(0)
        self.out.truncate()
        wiring = cli.PatchWiring(
            pulumi_stack=lambda name: self.stacks[name],
            aws_for_region=self.aws,
            kube_for=self.kube.bind,
            out=self.out,
            now=self.clock.now,
        )
        return cli.main(["--project-dir", str(self.project), *argv], patch_wiring=wiring)

    @property
    def text(self) -> str:
        return self.out.getvalue()

    def record(self, stack: str, role: str) -> str | None:
        return self.aws().read_record(f"/batch-platform/{stack}/node-patching/{role}")


@functools.lru_cache(maxsize=None)
def repository_config(stack: str) -> Any:
    """The repository's stack file, validated once (frozen): each test's copy starts as it."""
    return load_stack_file(stack_file(stack, PROJECT_ROOT))


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # the EC2 AMI catalogue costs ~0.7 s a test
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    clock = Clock()
    kube = FakeKube(now=clock.now)
    with mock_aws():
        world = World(project=tmp_path, clock=clock, kube=kube)
        eks = session().client("eks")
        for stack in ("dev", "prod"):
            config = repository_config(stack)
            name = cluster_name(stack)
            eks.create_cluster(
                name=name,
                version="1.35",
                roleArn="arn:aws:iam::123456789012:role/cluster",
                resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]},
            )
            for role in ("system", "batch"):
                spec = getattr(config.cluster.node_groups, role)
                group = f"{role}-2026{stack}"
                eks.create_nodegroup(
                    clusterName=name,
                    nodegroupName=group,
                    nodeRole="arn:aws:iam::123456789012:role/nodes",
                    subnets=["subnet-1"],
                    scalingConfig={"minSize": spec.min_size, "maxSize": spec.max_size, "desiredSize": spec.desired_size},
                    labels={"workload": role},
                    releaseVersion=OLD,
                    version="1.35",
                )
                kube.replace_nodes(group, "v1.35.3-eks-old")
            world.stacks[stack] = RecordingStack(stack, config, name, kube, clock.advance)
        clock.advance(3600)
        world.publish(OLD, clock.now())
        yield world

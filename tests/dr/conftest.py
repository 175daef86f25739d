"""Fixtures of the DR tests: moto for AWS, a fake Airflow on 127.0.0.1, a recording fake stack."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
import botocore.session
import pytest
from moto import mock_aws

from stacks.dr.airflow_api import AirflowApi, Credentials
from stacks.dr.aws_ops import AwsOps
from stacks.dr.rehearsal import Options, Rehearsal

from tests.dr.fake_airflow import AirflowState, FakeAirflow
from tests.dr.fakes import FakeClock, RecordingStack


# One model loader for every test: it caches the parsed service models (RDS, S3...), which
# otherwise costs a fraction of a second per test. Sessions and clients are still per test.
_LOADER = botocore.session.get_session().get_component("data_loader")


def _session() -> boto3.session.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(region_name="eu-west-1", botocore_session=core)


@pytest.fixture
def aws_env(monkeypatch):
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # RDS pulls in EC2; its AMI catalogue costs ~0.7 s
    with mock_aws():
        yield _session()


@pytest.fixture
def airflow():
    with FakeAirflow(AirflowState()) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class World:
    """Everything one rehearsal test needs, and a way to run the command's orchestration."""

    session: Any
    clock: FakeClock
    airflow: FakeAirflow
    stack: RecordingStack
    tmp: Path
    out: io.StringIO = field(default_factory=io.StringIO)
    answers: list[str | None] = field(default_factory=list)
    aws_wrappers: list[Callable[[AwsOps], None]] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.tmp / "state"

    @property
    def report_dir(self) -> Path:
        return self.tmp / "reports"

    def aws_for_region(self, region: str) -> AwsOps:
        ops = AwsOps(region, session=self.session, sleep=self.clock.sleep)
        for wrap in self.aws_wrappers:
            wrap(ops)
        return ops

    def credentials(self) -> Credentials:
        return Credentials(username=self.airflow.state.username, password=self.airflow.state.password)

    def rehearsal(self, mode: str = "run", **overrides: Any) -> Rehearsal:
        options = Options(
            stack=self.stack.name,
            state_dir=self.state_dir,
            report_dir=self.report_dir,
            mode=mode,
            yes=overrides.pop("yes", True),
            health_timeout=overrides.pop("health_timeout", 600.0),
            health_interval=overrides.pop("health_interval", 30.0),
            snapshot_poll=5.0,
            **overrides,
        )
        answers = self.answers

        def ask(prompt: str) -> str | None:
            return answers.pop(0) if answers else None

        return Rehearsal(
            options,
            self.stack,
            self.aws_for_region,
            lambda url: AirflowApi(url, self.credentials()),  # looked up per call: tests may swap it
            out=self.out,
            ask=ask,
            now=self.clock.now,
            sleep=self.clock.sleep,
        )

    def run(self, mode: str = "run", **overrides: Any) -> int:
        return self.rehearsal(mode, **overrides).execute()

    def state(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "state.json").read_text())

    def report(self) -> dict[str, Any]:
        reports = sorted(self.report_dir.glob("dr-report-*.json"))
        assert reports, "no report written"
        return json.loads(reports[-1].read_text())

    def markdown(self) -> str:
        return sorted(self.report_dir.glob("dr-report-*.md"))[-1].read_text()

    def all_snapshots(self) -> list[str]:
        rds = self.session.client("rds")
        return sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"])

    def snapshots(self) -> list[str]:
        """The rehearsal's snapshots (the destroy's final snapshots are named after the database)."""
        return [name for name in self.all_snapshots() if name.startswith("dr-")]

    def instance(self) -> dict[str, Any] | None:
        rds = self.session.client("rds")
        try:
            return rds.describe_db_instances(DBInstanceIdentifier=self.stack.database)["DBInstances"][0]
        except rds.exceptions.DBInstanceNotFoundFault:
            return None


def make_world(session, clock, airflow, tmp_path, **stack_args) -> World:
    stack = RecordingStack(
        stack_args.pop("name", "dev"),
        session=session,
        clock=clock,
        airflow=airflow.state,
        airflow_url=airflow.url,
        **stack_args,
    )
    return World(session=session, clock=clock, airflow=airflow, stack=stack, tmp=tmp_path)


@pytest.fixture
def world(aws_env, clock, airflow, tmp_path) -> World:
    return make_world(aws_env, clock, airflow, tmp_path)


@pytest.fixture
def prod_world(aws_env, clock, airflow, tmp_path) -> World:
    return make_world(aws_env, clock, airflow, tmp_path, name="prod", tier="prod", deletion_protection="true")

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
    rds_as_on_aws: Any = None

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
            lambda url, connect_host=None: AirflowApi(url, self.credentials(), connect_host=connect_host),  # per call: tests may swap it
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


class RdsAsOnAWS:
    """What moto leaves out of RDS and a real account answers, in botocore's model shapes (each
    answer is validated against the operation's output shape, as botocore's Stubber does):

    * ``SnapshotDatabaseTime`` (and ``SnapshotCreateTime``) of a snapshot on the rehearsal's clock:
      the moment CreateDBSnapshot was called;
    * ``LatestRestorableTime`` of an instance: ``lag`` seconds behind the clock;
    * ``DescribeAccountAttributes`` with the ManualSnapshots quota (moto does not implement it):
      ``used`` counts the manual snapshots that exist, ``max_snapshots`` is the limit;
    * automated backups (moto keeps none with an ARN or resource ID, and cannot delete one): each
      instance created or restored gets one, retained when the instance is deleted (the real program
      sets ``delete_automated_backups=False``), listed by DescribeDBInstanceAutomatedBackups and
      deleted by DeleteDBInstanceAutomatedBackup (whose request botocore validates first).

    Registered on the session, so every client made from it (the fake stack's, the rehearsal's) sees it.
    """

    def __init__(self, session, clock: FakeClock, *, lag: float = 300.0, max_snapshots: int = 100, extra_used: int = 0):
        self.clock, self.lag, self.max_snapshots, self.extra_used = clock, lag, max_snapshots, extra_used
        self.taken: dict[str, Any] = {}
        self.quota_readable = True
        self._rds_model = session._session.get_service_model("rds")
        self._session = session
        self.backups: list[dict[str, Any]] = []
        events = session.events
        events.register("after-call.rds.CreateDBSnapshot", self._created)
        events.register("after-call.rds.DescribeDBSnapshots", self._snapshots)
        events.register("after-call.rds.DescribeDBInstances", self._instances)
        events.register("before-call.rds.DescribeAccountAttributes", self._quota)
        for operation in ("CreateDBInstance", "RestoreDBInstanceFromDBSnapshot", "RestoreDBInstanceToPointInTime"):
            events.register(f"after-call.rds.{operation}", self._instance_created)
        events.register("after-call.rds.DeleteDBInstance", self._instance_deleted)
        events.register("before-call.rds.DescribeDBInstanceAutomatedBackups", self._describe_backups)
        events.register("before-call.rds.DeleteDBInstanceAutomatedBackup", self._delete_backup)

    @staticmethod
    def _answer(parsed: dict) -> tuple:
        from botocore.awsrequest import AWSResponse

        return AWSResponse("https://rds.eu-west-1.amazonaws.com/", 200, {}, None), parsed

    def _instance_created(self, parsed, **kwargs):
        instance = parsed.get("DBInstance")
        if not instance:
            return
        number = len(self.backups) + 1
        self.backups.append(
            {
                "DBInstanceAutomatedBackupsArn": f"arn:aws:rds:eu-west-1:123456789012:auto-backup:ab-{number:04d}",
                "DBInstanceIdentifier": instance["DBInstanceIdentifier"],
                "DbiResourceId": f"db-{number:026d}",  # unique per instance, as on AWS (moto reuses one per name)
                "Status": "active",
                "InstanceCreateTime": self.clock.now(),
                "RestoreWindow": {"EarliestTime": self.clock.now()},
                "Engine": "postgres",
            }
        )

    def _instance_deleted(self, parsed, **kwargs):
        instance = parsed.get("DBInstance") or {}
        for backup in self.backups:
            if backup["DBInstanceIdentifier"] == instance.get("DBInstanceIdentifier") and backup["Status"] == "active":
                backup["Status"] = "retained"
                backup["RestoreWindow"]["LatestTime"] = self.clock.now()

    def _describe_backups(self, model, params, **kwargs):
        wanted = params["body"].get("DBInstanceIdentifier")  # the serialized request (query protocol: a form)
        items = [dict(b) for b in self.backups if wanted in (None, b["DBInstanceIdentifier"])]
        return self._answer(self._validated("DescribeDBInstanceAutomatedBackups", {"DBInstanceAutomatedBackups": items}))

    def _delete_backup(self, model, params, **kwargs):
        from botocore.exceptions import ClientError

        found = next((b for b in self.backups if b["DbiResourceId"] == params["body"].get("DbiResourceId")), None)
        if found is None or found["Status"] != "retained":
            raise ClientError({"Error": {"Code": "InvalidDBInstanceAutomatedBackupState", "Message": "not retained"}}, "DeleteDBInstanceAutomatedBackup")
        self.backups.remove(found)
        return self._answer(self._validated("DeleteDBInstanceAutomatedBackup", {"DBInstanceAutomatedBackup": {**found, "Status": "deleting"}}))

    def _validated(self, operation: str, parsed: dict) -> dict:
        from botocore.validate import validate_parameters

        if "Error" in parsed:  # an error answer: nothing to add
            return parsed
        shape = self._rds_model.operation_model(operation).output_shape
        validate_parameters({k: v for k, v in parsed.items() if k != "ResponseMetadata"}, shape)
        return parsed

    def _created(self, parsed, **kwargs):
        snapshot = parsed.get("DBSnapshot") or {}
        self.taken[snapshot.get("DBSnapshotIdentifier")] = self.clock.now()

    def _snapshots(self, parsed, **kwargs):
        if "Error" in parsed:
            return
        for item in parsed.get("DBSnapshots", []):
            at = self.taken.get(item["DBSnapshotIdentifier"])
            if at is not None:
                item["SnapshotCreateTime"] = at
                item["SnapshotDatabaseTime"] = at
        self._validated("DescribeDBSnapshots", parsed)

    def _instances(self, parsed, **kwargs):
        from datetime import timedelta

        if "Error" in parsed:
            return
        for item in parsed.get("DBInstances", []):
            item["LatestRestorableTime"] = self.clock.now() - timedelta(seconds=self.lag)
        self._validated("DescribeDBInstances", parsed)

    def _quota(self, model, params, **kwargs):
        from botocore.exceptions import ClientError

        if not self.quota_readable:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "DescribeAccountAttributes")
        rds = self._session.client("rds")
        used = len(rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]) + self.extra_used
        parsed = self._validated(
            "DescribeAccountAttributes",
            {"AccountQuotas": [{"AccountQuotaName": "ManualSnapshots", "Used": used, "Max": self.max_snapshots}]},
        )
        return self._answer(parsed)


def make_world(session, clock, airflow, tmp_path, **stack_args) -> World:
    rds = RdsAsOnAWS(session, clock)  # before the stack makes its clients: they inherit the session's handlers
    stack = RecordingStack(
        stack_args.pop("name", "dev"),
        session=session,
        clock=clock,
        airflow=airflow.state,
        airflow_url=airflow.url,
        **stack_args,
    )
    return World(session=session, clock=clock, airflow=airflow, stack=stack, tmp=tmp_path, rds_as_on_aws=rds)


@pytest.fixture
def world(aws_env, clock, airflow, tmp_path) -> World:
    return make_world(aws_env, clock, airflow, tmp_path)


@pytest.fixture
def prod_world(aws_env, clock, airflow, tmp_path) -> World:
    return make_world(aws_env, clock, airflow, tmp_path, name="prod", tier="prod", deletion_protection="true")

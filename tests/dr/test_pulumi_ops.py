"""``AutomationStack`` (the real Pulumi layer) driven against a stand-in ``pulumi`` CLI on PATH.

The Automation API shells out to the CLI; the stand-in records each command line, so these tests
assert exactly what a user's ``pulumi`` would be asked to do.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from stacks.dr.pulumi_cli import CANCEL_NOTE, PulumiInterrupted
from stacks.dr.pulumi_ops import (
    DELETION_PROTECTION,
    RESTORE_FROM_SNAPSHOT,
    AutomationStack,
    PendingOperation,
    PulumiCommandFailed,
    PulumiError,
    StackResource,
    error_summary,
)

DB_URN = "urn:pulumi:dev::batch-platform::batch-platform:infra:Database$aws:rds/instance:Instance::dev-database-instance"
PENDING_DB = {"urn": DB_URN, "type": "aws:rds/instance:Instance", "inputs": {"identifier": "batch-platform-dev-airflow"}}

FAKE_CLI = Path(__file__).with_name("fake_pulumi_cli.py")


@pytest.fixture
def cli(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "pulumi"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_CLI} \"$@\"\n")
    launcher.chmod(launcher.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "stacks": ["dev"],
                "config": {DELETION_PROTECTION: "true", "batch-platform:tier": "dev"},
                "outputs": {"database_instance_identifier": "dev-airflow-db", "kubeconfig": "apiVersion: v1"},
                "secret_outputs": ["kubeconfig"],
                "resources": [
                    {"urn": "urn:pulumi:dev::batch-platform::aws:rds/instance:Instance::dev-db", "type": "aws:rds/instance:Instance", "protect": True, "id": "dev-airflow-db", "outputs": {"identifier": "dev-airflow-db"}},
                    {"urn": "urn:pulumi:dev::batch-platform::pulumi:pulumi:Stack::batch-platform-dev", "type": "pulumi:pulumi:Stack"},
                    {"urn": "urn:pulumi:dev::batch-platform::batch-platform:infra:TaskLogBucket$aws:s3/bucket:Bucket::dev-task-logs-bucket", "type": "aws:s3/bucket:Bucket", "id": "dev-logs", "retainOnDelete": True, "outputs": {"bucket": "dev-logs"}},
                ],
            }
        )
    )
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(state))
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "true")

    class Cli:
        work_dir = tmp_path

        @staticmethod
        def commands() -> list[list[str]]:
            lines = log.read_text().splitlines() if log.exists() else []
            return [[a for a in json.loads(line) if a != "--non-interactive"] for line in lines if json.loads(line) != ["version"]]

        @staticmethod
        def state() -> dict:
            return json.loads(state.read_text())

        @staticmethod
        def fail(command: str, stdout: list[str] | None = None) -> None:
            Cli.update(fail=command, fail_stdout=stdout or [])

        @staticmethod
        def update(**values) -> None:
            document = json.loads(state.read_text())
            document.update(values)
            state.write_text(json.dumps(document))

    (tmp_path / "Pulumi.yaml").write_text("name: batch-platform\nruntime: python\n")
    return Cli


def test_config_is_read_and_written_as_structured_paths(cli):
    stack = AutomationStack("dev", work_dir=cli.work_dir)
    assert stack.exists() is True
    assert stack.get_config(DELETION_PROTECTION) == "true"
    assert stack.get_config(RESTORE_FROM_SNAPSHOT) is None
    stack.set_config(RESTORE_FROM_SNAPSHOT, "dr-dev-1")
    stack.remove_config(RESTORE_FROM_SNAPSHOT)
    assert cli.commands() == [
        ["stack", "select", "--stack", "dev"],
        ["config", "get", "--path", DELETION_PROTECTION, "--json", "--stack", "dev"],
        ["config", "get", "--path", RESTORE_FROM_SNAPSHOT, "--json", "--stack", "dev"],
        ["config", "set", "--path", RESTORE_FROM_SNAPSHOT, "--plaintext", "--stack", "dev", "--", "dr-dev-1"],
        ["config", "rm", RESTORE_FROM_SNAPSHOT, "--stack", "dev", "--path"],
    ]


def test_up_and_destroy_stream_output_and_destroy_keeps_protected_resources(cli):
    stack = AutomationStack("dev", work_dir=cli.work_dir)
    lines: list[str] = []
    stack.up(lines.append)
    stack.destroy(lines.append)
    assert "Updating (dev):" in lines and "Destroying (dev):" in lines
    up, destroy = [c for c in cli.commands() if c[0] in ("up", "destroy")]
    assert up[:3] == ["up", "--yes", "--skip-preview"] and up[-2:] == ["--stack", "dev"]
    assert "--color" in up and up[up.index("--color") + 1] == "never"
    assert destroy[0] == "destroy" and {"--yes", "--skip-preview"} <= set(destroy)
    assert "--exclude-protected" in destroy


def test_a_failed_up_raises_with_the_diagnostics_kept(cli):
    # the CLI prints progress first and the reason last: a long run must not cut the reason off
    progress = [f"    ~ aws:eks/nodeGroup:NodeGroup batch-{i} updating ({i}s)" for i in range(400)]
    diagnostics = [
        "Diagnostics:",
        "  aws:rds:Instance (dev-database-instance):",
        "    error: creating RDS DB Instance: DBInstanceAlreadyExists: DB instance already exists",
        "",
        "Resources:",
        "    401 unchanged",
    ]
    cli.fail("up", stdout=progress + diagnostics)
    with pytest.raises(PulumiCommandFailed) as caught:
        AutomationStack("dev", work_dir=cli.work_dir).up(lambda line: None)
    message = str(caught.value)
    assert isinstance(caught.value, PulumiError)
    assert "DBInstanceAlreadyExists" in message and "error: up failed: injected" in message
    assert "batch-3" not in message  # the progress is left out
    assert len(message) < 2100 and caught.value.code == 255


def test_an_error_longer_than_the_limit_keeps_its_end():
    text = error_summary("Diagnostics:\n" + "\n".join(f"  error {i}" for i in range(1000)), "error: the last word", 255, limit=300)
    assert len(text) == 300 and text.startswith("...") and text.endswith("error: the last word")


def test_a_targeted_up_passes_the_urns(cli):
    AutomationStack("dev", work_dir=cli.work_dir).up(lambda line: None, targets=[DB_URN])
    up = next(c for c in cli.commands() if c[0] == "up")
    assert up[up.index("--target") + 1] == DB_URN


def _interrupt_once_on(marker: str):
    """An on_output that sends this process SIGINT (the terminal's Ctrl-C) once the CLI printed ``marker``."""
    lines: list[str] = []

    def on_output(line: str) -> None:
        lines.append(line)
        if marker in line and not any("sent" == x for x in lines):
            lines.append("sent")
            os.kill(os.getpid(), signal.SIGINT)

    return lines, on_output


@pytest.fixture
def terminal_ctrl_c():
    """Ctrl-C as in a terminal: Python's KeyboardInterrupt handler for SIGINT. A shell starts background
    jobs (``make test &``) with SIGINT ignored, and Python then installs no handler: without this the
    test's SIGINT would be dropped and the test would depend on how the suite was launched."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_cancels_the_cli_gracefully_and_waits_for_it(cli, terminal_ctrl_c):
    cli.update(inflight={"seconds": 60, "resource": PENDING_DB})
    lines, on_output = _interrupt_once_on("creating")
    with pytest.raises(PulumiInterrupted) as caught:
        AutomationStack("dev", work_dir=cli.work_dir).up(on_output)
    # the CLI got one SIGINT, said so, finished the operation in flight and exited by itself
    assert "^C received; cancelling. If you would like to terminate immediately, press ^C again." in lines
    assert CANCEL_NOTE in lines
    assert any(line.endswith("created (0.2s)") or "created (" in line for line in lines)
    assert caught.value.code == 255 and caught.value.forced is False
    assert "update canceled" in caught.value.tail
    state = cli.state()
    assert state["locked"] is False and state["pending_operations"] == []
    assert DB_URN in [r["urn"] for r in state["resources"]]


def test_pending_operations_are_read_from_the_state(cli):
    cli.update(pending_operations=[{"resource": PENDING_DB, "type": "creating"}])
    assert AutomationStack("dev", work_dir=cli.work_dir).pending_operations() == [
        PendingOperation(kind="creating", urn=DB_URN, type="aws:rds/instance:Instance", inputs={"identifier": "batch-platform-dev-airflow"})
    ]


def test_repair_cancels_a_stale_lock_and_imports_the_pending_create(cli):
    # what a CLI killed mid-create leaves: the lock and a pending create of an instance RDS did create
    other = {"urn": "urn:pulumi:dev::batch-platform::aws:ec2/securityGroup:SecurityGroup::dev-db-sg", "type": "aws:ec2/securityGroup:SecurityGroup"}
    cli.update(locked=True, pending_operations=[{"resource": PENDING_DB, "type": "creating"}, {"resource": other, "type": "creating"}])
    stack = AutomationStack("dev", work_dir=cli.work_dir)
    done = stack.repair(lambda line: None, {DB_URN: "batch-platform-dev-airflow"})
    assert done[0].startswith("cancelled the stale update lock")
    assert "imported the pending creates that exist in AWS" in done[1] and "as batch-platform-dev-airflow" in done[1]
    assert "cleared the pending creates of resources not found in AWS" in done[2] and "dev-db-sg" in done[2]
    refreshes = [c for c in cli.commands() if c[0] in ("refresh", "cancel")]
    assert [c[0] for c in refreshes] == ["refresh", "cancel", "refresh", "refresh"]
    assert refreshes[2][refreshes[2].index("--import-pending-creates") + 1 :][:3] == [DB_URN, "--import-pending-creates", "batch-platform-dev-airflow"]
    assert "--clear-pending-creates" in refreshes[3]
    state = cli.state()
    assert state["pending_operations"] == [] and state["locked"] is False
    assert {"urn": DB_URN, "type": "aws:rds/instance:Instance", "id": "batch-platform-dev-airflow"} in state["resources"]
    AutomationStack("dev", work_dir=cli.work_dir).up(lambda line: None)  # and the stack is usable again


def test_repair_without_pending_operations_refreshes_once(cli):
    done = AutomationStack("dev", work_dir=cli.work_dir).repair(lambda line: None, {})
    assert done == ["refreshed the state from AWS"]
    assert [c[0] for c in cli.commands() if c[0] in ("refresh", "cancel")] == ["refresh"]


def test_outputs_include_secrets_in_plaintext_for_the_caller(cli):
    outputs = AutomationStack("dev", work_dir=cli.work_dir).outputs()
    assert outputs == {"database_instance_identifier": "dev-airflow-db", "kubeconfig": "apiVersion: v1"}


def test_resources_come_from_the_exported_state(cli):
    resources = AutomationStack("dev", work_dir=cli.work_dir).resources()
    assert resources[0] == StackResource(
        urn="urn:pulumi:dev::batch-platform::aws:rds/instance:Instance::dev-db",
        type="aws:rds/instance:Instance",
        protect=True,
        id="dev-airflow-db",
        outputs={"identifier": "dev-airflow-db"},
    )
    assert resources[1].protect is False and resources[1].durable is False
    bucket = resources[2]
    assert (bucket.protect, bucket.retain_on_delete, bucket.durable) == (False, True, True)
    assert bucket.name == "dev-task-logs-bucket"
    assert ["stack", "export", "--show-secrets", "--stack", "dev"] in cli.commands()


def test_an_unknown_stack_does_not_exist(cli):
    assert AutomationStack("staging", work_dir=cli.work_dir).exists() is False


def test_without_the_cli_the_error_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PulumiError, match="Pulumi CLI was not found on PATH"):
        AutomationStack("dev", work_dir=tmp_path).exists()

"""``AutomationStack`` (the real Pulumi layer) driven against a stand-in ``pulumi`` CLI on PATH.

The Automation API shells out to the CLI; the stand-in records each command line, so these tests
assert exactly what a user's ``pulumi`` would be asked to do.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from stacks.dr.pulumi_ops import DELETION_PROTECTION, RESTORE_FROM_SNAPSHOT, AutomationStack, PulumiError, StackResource

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
        def fail(command: str) -> None:
            document = json.loads(state.read_text())
            document["fail"] = command
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


def test_a_failed_up_raises(cli):
    cli.fail("up")
    from pulumi.automation import CommandError

    with pytest.raises(CommandError, match="injected"):
        AutomationStack("dev", work_dir=cli.work_dir).up(lambda line: None)


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

"""``python -m stacks dr-rehearsal``: argument checking, and the whole path with the fakes injected."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stacks.cli import DrWiring, main
from stacks.dr.airflow_api import AirflowApi


def _wiring(world, env: dict[str, str] | None = None) -> DrWiring:
    return DrWiring(
        pulumi_stack=lambda name: world.stack,
        aws_for_region=world.aws_for_region,
        airflow_for_url=lambda url, credentials: AirflowApi(url, credentials),
        env=env if env is not None else {"AIRFLOW_API_USERNAME": world.airflow.state.username, "AIRFLOW_API_PASSWORD": world.airflow.state.password},
        ask=lambda prompt: None,
        out=world.out,
        state_root=world.tmp / "dr",
        now=world.clock.now,
        sleep=world.clock.sleep,
    )


def _untouchable() -> DrWiring:
    def boom(*args, **kwargs):
        raise AssertionError("nothing may be touched for bad arguments")

    return DrWiring(pulumi_stack=boom, aws_for_region=boom, airflow_for_url=boom, env={}, ask=boom, out=io.StringIO())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dr-rehearsal", "staging"], "unknown stack 'staging'"),
        (["dr-rehearsal", "dev", "--airflow-url", "airflow:8080"], "--airflow-url must start with http"),
    ],
)
def test_bad_arguments_exit_2_before_anything_happens(argv, message, capsys):
    assert main(argv, dr_wiring=_untouchable()) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dr-rehearsal", "dev", "--resume", "--rollback"], "not allowed with argument"),
        (["dr-rehearsal", "dev", "--health-timeout", "0"], "expected a positive number of minutes"),
        (["dr-rehearsal"], "the following arguments are required: stack"),
    ],
)
def test_argparse_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv, dr_wiring=_untouchable())
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_the_command_runs_the_rehearsal_end_to_end(world):
    assert main(["dr-rehearsal", "dev", "--yes", "--report-dir", str(world.tmp / "reports")], dr_wiring=_wiring(world)) == 0
    assert "PASSED: 13 checks" in world.out.getvalue()
    assert (world.tmp / "dr" / "dev" / "state.json").exists()
    assert list((world.tmp / "reports").glob("dr-report-dev-*.md"))


def test_without_yes_and_without_a_terminal_it_refuses(world):
    assert main(["dr-rehearsal", "dev"], dr_wiring=_wiring(world)) == 2
    assert "pass --yes to run unattended" in world.out.getvalue()
    assert world.stack.mutations() == []


def test_airflow_credentials_can_come_from_secrets_manager(world):
    world.session.client("secretsmanager").create_secret(
        Name="batch-platform/dev/airflow-api",
        SecretString='{"username": "%s", "password": "%s"}' % (world.airflow.state.username, world.airflow.state.password),
    )
    argv = ["dr-rehearsal", "dev", "--yes", "--airflow-credentials-secret", "batch-platform/dev/airflow-api"]
    assert main(argv, dr_wiring=_wiring(world, env={})) == 0


def test_by_default_the_admin_user_logs_in_with_its_durable_password(world):
    world.airflow.state.username = "admin"  # airflow.admin.username: the default, not set in Pulumi.dev.yaml
    password = world.airflow.state.password
    assert main(["dr-rehearsal", "dev", "--yes"], dr_wiring=_wiring(world, env={})) == 0
    logins = [r.body for r in world.airflow.state.requests if r.path == "/auth/token"]
    assert logins and all(body == {"username": "admin", "password": password} for body in logins)
    written = [p.read_text() for p in (world.tmp / "dr" / "dev").iterdir()]
    for text in written + [world.out.getvalue()]:
        assert password not in text


def test_the_admin_username_comes_from_the_stack_config(world, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    root = Path(__file__).resolve().parents[2]
    (project / "Pulumi.yaml").write_text((root / "Pulumi.yaml").read_text())
    stack_file = (root / "Pulumi.dev.yaml").read_text()
    assert "  batch-platform:airflow:\n" in stack_file
    stack_file = stack_file.replace("  batch-platform:airflow:\n", "  batch-platform:airflow:\n    admin:\n      username: break-glass\n")
    (project / "Pulumi.dev.yaml").write_text(stack_file)
    world.airflow.state.username = "break-glass"
    argv = ["--project-dir", str(project), "dr-rehearsal", "dev", "--yes"]
    assert main(argv, dr_wiring=_wiring(world, env={})) == 0
    assert {r.body["username"] for r in world.airflow.state.requests if r.path == "/auth/token"} == {"break-glass"}


def test_no_airflow_credentials_stop_in_preflight(world):
    world.session.client("secretsmanager").delete_secret(
        SecretId="batch-platform/dev/airflow/admin-password", ForceDeleteWithoutRecovery=True
    )
    assert main(["dr-rehearsal", "dev", "--yes"], dr_wiring=_wiring(world, env={})) == 1
    out = world.out.getvalue()
    assert "no Airflow API credentials: set AIRFLOW_API_TOKEN" in out
    assert "the default, user admin (airflow.admin.username) with the password in batch-platform/dev/airflow/admin-password, is not usable" in out
    assert "ResourceNotFoundException" in out
    assert world.stack.mutations() == []


def test_the_airflow_url_override_is_used(world):
    # the stack's own airflow_url points nowhere; the override (e.g. a port-forward) is the real one
    world.stack.airflow_url = "http://127.0.0.1:9"
    argv = ["dr-rehearsal", "dev", "--yes", "--airflow-url", world.airflow.url]
    assert main(argv, dr_wiring=_wiring(world)) == 0


def test_resume_is_passed_through(world):
    world.stack.fail_next["destroy"] = RuntimeError("interrupted")
    assert main(["dr-rehearsal", "dev", "--yes"], dr_wiring=_wiring(world)) == 1
    assert main(["dr-rehearsal", "dev", "--yes", "--resume"], dr_wiring=_wiring(world)) == 0

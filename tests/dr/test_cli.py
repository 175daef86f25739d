"""``python -m stacks dr-rehearsal``: argument checking, and the whole path with the fakes injected."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stacks.cli import DrWiring, main
from stacks.dr.airflow_api import AirflowApi


def _wiring(world, env: dict[str, str] | None = None) -> DrWiring:
    return DrWiring(
        pulumi_stack=lambda name, project_dir: world.stack,
        aws_for_region=world.aws_for_region,
        airflow_for_url=lambda url, credentials, connect_host=None: AirflowApi(url, credentials, connect_host=connect_host),
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
        (["dr-rehearsal", "dev", "--snapshot-timeout", "x"], "expected a number of minutes, got 'x'"),
        (["dr-rehearsal", "dev", "--freeze-timeout", "-1"], "expected a positive number of minutes"),
        (["dr-rehearsal", "dev", "--cleanup", "--resume"], "not allowed with argument"),
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


def test_prod_is_refused_from_the_stack_file_before_anything(capsys):
    out = io.StringIO()
    wiring = _untouchable()
    wiring.out = out
    assert main(["dr-rehearsal", "prod"], dr_wiring=wiring) == 2
    assert out.getvalue() == (
        "refused: stack prod is a prod stack (tier: prod in Pulumi.prod.yaml): the rehearsal destroys it; "
        "pass --allow-prod to rehearse on prod deliberately\n"
    )


@pytest.mark.parametrize("mode", ["--rollback", "--resume", None])
def test_without_the_pulumi_cli_every_mode_ends_in_one_clear_line(world, tmp_path, monkeypatch, mode):
    from stacks.dr.pulumi_ops import AutomationStack

    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi on it
    wiring = _wiring(world)
    wiring.pulumi_stack = lambda name, project_dir: AutomationStack(name, project_dir)
    argv = ["dr-rehearsal", "dev", "--yes"] + ([mode] if mode else [])
    assert main(argv, dr_wiring=wiring) == 2
    lines = world.out.getvalue().strip().splitlines()
    assert lines == [
        "refused: the Pulumi CLI was not found on PATH: the rehearsal drives it through the Automation API; "
        "install the CLI and log in to the backend that holds the stack"
    ]
    assert not (world.tmp / "dr").exists()


def test_the_project_dir_reaches_the_automation_stack(world, tmp_path):
    seen = []
    wiring = _wiring(world)
    wiring.pulumi_stack = lambda name, project_dir: seen.append((name, project_dir)) or world.stack
    root = Path(__file__).resolve().parents[2]
    assert main(["--project-dir", str(root), "dr-rehearsal", "dev", "--yes"], dr_wiring=wiring) == 0
    assert seen == [("dev", root)]
    from stacks.dr.pulumi_ops import AutomationStack

    assert AutomationStack("dev", tmp_path).work_dir == str(tmp_path)


def test_the_timeouts_and_modes_reach_the_rehearsal(world, monkeypatch):
    import stacks.dr.rehearsal as rehearsal_module

    seen = {}
    real = rehearsal_module.Rehearsal

    class Spy(real):
        def __init__(self, options, *args, **kwargs):
            seen["options"] = options
            super().__init__(options, *args, **kwargs)

    monkeypatch.setattr(rehearsal_module, "Rehearsal", Spy)
    argv = ["dr-rehearsal", "dev", "--yes", "--snapshot-timeout", "90", "--freeze-timeout", "5", "--dns-zone-id", "Z123"]
    main(argv, dr_wiring=_wiring(world))
    options = seen["options"]
    assert (options.snapshot_timeout, options.freeze_timeout, options.dns_zone_id, options.point_in_time) == (5400.0, 300.0, "Z123", False)

"""The Makefile's image recipes, run for real with recording stand-ins for docker, aws and pulumi on PATH.

There is no docker engine, AWS account or Pulumi backend here; the stand-ins log their arguments and
answer like the real tools, so the recipes' own logic (which tag, which repository and region, skip
when pushed, log in, build, tag, push) is what is tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.airflow_image import checkout_tag

REPO_ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
OUTPUTS = {"dev": f"{REGISTRY}/batch-platform/dev/airflow", "prod": f"{REGISTRY}/batch-platform/prod/airflow"}

STANDINS = {
    "pulumi": """
        echo "pulumi $*" >> "$LOG"
        [ "$1 $2 $3" = "stack output airflow_image_repository" ] || exit 9
        case "$5" in dev) echo "%(dev)s";; prod) echo "%(prod)s";; *) exit 1;; esac
    """,
    "aws": """
        echo "aws $*" >> "$LOG"
        case "$2" in
          describe-images) case " $* " in *"imageTag=$PUSHED "*) exit 0;; *) exit 254;; esac;;
          get-login-password) echo offline-password;;
          *) exit 9;;
        esac
    """,
    "docker": """
        if [ "$1" = login ]; then echo "docker $* <<$(cat)" >> "$LOG"; else echo "docker $*" >> "$LOG"; fi
    """,
}


@pytest.fixture()
def run_make(tmp_path):
    if MAKE is None:
        pytest.fail("make is required to test the Makefile")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STANDINS.items():
        script = bin_dir / name
        script.write_text("#!/bin/sh\n" + "\n".join(line[8:] for line in (body % OUTPUTS).splitlines()) + "\n")
        script.chmod(0o755)
    # A "virtualenv" that is this test's interpreter, already installed (newer than requirements.txt).
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    (venv / ".installed").touch()
    log = tmp_path / "calls.log"

    def run(*args: str, pushed: str = "none") -> tuple[subprocess.CompletedProcess, list[str]]:
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log), "PUSHED": pushed}
        env.pop("MAKEFLAGS", None)
        result = subprocess.run(
            [MAKE, "--no-print-directory", "-C", str(REPO_ROOT), f"VENV={venv}", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )
        calls = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return result, calls

    return run


def _revision() -> str:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return head.stdout.strip()


def test_image_builds_logs_in_and_pushes_the_stacks_tag(run_make):
    result, calls = run_make("image", "STACK=prod")
    assert result.returncode == 0, result.stderr
    tag = checkout_tag()
    repository = OUTPUTS["prod"]
    assert calls[0] == "pulumi stack output airflow_image_repository --stack prod"
    assert calls[1] == (
        f"aws ecr describe-images --region eu-west-1 --repository-name batch-platform/prod/airflow "
        f"--image-ids imageTag={tag}"
    )
    build = calls[2]
    assert build.startswith(
        "docker build --pull --provenance=false --file images/airflow/Dockerfile --platform linux/amd64 "
        "--build-arg AIRFLOW_VERSION=3.2.2 --build-arg PYTHON_VERSION=3.11 "
        f"--build-arg SOURCE_REVISION={_revision()}"
    )
    assert build.endswith(f" --tag batch-platform-airflow:{tag} .")
    assert calls[3:] == [
        "aws ecr get-login-password --region eu-west-1",
        f"docker login --username AWS --password-stdin {REGISTRY} <<offline-password",
        f"docker tag batch-platform-airflow:{tag} {repository}:{tag}",
        f"docker push {repository}:{tag}",
    ]


def test_an_image_already_pushed_is_not_built_again(run_make):
    result, calls = run_make("image", "STACK=dev", pushed=checkout_tag())
    assert result.returncode == 0, result.stderr
    assert f"{OUTPUTS['dev']}:{checkout_tag()} is already pushed" in result.stdout
    assert not [c for c in calls if c.startswith("docker")]


def test_image_of_an_unknown_stack_stops_before_any_tool(run_make):
    result, calls = run_make("image", "STACK=nope")
    assert result.returncode != 0
    assert "unknown stack 'nope'" in result.stderr
    assert calls == []


def test_promote_copies_the_image_between_the_stacks_repositories(run_make):
    result, calls = run_make("image-promote", "FROM=dev", "STACK=prod", "TAG=3.2.2-0123456789ab")
    assert result.returncode == 0, result.stderr
    source, target = (f"{OUTPUTS[s]}:3.2.2-0123456789ab" for s in ("dev", "prod"))
    assert calls == [
        "pulumi stack output airflow_image_repository --stack dev",
        "pulumi stack output airflow_image_repository --stack prod",
        "aws ecr describe-images --region eu-west-1 --repository-name batch-platform/prod/airflow "
        "--image-ids imageTag=3.2.2-0123456789ab",
        "aws ecr get-login-password --region eu-west-1",
        f"docker login --username AWS --password-stdin {REGISTRY} <<offline-password",
        "aws ecr get-login-password --region eu-west-1",
        f"docker login --username AWS --password-stdin {REGISTRY} <<offline-password",
        f"docker pull --platform linux/amd64 {source}",
        f"docker tag {source} {target}",
        f"docker push {target}",
    ]


def test_promote_defaults_to_this_checkouts_tag_and_needs_from(run_make):
    result, calls = run_make("image-promote", "FROM=dev", "STACK=prod", pushed=checkout_tag())
    assert result.returncode == 0, result.stderr
    assert f"{OUTPUTS['prod']}:{checkout_tag()} is already pushed" in result.stdout
    result, calls = run_make("image-promote", "STACK=prod")
    assert result.returncode == 2
    assert "error: FROM=<stack> is required: the stack whose image is copied to STACK=prod" in result.stdout

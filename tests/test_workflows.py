"""The repository's GitHub Actions workflows pass actionlint (syntax, expressions, runner labels) and
zizmor's offline security audit; both are pinned in requirements.txt and installed in .venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    # -shellcheck= : the run: scripts are checked only where shellcheck is installed; keep results equal everywhere.
    return subprocess.run([str(BIN / "actionlint"), "-no-color", "-shellcheck=", *map(str, paths)], capture_output=True, text=True, timeout=120)


def zizmor(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", "--no-config", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_there_is_a_patch_workflow():
    assert ROOT / ".github" / "workflows" / "patch-nodes.yml" in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow):
    result = actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_zizmor(workflow):
    result = zizmor(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_catch_what_they_are_for(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\n"
        "jobs:\n"
        "  x:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }} ${{ matrix.nope }}\n"
    )
    lint = actionlint(bad)
    assert lint.returncode != 0 and "matrix" in lint.stdout
    audit = zizmor(bad)
    assert audit.returncode != 0 and "template-injection" in audit.stdout + audit.stderr

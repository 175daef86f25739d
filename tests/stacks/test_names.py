"""Names AWS derives from the stack's name are checked against AWS's rules before anything registers."""

from __future__ import annotations

import shutil

import pytest

from stacks.cli import main
from stacks.config.loader import PROJECT_ROOT
from stacks.environment import PROJECT
from stacks.names import botocore_problem, longest_stack_name, stack_name_problems


def project_with_stack(tmp_path, name: str):
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(PROJECT_ROOT / "Pulumi.dev.yaml", tmp_path / f"Pulumi.{name}.yaml")
    return tmp_path


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_real_stacks_fit_every_name(stack):
    assert stack_name_problems(PROJECT, stack, "eu-west-1") == []


def test_the_rules_are_botocores():
    # ClusterName in botocore's EKS model: 1-100 characters, ^[0-9A-Za-z][A-Za-z0-9\-_]*
    assert botocore_problem("EKS cluster name", "a" * 100) is None
    assert "has 101 characters; AWS accepts 1 to 100" in botocore_problem("EKS cluster name", "a" * 101)
    assert "does not match AWS's pattern" in botocore_problem("KMS alias", "alias/batch.platform")


def test_a_dotted_stack_name_is_refused_before_anything_registers(tmp_path, capsys):
    root = project_with_stack(tmp_path, "feature.x")
    assert main(["--project-dir", str(root), "plan", "feature.x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == "Pulumi.feature.x.yaml: 4 configuration problems:"
    assert any("EKS cluster name 'batch-platform-feature.x' does not match AWS's pattern" in line for line in lines)
    assert all(f"at most {longest_stack_name(PROJECT, 'eu-west-1')} characters in eu-west-1" in line for line in lines[1:])


def test_a_stack_name_too_long_for_the_bucket_is_refused(tmp_path, capsys):
    name = "a" * (longest_stack_name(PROJECT, "eu-west-1") + 1)
    root = project_with_stack(tmp_path, name)
    assert main(["--project-dir", str(root), "plan", name]) == 2
    err = capsys.readouterr().err
    assert "S3 bucket name" in err and "(with the 12-digit account ID)" in err
    # One character less fits.
    assert stack_name_problems(PROJECT, name[:-1], "eu-west-1") == []

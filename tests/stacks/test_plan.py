"""The offline plan: its recording harness, its text and JSON forms, and the command's exit codes."""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest
import yaml

from stacks.cli import main
from stacks.config.loader import PROJECT_ROOT
from stacks.offline import record
from stacks.offline.harness import SECRET_MASK
from stacks.offline.render import plan_document, render_json, render_text


@pytest.fixture(params=["dev", "prod"])
def stack_plan(request, dev_plan, prod_plan):
    return {"dev": dev_plan, "prod": prod_plan}[request.param]


def test_json_document_lists_every_resource_with_type_name_parent_inputs_options(stack_plan):
    document = json.loads(render_json(stack_plan))
    assert document["stack"] == stack_plan.stack
    assert document["offline"] is True
    assert len(document["resources"]) == len(stack_plan.resources)
    urns = {r["urn"] for r in document["resources"]}
    for resource in document["resources"]:
        assert set(resource) >= {"type", "name", "parent", "inputs", "options"}
        assert set(resource["options"]) >= {"protect", "retainOnDelete", "ignoreChanges", "dependsOn"}
        assert resource["parent"] is None or resource["parent"] in urns
        assert all(dep in urns for dep in resource["options"]["dependsOn"])
    assert sum(document["totals"].values()) == len(document["resources"])


def test_prod_json_has_the_vpc_nine_subnets_three_nats_and_the_flow_log(prod_plan):
    totals = json.loads(render_json(prod_plan))["totals"]
    assert totals["aws:ec2/vpc:Vpc"] == 1
    assert totals["aws:ec2/subnet:Subnet"] == 9
    assert totals["aws:ec2/natGateway:NatGateway"] == 3
    assert totals["aws:ec2/flowLog:FlowLog"] == 1


def test_json_carries_the_stack_outputs(stack_plan):
    outputs = json.loads(render_json(stack_plan))["outputs"]
    assert outputs["vpc_id"] == f"{stack_plan.stack}-network-vpc-id"
    assert len(outputs["private_subnet_ids"]) == stack_plan.config.network.az_count


def test_invoke_answers_are_labelled_as_offline_placeholders(stack_plan):
    placeholders = json.loads(render_json(stack_plan))["placeholders"]
    tokens = {p["invoke"] for p in placeholders}
    assert "aws:index/getAvailabilityZones:getAvailabilityZones" in tokens
    zones = [p for p in placeholders if p["invoke"].endswith("getAvailabilityZones")]
    others = [p for p in placeholders if p not in zones]
    assert others and all(p["note"] == "offline placeholder, not read from AWS" for p in others)
    # The zones are real data (moto's EC2 offerings), and labelled as such.
    assert zones and all(p["note"].startswith("zone names of eu-west-1 from moto ") for p in zones)
    assert zones[0]["result"]["names"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert "Offline placeholders (canned invoke answers, not read from AWS):" in render_text(stack_plan)


def test_text_tree_groups_resources_under_their_component(stack_plan):
    lines = render_text(stack_plan).splitlines()
    component = lines.index(f"batch-platform:infra:Network  {stack_plan.stack}-network")
    assert lines[component + 1].startswith(("├─ ", "└─ "))
    vpc_line = next(line for line in lines if "aws:ec2/vpc:Vpc" in line)
    assert vpc_line.startswith(("├─ ", "└─ "))
    assert f"cidrBlock={stack_plan.config.network.vpc_cidr}" in vpc_line


def test_text_totals_per_type_add_up(stack_plan):
    text = render_text(stack_plan)
    totals = text.split("Resources by type:\n")[1].split("\n\n")[0].splitlines()
    counts = {line.split()[1]: int(line.split()[0]) for line in totals}
    assert counts.pop("total") == len(stack_plan.resources)
    assert sum(counts.values()) == len(stack_plan.resources)
    assert counts["aws:ec2/subnet:Subnet"] == 3 * stack_plan.config.network.az_count


def test_the_plan_is_deterministic(dev_plan):
    from stacks.offline import run_plan

    assert render_json(run_plan("dev")) == render_json(dev_plan)


def test_harness_records_options_and_masks_secrets():
    def program():
        bucket = aws.s3.Bucket(
            "b",
            tags={"note": "plain"},
            opts=pulumi.ResourceOptions(protect=True, retain_on_delete=True, ignore_changes=["tags"]),
        )
        aws.ssm.Parameter(
            "p",
            type="SecureString",
            value=pulumi.Output.secret("hunter2-very-secret"),
            opts=pulumi.ResourceOptions(depends_on=[bucket]),
        )
        return {"token": pulumi.Output.secret("s3cr3t-output"), "bucket": bucket.bucket}

    plan = record(program)
    bucket = plan.one("aws:s3/bucket:Bucket")
    assert bucket.options["protect"] is True
    assert bucket.options["retainOnDelete"] is True
    assert bucket.options["ignoreChanges"] == ["tags"]
    parameter = plan.one("aws:ssm/parameter:Parameter")
    assert parameter.options["dependsOn"] == [bucket.urn]
    assert parameter.inputs["value"] == SECRET_MASK
    assert parameter.secret_paths == ["value"]
    assert parameter.raw_inputs["value"] == "hunter2-very-secret"
    assert plan.outputs["token"] == SECRET_MASK and plan.secret_outputs == ["token"]
    text = render_json(plan) + render_text(plan)
    assert "hunter2-very-secret" not in text and "s3cr3t-output" not in text
    assert plan_document(plan)["secretOutputs"] == ["token"]


def test_an_invoke_without_a_canned_answer_fails_loudly():
    def program():
        aws.ec2.get_vpc(default=True)
        return {}

    with pytest.raises(Exception, match="no canned answer for invoke aws:ec2/getVpc:getVpc"):
        record(program)


# --- the command line ---------------------------------------------------------------------------


def copy_project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    return tmp_path


def test_plan_command_prints_the_tree(capsys):
    assert main(["plan", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Offline plan of stack dev (tier dev, region eu-west-1).")
    assert "batch-platform:infra:Network  dev-network" in out


def test_plan_command_prints_valid_json(capsys):
    assert main(["plan", "prod", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["totals"]["aws:ec2/subnet:Subnet"] == 9


def test_the_plan_in_its_own_process_prints_what_the_in_process_command_prints(capsys):
    """``python -m stacks plan`` runs without the cyclic collector (speed); the plan must not change."""
    assert main(["plan", "dev", "--json"]) == 0
    in_process = capsys.readouterr().out
    own = subprocess.run(
        [sys.executable, "-m", "stacks", "plan", "dev", "--json"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert own.stderr == ""
    assert own.stdout == in_process


def test_the_in_process_command_leaves_the_garbage_collector_as_it_was(capsys):
    # Only the command's own process turns the collector off: a caller (the tests) keeps it.
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    assert main(["plan", "dev", "--json"]) == 0
    capsys.readouterr()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_unknown_stack_exits_2_naming_the_stacks_that_exist(capsys):
    assert main(["plan", "staging"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown stack 'staging': expected one of dev, prod" in captured.err


def test_invalid_config_exits_2_with_every_problem_and_no_plan(tmp_path: Path, capsys):
    root = copy_project(tmp_path)
    document = yaml.safe_load((root / "Pulumi.prod.yaml").read_text())
    document["config"]["batch-platform:network"].update(az_count=1, nat_gateways="single", colour="blue")
    (root / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    assert main(["--project-dir", str(root), "plan", "prod", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Pulumi.prod.yaml: network.az_count = 1: expected >= 2" in captured.err
    assert "Pulumi.prod.yaml: network.colour = \"blue\": unknown key" in captured.err


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plan"])
    assert exit_info.value.code == 2
    assert "stack" in capsys.readouterr().err

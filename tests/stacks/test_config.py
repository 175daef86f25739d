"""The typed stack config: both real stack files load, and every bad config is named precisely."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from stacks.config import StackConfigError, load_stack_file, validate
from stacks.config.loader import PROJECT_ROOT, available_stacks

ROOT = PROJECT_ROOT


def real_config(stack: str) -> dict:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def with_change(stack: str, key: str, dotted: str | None, value) -> dict:
    """The real stack file's config with one value changed (dotted path inside ``key``)."""
    config = copy.deepcopy(real_config(stack))
    if dotted is None:
        config[key] = value
    else:
        node = config.setdefault(key, {})
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config


def problems_of(config: dict, source: str = "Pulumi.prod.yaml") -> list[str]:
    with pytest.raises(StackConfigError) as err:
        validate(config, source)
    return [p.render(source) for p in err.value.problems]


def test_both_stack_files_load_with_their_intended_shape():
    dev = load_stack_file(ROOT / "Pulumi.dev.yaml")
    prod = load_stack_file(ROOT / "Pulumi.prod.yaml")
    assert (dev.tier, dev.network.az_count, dev.network.nat_gateways) == ("dev", 2, "single")
    assert (prod.tier, prod.network.az_count, prod.network.nat_gateways) == ("prod", 3, "one_per_az")


def test_the_stacks_that_exist_are_dev_and_prod():
    assert available_stacks(ROOT) == ["dev", "prod"]


def test_defaults_are_production_shaped_and_live_in_the_model():
    config = {k: v for k, v in real_config("prod").items() if k != "batch-platform:network"}
    minimal = validate(config, "Pulumi.x.yaml")
    assert minimal.network.az_count == 3
    assert minimal.network.nat_gateways == "one_per_az"
    assert minimal.network.vpc_cidr == "10.0.0.0/16"


BAD_CONFIGS = [
    pytest.param(
        with_change("prod", "batch-platform:network", "az_count", 1),
        "Pulumi.prod.yaml: network.az_count = 1: expected >= 2",
        id="one-az",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "az_count", 9),
        "Pulumi.prod.yaml: network.az_count = 9: expected <= 6",
        id="too-many-azs",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "nat_gateways", "single"),
        'Pulumi.prod.yaml: network.nat_gateways = "single": prod needs one_per_az',
        id="prod-single-nat",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "nat_gateways", "none"),
        "Pulumi.prod.yaml: network.nat_gateways = \"none\": expected 'one_per_az' or 'single'",
        id="unknown-nat-strategy",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "vpc_cidr", "10.0.0.0/20"),
        'Pulumi.prod.yaml: network.vpc_cidr = "10.0.0.0/20": too small: each private subnet would be a /23',
        id="cidr-too-small",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "vpc_cidr", "10.0.0.0/33"),
        'Pulumi.prod.yaml: network.vpc_cidr = "10.0.0.0/33": expected an IPv4 network in CIDR notation',
        id="cidr-malformed",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "vpc_cidr", "52.0.0.0/16"),
        'Pulumi.prod.yaml: network.vpc_cidr = "52.0.0.0/16": expected a private range',
        id="cidr-public",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "flow_logs_retention_days", 42),
        "Pulumi.prod.yaml: network.flow_logs_retention_days = 42: expected a CloudWatch Logs retention period",
        id="retention-not-accepted-by-cloudwatch",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "az_cuont", 3),
        "Pulumi.prod.yaml: network.az_cuont = 3: unknown key; did you mean az_count? expected one of: "
        "az_count, flow_logs_retention_days, nat_gateways, vpc_cidr",
        id="typo-in-section",
    ),
    pytest.param(
        with_change("prod", "batch-platform:netwrok", None, {}),
        "Pulumi.prod.yaml: netwrok = {}: unknown key; did you mean network?",
        id="typo-in-section-name",
    ),
    pytest.param(
        with_change("prod", "batch-platform:tier", None, "production"),
        "Pulumi.prod.yaml: tier = \"production\": expected 'dev' or 'prod'",
        id="unknown-tier",
    ),
    pytest.param(
        with_change("prod", "batch-platform:region", None, "Europe"),
        'Pulumi.prod.yaml: region = "Europe": expected an AWS region such as eu-west-1',
        id="bad-region",
    ),
    pytest.param(
        {k: v for k, v in real_config("prod").items() if k != "batch-platform:region"},
        "Pulumi.prod.yaml: region = <missing>: required: AWS region",
        id="missing-region",
    ),
    pytest.param(
        with_change("prod", "aws:region", None, "eu-west-1"),
        'Pulumi.prod.yaml: aws:region = "eu-west-1": not read by this program: every setting lives under batch-platform:',
        id="foreign-namespace",
    ),
    pytest.param(
        with_change("prod", "batch-platform:tags", "aws:team", "x"),
        'Pulumi.prod.yaml: tags.aws:team = "aws:team": tag keys starting with aws: are reserved by AWS',
        id="reserved-tag",
    ),
    pytest.param(
        with_change("prod", "batch-platform:network", "az_count", "three"),
        'Pulumi.prod.yaml: network.az_count = "three": expected a valid integer',
        id="wrong-type",
    ),
]


@pytest.mark.parametrize("config, expected", BAD_CONFIGS)
def test_each_bad_config_is_named_with_path_value_and_expectation(config, expected):
    messages = problems_of(config)
    assert any(m.startswith(expected) for m in messages), messages


def test_several_problems_are_reported_together():
    config = with_change("prod", "batch-platform:network", "nat_gateways", "single")
    config["batch-platform:database"]["multi_az"] = False
    config["batch-platform:network"]["vpc_cidr"] = "10.0.0.0/20"
    config["batch-platform:tags"] = {"aws:x": "1"}
    config["batch-platform:colour"] = "blue"
    messages = problems_of(config)
    assert len(messages) == 5, messages
    assert {m.split(" = ")[0] for m in messages} == {
        "Pulumi.prod.yaml: network.nat_gateways",
        "Pulumi.prod.yaml: database.multi_az",
        "Pulumi.prod.yaml: network.vpc_cidr",
        "Pulumi.prod.yaml: tags.aws:x",
        "Pulumi.prod.yaml: colour",
    }


def test_rules_of_valid_sections_still_run_when_another_key_is_broken():
    config = with_change("prod", "batch-platform:network", "nat_gateways", "single")
    config["batch-platform:region"] = "nowhere"
    messages = problems_of(config)
    assert any("network.nat_gateways" in m and "prod needs one_per_az" in m for m in messages)
    assert any(m.startswith('Pulumi.prod.yaml: region = "nowhere"') for m in messages)


def test_the_same_change_is_fine_in_dev():
    config = with_change("dev", "batch-platform:network", "nat_gateways", "single")
    assert validate(config, "Pulumi.dev.yaml").network.nat_gateways == "single"


def test_the_error_text_lists_every_problem(tmp_path: Path):
    broken = tmp_path / "Pulumi.prod.yaml"
    broken.write_text(yaml.safe_dump({"config": with_change("prod", "batch-platform:network", "az_count", 1)}))
    with pytest.raises(StackConfigError) as err:
        load_stack_file(broken)
    text = str(err.value)
    assert text.splitlines()[0] == "Pulumi.prod.yaml: 1 configuration problem:"
    assert "  - Pulumi.prod.yaml: network.az_count = 1: expected >= 2" in text


@pytest.mark.parametrize(
    "content, expected",
    [
        ("config: [1, 2\n", "Pulumi.prod.yaml: (file) = "),
        ("- a\n- b\n", 'Pulumi.prod.yaml: (file) = "list": expected a mapping with a config: key'),
        ("config: 3\n", "Pulumi.prod.yaml: config = 3: expected a mapping of namespaced keys"),
        ("confg: {}\n", 'Pulumi.prod.yaml: confg = {}: unknown top-level key of a Pulumi stack file'),
    ],
)
def test_a_broken_file_is_reported_not_crashed_on(tmp_path: Path, content: str, expected: str):
    broken = tmp_path / "Pulumi.prod.yaml"
    broken.write_text(content)
    with pytest.raises(StackConfigError) as err:
        load_stack_file(broken)
    assert any(p.render("Pulumi.prod.yaml").startswith(expected) for p in err.value.problems), str(err.value)

"""Config section ``airflow.image``: defaults, and bad values with exact messages."""

from __future__ import annotations

import copy

import pytest
import yaml

from stacks.config import StackConfigError, load_stack_file, stack_file, validate

PREFIX = "batch-platform:"


def problems_of(stack: str, image: dict) -> list[str]:
    config = copy.deepcopy(yaml.safe_load(stack_file(stack).read_text())["config"])
    config[f"{PREFIX}airflow"]["image"] = image
    source = f"Pulumi.{stack}.yaml"
    with pytest.raises(StackConfigError) as excinfo:
        validate(config, source)
    return [p.render(source) for p in excinfo.value.problems]


def valid(stack: str, image: dict):
    config = copy.deepcopy(yaml.safe_load(stack_file(stack).read_text())["config"])
    config[f"{PREFIX}airflow"]["image"] = image
    return validate(config, f"Pulumi.{stack}.yaml").airflow.image


def test_default_is_the_stacks_own_repository_at_the_content_tag():
    for stack in ("dev", "prod"):
        image = load_stack_file(stack_file(stack)).airflow.image
        assert image.repository is None and image.tag is None


def test_an_explicit_tag_of_the_own_repository_is_accepted():
    # Promotion: prod pins the tag dev has proven.
    assert valid("prod", {"tag": "3.2.2-0123456789ab"}).tag == "3.2.2-0123456789ab"


def test_a_mirror_with_an_explicit_tag_is_accepted_in_prod():
    repo = "registry.example.com:5000/platform/airflow"
    assert valid("prod", {"repository": repo, "tag": "3.2.2-0123456789ab"}).repository == repo


def test_the_stock_image_is_selectable_in_dev():
    image = valid("dev", {"repository": "apache/airflow", "tag": "3.2.2"})
    assert image.is_stock
    assert valid("dev", {"repository": "docker.io/apache/airflow", "tag": "3.2.2-python3.11"}).is_stock


def test_bad_tag_format():
    assert problems_of("dev", {"tag": "3.2.2 latest"}) == [
        'Pulumi.dev.yaml: airflow.image.tag = "3.2.2 latest": expected an image tag: 1-128 letters, digits, '
        "'_', '.' or '-', not starting with '.' or '-' (Image tag. Unset: the content tag of this checkout "
        "(.venv/bin/python -m stacks image-tag <stack>).)"
    ]


def test_tag_of_the_own_repository_must_be_of_the_pinned_airflow():
    assert problems_of("prod", {"tag": "3.1.0-0123456789ab"}) == [
        'Pulumi.prod.yaml: airflow.image.tag = "3.1.0-0123456789ab": a tag of the stack\'s repository: '
        "<Airflow version>-<content hash>, and infra/versions.py pins Airflow 3.2.2 (3.2.2-...)"
    ]


def test_repository_with_a_tag_is_refused():
    assert problems_of("dev", {"repository": "apache/airflow:3.2.2", "tag": "3.2.2"}) == [
        'Pulumi.dev.yaml: airflow.image.repository = "apache/airflow:3.2.2": expected an image repository '
        "without tag or digest, in lowercase, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/batch-platform/"
        "prod/airflow (Image repository without tag, e.g. a registry mirror. Unset: the stack's own ECR "
        "repository (stack output airflow_image_repository), where make image pushes.)"
    ]


def test_explicit_repository_needs_a_tag():
    assert problems_of("dev", {"repository": "registry.example.com/airflow"}) == [
        "Pulumi.dev.yaml: airflow.image.tag = null: required with an explicit repository: the default (content) "
        "tag only names images make image pushed to the stack's own repository"
    ]


def test_prod_refuses_the_stock_image():
    assert problems_of("prod", {"repository": "apache/airflow", "tag": "3.2.2"}) == [
        'Pulumi.prod.yaml: airflow.image.repository = "apache/airflow": prod deploys the platform image (leave '
        "repository unset): the stock image ships the provider versions of Airflow's constraints, not the ones "
        "the tests ran"
    ]


def test_stock_image_of_another_airflow_version():
    assert problems_of("dev", {"repository": "apache/airflow", "tag": "3.1.7"}) == [
        'Pulumi.dev.yaml: airflow.image.tag = "3.1.7": the stock image of the Airflow the chart is told it runs '
        "(infra/versions.py): 3.2.2 or 3.2.2-python3.11"
    ]


def test_unknown_key():
    assert problems_of("prod", {"tags": "3.2.2-0123456789ab"}) == [
        'Pulumi.prod.yaml: airflow.image.tags = "3.2.2-0123456789ab": unknown key; did you mean tag? expected '
        "one of: repository, tag"
    ]

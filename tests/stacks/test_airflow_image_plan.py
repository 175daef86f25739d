"""The Airflow image in the stacks' offline plans: its repository, the image the release runs, the push check."""

from __future__ import annotations

import copy
import json
import shutil

import pulumi_aws as aws
import pytest
import yaml

from infra import versions
from infra.airflow_image import checkout_tag
from stacks.airflow_image import build_airflow_image, image_digests, image_repository_name, image_tags
from stacks.cli import main
from stacks.config import StackConfigError, load_from_pulumi, stack_file, validate
from stacks.environment import PROJECT, build_environment
from stacks.offline import Plan, canned, record, run_plan

REPOSITORY = "aws:ecr/repository:Repository"
RELEASE = "kubernetes:helm.sh/v3:Release"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def url(stack: str) -> str:
    return f"{REGISTRY}/batch-platform/{stack}/airflow"


def airflow_release(plan: Plan):
    return plan.one(RELEASE, f"{plan.stack}-airflow-release")


def raw_config(stack: str, image: dict | None = None) -> dict:
    config = copy.deepcopy(yaml.safe_load(stack_file(stack).read_text())["config"])
    if image is not None:
        config["batch-platform:airflow"]["image"] = image
    return config


def pushed(stack: str, *tags: str) -> dict:
    """Canned answers of an account where the stack's repository exists and holds ``tags``."""
    return canned.repositories_found({image_repository_name(PROJECT, stack): list(tags)})


def image_only(stack: str, image: dict | None = None, invokes: dict | None = None) -> Plan:
    """Record build_airflow_image alone for a stack file with ``airflow.image`` replaced."""
    config = validate(raw_config(stack, image), f"Pulumi.{stack}.yaml")

    def program():
        provider = aws.Provider("aws", region=config.region)
        image_ = build_airflow_image(config, stack, project=PROJECT, aws_provider=provider)
        return {
            "repository": image_.repository,
            "tag": image_.tag,
            "await": image_.await_release,
            "own": image_.own_repository_url,
        }

    return record(program, stack=stack, invokes=invokes)


# --- The stack files, as committed ---------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_stack_has_its_own_durable_repository(stack, dev_plan, prod_plan):
    plan = {"dev": dev_plan, "prod": prod_plan}[stack]
    repo = plan.one(REPOSITORY)
    assert repo.name == f"{stack}-airflow-image-repository"
    assert repo.input("name") == f"batch-platform/{stack}/airflow"
    assert repo.input("imageTagMutability") == "IMMUTABLE"
    assert repo.input("imageScanningConfiguration.scanOnPush") is True
    assert repo.options["retainOnDelete"] is True
    assert repo.provider.startswith(f"urn:pulumi:{stack}::batch-platform::pulumi:pulumi:Stack$pulumi:providers:aws::aws::")
    assert json.loads(plan.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").input("policy"))["rules"][0]["selection"][
        "countNumber"
    ] == 30
    assert plan.outputs["airflow_image_repository"] == url(stack)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_release_runs_the_platform_image_at_the_content_tag(stack, dev_plan, prod_plan):
    plan = {"dev": dev_plan, "prod": prod_plan}[stack]
    values = airflow_release(plan).inputs["values"]
    assert values["defaultAirflowRepository"] == url(stack)
    assert values["defaultAirflowTag"] == checkout_tag()
    assert values["defaultAirflowTag"].startswith(f"{versions.AIRFLOW_VERSION}-")
    assert values["airflowVersion"] == versions.AIRFLOW_VERSION
    assert "images" not in values


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_first_deploy_does_not_wait_for_an_image_that_cannot_exist_yet(stack, dev_plan, prod_plan):
    # The offline answers describe a fresh account: the repository is created by this update.
    plan = {"dev": dev_plan, "prod": prod_plan}[stack]
    assert plan.one(REPOSITORY).options["importId"] is None
    assert airflow_release(plan).input("skipAwait") is True
    assert "aws:ecr/getImages:getImages" not in [i.token for i in plan.invokes]


def test_the_repository_lookup_comes_first(prod_plan):
    # Invokes are recorded in program order: the repository (and, when it exists, image) lookups
    # come right after the availability zones, before any other component.
    tokens = [i.token for i in prod_plan.invokes]
    assert tokens[:2] == ["aws:index/getAvailabilityZones:getAvailabilityZones", "aws:ecr/getRepositories:getRepositories"]


# --- Later deploys and recreates: the repository exists ------------------------------------------------


@pytest.fixture(scope="module")
def prod_with_image() -> Plan:
    # The deploy key has its value (else the release would not wait for its git-sync pods either).
    key = canned.secrets_found(["batch-platform/prod/airflow/git-ssh-key"])
    return run_plan("prod", invokes={**pushed("prod", "3.2.2-000000000000", checkout_tag()), **key})


def test_an_existing_repository_is_adopted_and_the_release_waits(prod_with_image):
    assert prod_with_image.one(REPOSITORY).options["importId"] == "batch-platform/prod/airflow"
    release = airflow_release(prod_with_image)
    assert release.input("skipAwait") is False
    assert release.inputs["values"]["defaultAirflowTag"] == checkout_tag()
    [lookup] = [i for i in prod_with_image.invokes if i.token == "aws:ecr/getImages:getImages"]
    assert lookup.args["repositoryName"] == "batch-platform/prod/airflow"


def test_an_existing_image_runs_by_the_digest_the_lookup_answered(prod_with_image):
    """The digest comes from the getImages answer (the same lookup that checks the tag exists): the
    chart's containers run repository@digest, the executor's task pods repository:tag@digest."""
    answer = pushed("prod", "3.2.2-000000000000", checkout_tag())["aws:ecr/getImages:getImages"](
        {"repositoryName": "batch-platform/prod/airflow"}, "eu-west-1"
    )
    digest = image_digests(answer["imageIds"])[checkout_tag()]
    values = airflow_release(prod_with_image).inputs["values"]
    assert values["defaultAirflowDigest"] == digest
    assert values["defaultAirflowDigest"] != image_digests(answer["imageIds"])["3.2.2-000000000000"]
    assert values["config"]["kubernetes_executor"]["worker_container_tag"] == f"{checkout_tag()}@{digest}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_first_deploy_pulls_by_tag_as_no_digest_exists_yet(stack, dev_plan, prod_plan):
    values = airflow_release({"dev": dev_plan, "prod": prod_plan}[stack]).inputs["values"]
    assert "defaultAirflowDigest" not in values
    assert "worker_container_tag" not in values["config"]["kubernetes_executor"]


def test_an_image_not_pushed_fails_before_anything_else_is_registered():
    config_values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw_config("prod").items()}
    errors = []

    def program():
        try:
            return build_environment(load_from_pulumi(), "prod")
        except StackConfigError as exc:
            errors.append(exc)
            return {}

    plan = record(program, stack="prod", config_values=config_values, invokes=pushed("prod", "3.2.2-000000000000"))
    [error] = errors
    assert str(error).splitlines()[1] == (
        f'  - Pulumi.prod.yaml: airflow.image.tag = "{checkout_tag()}": no image with this tag in the ECR repository '
        "batch-platform/prod/airflow (the tag is the content tag of this checkout: images/airflow, dags/batch_platform and plugins/): "
        "build and push it first with make image STACK=prod"
    )
    assert {r.type for r in plan.resources} == {
        "pulumi:providers:aws", "batch-platform:infra:ImageRepository", REPOSITORY, "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    }


def test_a_retried_first_deploy_completes_and_names_the_missing_image():
    """Finding 3 of issue 11: the first up failed after creating the repository; the retry finds it
    empty. Before the fix it raised a config error until someone pushed the image by hand."""
    plan = image_only("prod", invokes=pushed("prod"))
    assert plan.outputs["await"] is False
    assert plan.one(REPOSITORY).options["importId"] == "batch-platform/prod/airflow"
    assert any(
        "holds no image yet (the first deploy has not completed)" in message
        and f"Still missing: the image {checkout_tag()}; push it with make image STACK=prod" in message
        for message in plan.warnings
    )


def test_an_explicit_tag_not_pushed_names_the_promotion():
    with pytest.raises(StackConfigError) as excinfo:
        image_only("prod", {"tag": "3.2.2-0123456789ab"}, invokes=pushed("prod", checkout_tag()))
    assert [p.render("Pulumi.prod.yaml") for p in excinfo.value.problems] == [
        'Pulumi.prod.yaml: airflow.image.tag = "3.2.2-0123456789ab": no image with this tag in the ECR repository '
        "batch-platform/prod/airflow: push it first (make image-promote FROM=<stack> STACK=prod "
        "TAG=3.2.2-0123456789ab copies it from another stack)"
    ]


def test_an_explicit_tag_that_was_pushed_is_deployed():
    plan = image_only("prod", {"tag": "3.2.2-0123456789ab"}, invokes=pushed("prod", "3.2.2-0123456789ab"))
    assert plan.outputs == {"repository": url("prod"), "tag": "3.2.2-0123456789ab", "await": True, "own": url("prod")}


# --- Explicit repositories: nothing to check in another registry ----------------------------------------


def test_dev_may_run_the_stock_image():
    plan = image_only("dev", {"repository": "apache/airflow", "tag": "3.2.2"}, invokes=pushed("dev"))
    assert plan.outputs == {"repository": "apache/airflow", "tag": "3.2.2", "await": True, "own": url("dev")}
    assert "aws:ecr/getImages:getImages" not in [i.token for i in plan.invokes]
    # The stack's repository is still there (and still the stack output) for when dev switches back.
    assert plan.one(REPOSITORY).input("name") == "batch-platform/dev/airflow"


def test_a_mirror_is_deployed_as_configured():
    mirror = "registry.example.com/platform/airflow"
    plan = image_only("prod", {"repository": mirror, "tag": "3.2.2-0123456789ab"})
    assert (plan.outputs["repository"], plan.outputs["tag"], plan.outputs["await"]) == (mirror, "3.2.2-0123456789ab", True)


# --- Pure helpers -------------------------------------------------------------------------------------


def test_image_tags_reads_both_shapes_and_skips_untagged():
    class Image:
        def __init__(self, tag):
            self.image_tag = tag

    assert image_tags([{"imageTag": "a"}, {"image_tag": "b"}, Image("c"), Image(None), {"imageDigest": "sha256:x"}]) == {
        "a", "b", "c",
    }
    assert image_tags(None) == set()


def test_image_digests_pairs_each_tag_with_its_digest():
    class Image:
        def __init__(self, tag, digest):
            self.image_tag, self.image_digest = tag, digest

    ids = [{"imageTag": "a", "imageDigest": "sha256:1"}, {"image_tag": "b", "image_digest": "sha256:2"},
           Image("c", "sha256:3"), Image(None, "sha256:4"), {"imageDigest": "sha256:5"}]
    assert image_digests(ids) == {"a": "sha256:1", "b": "sha256:2", "c": "sha256:3"}


def test_repository_name_of_a_stack_must_be_valid():
    assert image_repository_name("batch-platform", "prod") == "batch-platform/prod/airflow"
    with pytest.raises(ValueError, match=r"^ECR repository name 'batch-platform/Prod/airflow' for stack 'Prod': "):
        image_repository_name("batch-platform", "Prod")


# --- python -m stacks image-tag: what make image builds and pushes --------------------------------------


def _project_with(tmp_path, stack: str, image: dict):
    shutil.copy("Pulumi.yaml", tmp_path / "Pulumi.yaml")
    document = yaml.safe_load(stack_file(stack).read_text())
    document["config"]["batch-platform:airflow"]["image"] = image
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


def test_image_tag_is_the_checkout_tag(capsys):
    assert main(["image-tag", "prod"]) == 0
    assert capsys.readouterr().out == f"{checkout_tag()}\n"


def test_image_tag_accepts_an_explicit_tag_equal_to_the_checkouts(tmp_path, capsys):
    root = _project_with(tmp_path, "prod", {"tag": checkout_tag()})
    assert main(["--project-dir", str(root), "image-tag", "prod"]) == 0
    assert capsys.readouterr().out == f"{checkout_tag()}\n"


def test_image_tag_refuses_another_tag(tmp_path, capsys):
    root = _project_with(tmp_path, "prod", {"tag": "3.2.2-0123456789ab"})
    assert main(["--project-dir", str(root), "image-tag", "prod"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[1] == (
        f'  - Pulumi.prod.yaml: airflow.image.tag = "3.2.2-0123456789ab": this checkout builds {checkout_tag()}, '
        "and a tag names one content: unset the tag to deploy this checkout, or copy that image from another stack "
        "with make image-promote FROM=<stack> STACK=prod TAG=3.2.2-0123456789ab"
    )


def test_image_tag_refuses_a_stack_deploying_another_repository(tmp_path, capsys):
    root = _project_with(tmp_path, "dev", {"repository": "apache/airflow", "tag": "3.2.2"})
    assert main(["--project-dir", str(root), "image-tag", "dev"]) == 2
    assert capsys.readouterr().err.splitlines()[1] == (
        '  - Pulumi.dev.yaml: airflow.image.repository = "apache/airflow": make image pushes to the stack\'s own ECR '
        "repository only; this stack deploys an image built elsewhere"
    )


def test_an_unexpected_digest_falls_back_to_the_tag_with_a_warning():
    invokes = pushed("prod", "3.2.2-0123456789ab")
    answer = invokes["aws:ecr/getImages:getImages"]

    def odd(args, region):
        found = answer(args, region)
        return {**found, "imageIds": [{**i, "imageDigest": "sha512:abc"} for i in found["imageIds"]]}

    plan = image_only("prod", {"tag": "3.2.2-0123456789ab"}, invokes={**invokes, "aws:ecr/getImages:getImages": odd})
    assert plan.outputs["await"] is True
    assert any("has the digest 'sha512:abc'" in w and "deployed by tag" in w for w in plan.warnings)

"""The ImageRepository component: immutable, scanned, encrypted, expiring old images, durable across destroy."""

from __future__ import annotations

import json

import pytest

from infra.image_repository import ImageRepository, ImageRepositoryArgs, lifecycle_policy, repository_name_problem
from stacks.offline import Plan, canned, record

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
NAME = "batch-platform/test/airflow"


def _program(**overrides):
    def program():
        repo = ImageRepository("images", ImageRepositoryArgs(name=NAME, **overrides))
        return {"url": repo.url, "name": repo.name, "adopted": repo.adopted}

    return program


@pytest.fixture(scope="module")
def fresh() -> Plan:
    return record(_program())


@pytest.fixture(scope="module")
def adopted() -> Plan:
    return record(_program(), invokes=canned.repositories_found({NAME: ["3.2.2-0123456789ab"], "someone/else": []}))


def test_tags_are_immutable_images_scanned_and_encrypted(fresh):
    repo = fresh.one(REPOSITORY)
    assert repo.input("name") == NAME
    assert repo.input("imageTagMutability") == "IMMUTABLE"
    assert repo.input("imageScanningConfiguration") == {"scanOnPush": True}
    assert repo.input("encryptionConfigurations") == [{"encryptionType": "AES256"}]
    assert repo.input("forceDelete") is False
    assert repo.input("tags") == {"Name": NAME, "durable": "true"}


def test_lifecycle_keeps_the_last_images(fresh):
    policy = json.loads(fresh.one(LIFECYCLE).input("policy"))
    assert policy == {
        "rules": [
            {
                "rulePriority": 1,
                "description": "Keep the 30 most recent images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
                "action": {"type": "expire"},
            }
        ]
    }
    assert fresh.one(LIFECYCLE).input("repository") == NAME


def test_keep_images_is_configurable_and_at_least_one():
    assert json.loads(lifecycle_policy(5))["rules"][0]["selection"]["countNumber"] == 5
    with pytest.raises(ValueError, match="^keep_images must be at least 1, got 0$"):
        lifecycle_policy(0)


def test_durable_repository_and_policy_survive_destroy(fresh):
    for type_ in (REPOSITORY, LIFECYCLE):
        resource = fresh.one(type_)
        assert resource.options["retainOnDelete"] is True, type_
        assert resource.parent_name == "images"


def test_fresh_account_creates_the_repository(fresh):
    assert fresh.one(REPOSITORY).options["importId"] is None
    assert fresh.outputs["adopted"] is False
    assert fresh.outputs["url"] == f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/{NAME}"


def test_a_repository_left_behind_is_adopted(adopted):
    assert adopted.one(REPOSITORY).options["importId"] == NAME
    assert adopted.outputs["adopted"] is True
    # Its settings are declared again: the retained lifecycle policy is overwritten in place.
    assert adopted.one(LIFECYCLE).options["importId"] is None


def test_only_an_exact_name_is_adopted():
    plan = record(_program(), invokes=canned.repositories_found({f"{NAME}-old": [], "batch-platform/test": []}))
    assert plan.one(REPOSITORY).options["importId"] is None


@pytest.mark.parametrize("name", ["Batch/airflow", "a", "batch--platform/airflow", "batch/", "/airflow", "x" * 257])
def test_invalid_repository_names_are_refused(name):
    assert repository_name_problem(name) is not None
    with pytest.raises(ValueError, match=r"^repository name .*: expected 2-256 characters"):
        record(lambda: {"url": ImageRepository("images", ImageRepositoryArgs(name=name)).url})


def test_valid_repository_names():
    for name in ("batch-platform/prod/airflow", "ab", "a.b_c-d/e"):
        assert repository_name_problem(name) is None

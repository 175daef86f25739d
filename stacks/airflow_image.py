"""The Airflow image of an environment: its ECR repository, the image the release runs, and the check it exists.

``build_environment`` calls ``build_airflow_image`` first, right after the AWS provider: it registers
the stack's durable ECR repository (``infra.image_repository``), resolves ``airflow.image`` (unset:
that repository at the content tag of this checkout, ``infra.airflow_image``), and, when the
repository already exists, checks that the tag has been pushed. A missing image is a clear error
before anything else is registered, instead of pods that cannot pull it and a Helm release that
times out after 20 minutes.

The first deploy into an account is the one case where the image cannot exist yet: its repository is
created by that same update. The release is then installed without waiting for ready pods (Helm's
wait would only time out) and without the chart's migration and create-user Jobs (``AirflowArgs.
image_available``); ``make image`` pushes the tag, and the next ``pulumi up`` creates the Jobs, runs
every pod by the image's digest and waits for the release. A retry of a first deploy that failed after
creating the repository finds it *empty*, which no completed deploy leaves behind (each one needed an
image there), and is treated the same way. Every later update finds images in the repository, checks
that this tag is one of them, pins its digest and waits for the release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import pulumi
import pulumi_aws as aws

from infra.airflow_image import checkout_tag
from infra.image_repository import ImageRepository, ImageRepositoryArgs, repository_name_problem
from stacks.config import Problem, StackConfig, StackConfigError


@dataclass(frozen=True)
class AirflowImage:
    """The image the Airflow release runs, and the stack's own repository."""

    repository: pulumi.Input[str]
    """Repository the release pulls from: the stack's repository URL, or ``airflow.image.repository``."""
    tag: str
    await_release: bool
    """False only on the first deploy into an account (see the module docstring): the image cannot be
    there yet, so the release neither waits nor creates its Jobs (``AirflowArgs.image_available``)."""
    own_repository_url: pulumi.Output[str]
    """URL of the stack's ECR repository (stack output ``airflow_image_repository``)."""
    digest: Optional[str] = None
    """The digest of ``tag`` in the stack's own repository, read by the same lookup that checks the tag
    exists; None when the image is not there yet or comes from another repository (pulled by tag)."""


DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
"""The digests ECR gives images (infra.airflow_values.ImageRef accepts these only)."""


def image_repository_name(project: str, stack: str) -> str:
    """Fixed per stack, so a recreated stack adopts the repository (and the images) it left behind."""
    name = f"{project}/{stack}/airflow"
    problem = repository_name_problem(name)
    if problem:
        raise ValueError(f"ECR repository name {name!r} for stack {stack!r}: {problem}; use a lowercase stack name")
    return name


def image_digests(image_ids: Iterable[Any]) -> dict[str, str]:
    """Each tag of a getImages answer and its digest (untagged images have no tag)."""
    digests: dict[str, str] = {}
    for image in image_ids or []:
        if isinstance(image, dict):
            tag = image.get("image_tag") or image.get("imageTag")
            digest = image.get("image_digest") or image.get("imageDigest")
        else:
            tag, digest = getattr(image, "image_tag", None), getattr(image, "image_digest", None)
        if tag:
            digests[tag] = digest or ""
    return digests


def image_tags(image_ids: Iterable[Any]) -> set[str]:
    """The tags in a getImages answer (untagged images have none)."""
    return set(image_digests(image_ids))


def missing_image_problem(stack: str, repository: str, tag: str, *, explicit: bool) -> Problem:
    where = f"no image with this tag in the ECR repository {repository}"
    if explicit:
        expected = (
            f"{where}: push it first (make image-promote FROM=<stack> STACK={stack} TAG={tag} copies it from "
            "another stack)"
        )
    else:
        expected = (
            f"{where} (the tag is the content tag of this checkout: images/airflow, dags/batch_platform and plugins/): build and "
            f"push it first with make image STACK={stack}"
        )
    return Problem("airflow.image.tag", tag, expected)


def build_tag(config: StackConfig, stack: str) -> str:
    """The tag ``make image`` builds from this checkout and pushes to the stack's repository.

    Raises StackConfigError when the stack deploys an image this checkout does not build: one from
    another repository, or an explicit tag that is not this checkout's content tag.
    """
    wanted = config.airflow.image
    tag = checkout_tag()
    problems = []
    if wanted.repository is not None:
        problems.append(
            Problem(
                "airflow.image.repository",
                wanted.repository,
                "make image pushes to the stack's own ECR repository only; this stack deploys an image built elsewhere",
            )
        )
    elif wanted.tag is not None and wanted.tag != tag:
        problems.append(
            Problem(
                "airflow.image.tag",
                wanted.tag,
                f"this checkout builds {tag}, and a tag names one content: unset the tag to deploy this checkout, "
                "or copy that image from another stack with make image-promote "
                f"FROM=<stack> STACK={stack} TAG={wanted.tag}",
            )
        )
    if problems:
        raise StackConfigError(f"Pulumi.{stack}.yaml", problems)
    return tag


def build_airflow_image(config: StackConfig, stack: str, *, project: str, aws_provider: aws.Provider) -> AirflowImage:
    """Register the stack's image repository and resolve the image the Airflow release runs.

    Raises StackConfigError when the stack's own repository holds images, but none with the tag.
    """
    name = image_repository_name(project, stack)
    repository = ImageRepository(
        f"{stack}-airflow-image",
        ImageRepositoryArgs(name=name),
        opts=pulumi.ResourceOptions(providers={"aws": aws_provider}),
    )
    wanted = config.airflow.image
    tag = wanted.tag or checkout_tag()
    if wanted.repository is not None:
        if wanted.is_stock:
            pulumi.log.warn(
                f"airflow.image.repository is the stock {wanted.repository}: its provider versions are those of "
                "Airflow's constraints, not the ones the tests ran (requirements.txt)"
            )
        return AirflowImage(wanted.repository, tag, True, repository.url)
    if not repository.adopted:
        pulumi.log.warn(
            f"the ECR repository {name} is created by this update, so it cannot hold the image {tag} yet: the "
            f"Airflow release is installed without waiting for its pods and without its database migration "
            f"and admin user Jobs. Push the image with make image STACK={stack}, then run pulumi up again: "
            "it creates the Jobs, runs the image by its digest and waits for Airflow."
        )
        return AirflowImage(repository.url, tag, False, repository.url)
    found = image_digests(aws.ecr.get_images(repository_name=name, opts=pulumi.InvokeOptions(provider=aws_provider)).image_ids)
    if not found:
        # Every completed deploy required an image in this repository, so an empty one means the first
        # deploy has not completed yet (it failed after creating the repository): same as the first.
        pulumi.log.warn(
            f"the ECR repository {name} holds no image yet (the first deploy has not completed): the Airflow "
            f"release is installed without waiting for its pods and without its database migration and admin "
            f"user Jobs. Still missing: the image {tag}; push it with make image STACK={stack}, then run pulumi "
            "up again: it creates the Jobs, runs the image by its digest and waits for Airflow."
        )
        return AirflowImage(repository.url, tag, False, repository.url)
    if tag not in found:
        raise StackConfigError(
            f"Pulumi.{stack}.yaml", [missing_image_problem(stack, name, tag, explicit=wanted.tag is not None)]
        )
    digest = found[tag] or None
    if digest is not None and not DIGEST.fullmatch(digest):
        pulumi.log.warn(f"the image {tag} in {name} has the digest {digest!r}, not sha256:<64 hex digits>: deployed by tag")
        digest = None
    return AirflowImage(repository.url, tag, True, repository.url, digest=digest)

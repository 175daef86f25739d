"""The ImageRepository component: a private ECR repository for images the platform deploys, durable across destroy.

The repository holds the image every Airflow pod runs. Kubernetes pulls it again whenever a pod lands
on a node that does not have it (a node replaced by AMI patching, a scale-up), so losing the
repository stops Airflow from rescheduling; after a disaster recovery the recreated stack must find
its image where it was. It therefore follows the durable pattern (``infra.durable``): a fixed name,
``retain_on_delete``, and a list lookup that adopts a repository a destroyed stack left behind. It
is also the only way ``pulumi destroy`` can succeed with ``force_delete=False``: ECR refuses to
delete a repository that still holds images.

Settings:

* tags are immutable: a tag names one image forever, so what was tested is what is pulled again;
* images are scanned on push (basic scanning; findings in the console and EventBridge);
* encryption is AES-256 with keys owned by ECR: the images hold no secret (keys and connections
  reach the pods at run time), a customer key would have to outlive the retained repository or its
  images become unreadable after the key's deletion window, and pulls cost no KMS requests. The
  encryption setting cannot change after creation (a change would replace the repository);
* a lifecycle policy keeps the most recent ``keep_images`` images. Keep it well above the number of
  images pushed between two deploys, so the deployed image and a rollback target are never expired.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

# ECR repository names: lowercase path components separated by '/', 2 to 256 characters.
_REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")


def repository_name_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid ECR repository name (None when it is)."""
    if not 2 <= len(name) <= 256 or not _REPOSITORY_NAME.match(name):
        return (
            "expected 2-256 characters: lowercase letters and digits, separated by single '.', '_' "
            "or '-', in path components joined by '/'"
        )
    return None


def lifecycle_policy(keep_images: int) -> str:
    """Expire all but the ``keep_images`` most recently pushed images (tagged or not)."""
    if keep_images < 1:
        raise ValueError(f"keep_images must be at least 1, got {keep_images}")
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Keep the {keep_images} most recent images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
                    "action": {"type": "expire"},
                }
            ]
        },
        sort_keys=True,
    )


@dataclass(frozen=True, kw_only=True)
class ImageRepositoryArgs:
    """Inputs of the ImageRepository component."""

    name: str
    """Fixed repository name: its durable identity (e.g. ``batch-platform/prod/airflow``)."""

    keep_images: int = 30
    """Images kept by the lifecycle policy. 30: months of deploys, room for rollbacks."""

    tags: Mapping[str, str] = field(default_factory=dict)


class ImageRepository(pulumi.ComponentResource):
    """One private ECR repository: immutable tags, scan on push, encrypted, expiring old images."""

    name: pulumi.Output[str]
    url: pulumi.Output[str]
    """``<account>.dkr.ecr.<region>.amazonaws.com/<name>``: where images are pushed and pulled."""
    arn: pulumi.Output[str]
    adopted: bool
    """Whether this run found the repository in AWS and adopted it (known at program time)."""

    def __init__(self, name: str, args: ImageRepositoryArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:ImageRepository", name, None, opts)
        problem = repository_name_problem(args.name)
        if problem:
            raise ValueError(f"repository name {args.name!r}: {problem}")
        policy = lifecycle_policy(args.keep_images)

        found = aws.ecr.get_repositories(opts=pulumi.InvokeOptions(parent=self))
        self.adopted = args.name in (found.names or [])
        if self.adopted:
            pulumi.log.info(f"adopting the existing ECR repository {args.name}", self)

        repository = aws.ecr.Repository(
            f"{name}-repository",
            name=args.name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
            force_delete=False,
            tags={**args.tags, "Name": args.name, "durable": "true"},
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=True, import_=args.name if self.adopted else None
            ),
        )
        # Retained with the repository: one left behind keeps expiring old images. On adoption the
        # policy is declared again, which is a PUT that overwrites it in place.
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=repository.name,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )

        self.name = repository.name
        self.url = repository.repository_url
        self.arn = repository.arn
        self.register_outputs({"name": self.name, "url": self.url, "arn": self.arn})

"""Whether a stack's name makes valid names for the AWS resources named after it.

The ECR repository, the task-log bucket and the other fixed names embed the stack name, so a name
AWS refuses (``Dev``: ECR wants lowercase; a long name: S3 buckets end at 63 characters) is a
problem of the stack file, reported with the others before anything is registered.
"""

from __future__ import annotations

from stacks.config.problems import Problem

# The bucket name embeds the account id: every account id has 12 digits, so its length is known.
_ANY_ACCOUNT_ID = "000000000000"


def stack_name_problems(stack: str, region: str) -> list[Problem]:
    from stacks.airflow_image import image_repository_name
    from stacks.data import task_log_bucket_name
    from stacks.environment import PROJECT

    found = []
    for check in (
        lambda: image_repository_name(PROJECT, stack),
        lambda: task_log_bucket_name(PROJECT, stack, _ANY_ACCOUNT_ID, region),
    ):
        try:
            check()
        except ValueError as exc:
            found.append(Problem("(stack name)", stack, str(exc).replace(_ANY_ACCOUNT_ID, "<account-id>")))
    return found

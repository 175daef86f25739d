"""Durable resources: what outlives ``pulumi destroy`` and is picked up again by the next ``pulumi up``.

The pattern, used by the Airflow secrets, the task-log bucket, the image repository and the log
groups AWS services write to (``infra.log_groups``):

1. the resource has a fixed name derived from the project, the stack and (for S3) the account and
   region, so a recreated stack knows what to look for;
2. it is registered with ``retain_on_delete``: ``pulumi destroy`` removes it from the state and
   leaves it in AWS;
3. before registering it, the program asks AWS whether it exists with a *list* lookup that answers
   an empty list rather than failing when nothing matches; when it exists, the resource is
   registered with the ``import`` option and the stack adopts it instead of trying to create it.

Pulumi only imports when the resource is not in the state yet or has another ID (``isImport`` in
the engine's step generator); on every later run the same import ID is a no-op, so the program
does not need to know whether this is the first run after a recreate.

The functions here are the pure part: reading the lookups' answers.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

CURRENT_STAGE = "AWSCURRENT"


def find_by_name(names: Sequence[str], arns: Sequence[str], wanted: str) -> Optional[str]:
    """The ARN of the secret named exactly ``wanted`` in a ListSecrets answer, or None.

    The ``name`` filter of ListSecrets matches prefixes, case-insensitively: ``.../fernet-key``
    also matches ``.../fernet-key-old``. Only an exact name is the secret we own.
    """
    for name, arn in zip(names, arns):
        if name == wanted:
            return arn
    return None


def bucket_exists(buckets: Iterable[Any], wanted: str) -> bool:
    """Whether a ListBuckets answer (filtered by prefix) holds the bucket named exactly ``wanted``."""
    return any(_field(b, "name") == wanted for b in buckets)


def log_group_exists(names: Iterable[str], wanted: str) -> bool:
    """Whether a DescribeLogGroups answer (filtered by prefix) holds the group named exactly ``wanted``."""
    return wanted in set(names)


def current_version_id(versions: Iterable[Any]) -> Optional[str]:
    """The version of a secret that carries the AWSCURRENT label, or None (a secret with no value yet).

    A secret can exist without a value when an earlier ``pulumi up`` created the secret and failed
    before storing the value; the program then generates a value as on first creation.
    """
    for version in versions:
        if CURRENT_STAGE in (_field(version, "version_stages") or []):
            return _field(version, "version_id")
    return None


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)

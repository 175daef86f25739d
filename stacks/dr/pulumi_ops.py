"""What the DR rehearsal needs from Pulumi: a narrow interface, and its implementation on the Automation API.

The rehearsal drives the stack only through ``PulumiStack``: tests use a recording fake of it and
assert the exact sequence of calls; ``AutomationStack`` is the thin real implementation over
``pulumi.automation`` (it needs the Pulumi CLI on PATH and the usual cloud credentials, exactly like
``pulumi up`` run by hand from the project directory).

Config keys are full, namespaced and structured (``batch-platform:database.deletion_protection``):
they are read and written with ``path=True``, which edits ``Pulumi.<stack>.yaml`` like
``pulumi config set --path`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

NAMESPACE = "batch-platform"

# The config keys of the DR contract (see the common brief): both are read by the database code.
RESTORE_FROM_SNAPSHOT = f"{NAMESPACE}:database.restore_from_snapshot"
DELETION_PROTECTION = f"{NAMESPACE}:database.deletion_protection"
TIER = f"{NAMESPACE}:tier"
REGION = f"{NAMESPACE}:region"
# Read from the stack file (not written): the user the API login defaults to.
ADMIN_USERNAME = f"{NAMESPACE}:airflow.admin.username"
CONFIG_KEYS = (TIER, REGION, DELETION_PROTECTION, RESTORE_FROM_SNAPSHOT, ADMIN_USERNAME)
"""Every config key the rehearsal reads or writes (tests/dr/test_stack_contract.py checks them)."""


def typed_config_value(config: Any, key: str) -> Any:
    """The value of a full config key (``batch-platform:airflow.admin.username``) in the typed
    stack config; AttributeError names the key when the model has no such field."""
    node = config
    for part in key.partition(":")[2].split("."):
        if part not in type(node).model_fields:
            raise AttributeError(f"the stack config has no {key} (no field {part!r} in {type(node).__name__})")
        node = getattr(node, part)
    return node

OnOutput = Callable[[str], None]


class PulumiError(Exception):
    """A Pulumi operation failed; the message says which and why."""


@dataclass(frozen=True)
class StackResource:
    """One resource of the stack's current state (from ``pulumi stack export``).

    Two flags make a resource outlive ``pulumi destroy --exclude-protected``, differently:

    * ``protect``: the destroy skips it; it stays in the state and in the cloud.
    * ``retain_on_delete``: the destroy removes it from the state but not from the cloud; the
      program finds it again on the next ``pulumi up`` and adopts it (``import``).
    """

    urn: str
    type: str
    protect: bool
    id: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    retain_on_delete: bool = False

    @property
    def durable(self) -> bool:
        """Whether the destroy leaves the resource in the cloud (protected or retained)."""
        return self.protect or self.retain_on_delete

    @property
    def name(self) -> str:
        """The logical name (the last part of the URN)."""
        return self.urn.split("::")[-1]


class PulumiStack(Protocol):
    """The operations the rehearsal performs on one stack, and nothing else."""

    name: str

    def exists(self) -> bool:
        """Whether the stack exists in the backend (``pulumi stack select``)."""

    def outputs(self) -> dict[str, Any]:
        """Current stack outputs, secrets in plaintext (never print them)."""

    def get_config(self, key: str) -> str | None:
        """A structured config value as text (``"true"``, ``"eu-west-1"``), or None when unset."""

    def set_config(self, key: str, value: str) -> None:
        """Set a structured config value (plaintext; ``true``/``false`` are stored as booleans)."""

    def remove_config(self, key: str) -> None:
        """Remove a structured config value."""

    def up(self, on_output: OnOutput) -> None:
        """``pulumi up --yes --skip-preview``, streaming the engine's output lines."""

    def destroy(self, on_output: OnOutput) -> None:
        """``pulumi destroy --exclude-protected``: protected resources stay in the state and the
        cloud; retained ones (``retain_on_delete``) leave the state and stay in the cloud."""

    def resources(self) -> list[StackResource]:
        """The resources of the current state, with their protect and retain_on_delete flags."""


class AutomationStack:
    """``PulumiStack`` on the Pulumi Automation API, for the program in ``work_dir`` (the project root)."""

    def __init__(self, stack_name: str, work_dir: Path | str | None = None):
        from stacks.config.loader import PROJECT_ROOT

        self.name = stack_name
        self._work_dir = str(work_dir or PROJECT_ROOT)
        self._stack: Any = None

    def _select(self) -> Any:
        from pulumi import automation as auto

        if self._stack is None:
            try:
                self._stack = auto.select_stack(stack_name=self.name, work_dir=self._work_dir)
            except FileNotFoundError as exc:
                raise PulumiError(
                    "the Pulumi CLI was not found on PATH: the rehearsal drives it through the Automation API; "
                    "install the CLI and log in to the backend that holds the stack"
                ) from exc
        return self._stack

    def exists(self) -> bool:
        from pulumi import automation as auto

        try:
            self._select()
        except auto.StackNotFoundError:
            return False
        return True

    def outputs(self) -> dict[str, Any]:
        return {key: item.value for key, item in self._select().outputs().items()}

    def get_config(self, key: str) -> str | None:
        from pulumi import automation as auto

        try:
            value = self._select().get_config(key, path=True)
        except auto.CommandError as exc:
            if "not found" in str(exc):
                return None
            raise
        return value.value

    def set_config(self, key: str, value: str) -> None:
        from pulumi import automation as auto

        self._select().set_config(key, auto.ConfigValue(value=value, secret=False), path=True)

    def remove_config(self, key: str) -> None:
        self._select().remove_config(key, path=True)

    def up(self, on_output: OnOutput) -> None:
        self._select().up(on_output=on_output, color="never")

    def destroy(self, on_output: OnOutput) -> None:
        self._select().destroy(on_output=on_output, color="never", exclude_protected=True)

    def resources(self) -> list[StackResource]:
        deployment = self._select().export_stack().deployment or {}
        return [
            StackResource(
                urn=item["urn"],
                type=item["type"],
                protect=bool(item.get("protect", False)),
                id=item.get("id"),
                outputs=item.get("outputs") or {},
                retain_on_delete=bool(item.get("retainOnDelete", False)),
            )
            for item in deployment.get("resources") or []
        ]

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

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

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


MAX_ERROR = 2000


def error_summary(stdout: str, stderr: str, code: int | None = None, limit: int = MAX_ERROR) -> str:
    """The useful part of a failed Pulumi command, at most ``limit`` characters.

    The CLI prints progress first and its ``Diagnostics:`` section (each resource's error) last, and
    the overall ``error:`` line on stderr: those are kept, and when they are still too long it is
    their end that is kept (the beginning is progress), marked with ``...``.
    """
    lines = stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Diagnostics:"), None)
    parts = []
    if start is not None:
        end = next(
            (i for i in range(start + 1, len(lines)) if re.match(r"^(Outputs|Resources|Duration):", lines[i].strip())),
            len(lines),
        )
        parts.append("\n".join(line.rstrip() for line in lines[start + 1 : end] if line.strip()))
    if stderr.strip():
        parts.append(stderr.strip())
    if not parts:
        parts.append("\n".join(lines[-15:]))
    text = ("" if code is None else f"exit code {code}: ") + "\n".join(parts)
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


class PulumiCommandFailed(PulumiError):
    """A Pulumi CLI command exited with an error; the message keeps its diagnostics (see ``error_summary``).
    ``concurrent`` is set when the stack is locked by another update (or a stale lock)."""

    def __init__(self, command: str, stdout: str, stderr: str, code: int | None, concurrent: bool = False):
        self.command, self.stdout, self.stderr, self.code, self.concurrent = command, stdout, stderr, code, concurrent
        super().__init__(f"pulumi {command} failed, {error_summary(stdout, stderr, code)}")


@dataclass(frozen=True)
class PendingOperation:
    """An operation the engine started and never saw finish (the CLI died or was killed mid-way)."""

    kind: str
    """creating, updating, deleting, reading, importing."""
    urn: str
    type: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


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

    def up(self, on_output: OnOutput, targets: Sequence[str] | None = None) -> None:
        """``pulumi up --yes --skip-preview``, streaming the engine's output lines; with ``targets``
        (URNs), only those resources are updated (``--target``)."""

    def destroy(self, on_output: OnOutput) -> None:
        """``pulumi destroy --exclude-protected``: protected resources stay in the state and the
        cloud; retained ones (``retain_on_delete``) leave the state and stay in the cloud."""

    def resources(self) -> list[StackResource]:
        """The resources of the current state, with their protect and retain_on_delete flags."""

    def pending_operations(self) -> list[PendingOperation]:
        """Operations an interrupted command left in the state."""

    def repair(self, on_output: OnOutput, imports: Mapping[str, str]) -> list[str]:
        """Make the state usable after an interrupted command: cancel a stale update lock, import the
        pending creates whose cloud ID is known (``imports``: URN -> ID, ``refresh
        --import-pending-creates``), clear the other pending operations (``refresh
        --clear-pending-creates``). Returns what was done, one line each."""


class AutomationStack:
    """``PulumiStack`` on the Pulumi Automation API, for the program in ``work_dir`` (the project root,
    ``--project-dir``). The CLI runs through ``GracefulPulumiCommand``: Ctrl-C cancels it gracefully."""

    def __init__(self, stack_name: str, work_dir: Path | str | None = None, *, on_note: OnOutput | None = None):
        from stacks.config.loader import PROJECT_ROOT

        self.name = stack_name
        self._work_dir = str(work_dir or PROJECT_ROOT)
        self._on_note = on_note
        self._stack: Any = None

    @property
    def work_dir(self) -> str:
        return self._work_dir

    def _select(self) -> Any:
        from pulumi import automation as auto

        from stacks.dr.pulumi_cli import GracefulPulumiCommand

        if self._stack is None:
            try:
                command = GracefulPulumiCommand(on_note=self._on_note)
                options = auto.LocalWorkspaceOptions(work_dir=self._work_dir, pulumi_command=command)
                self._stack = auto.select_stack(stack_name=self.name, work_dir=self._work_dir, opts=options)
            except FileNotFoundError as exc:
                raise PulumiError(
                    "the Pulumi CLI was not found on PATH: the rehearsal drives it through the Automation API; "
                    "install the CLI and log in to the backend that holds the stack"
                ) from exc
        return self._stack

    def _run(self, command: str, operation: Callable[[], Any]) -> Any:
        """Run one CLI operation; a failure becomes ``PulumiCommandFailed`` with its diagnostics."""
        from pulumi import automation as auto

        try:
            return operation()
        except auto.CommandError as exc:
            stdout, stderr, code = _command_result(exc)
            raise PulumiCommandFailed(
                command, stdout, stderr, code, concurrent=isinstance(exc, auto.ConcurrentUpdateError)
            ) from None

    def exists(self) -> bool:
        from pulumi import automation as auto

        try:
            self._select()
        except auto.StackNotFoundError:
            return False
        except auto.CommandError as exc:  # not logged in, backend unreachable...: one clear line, not a traceback
            stdout, stderr, code = _command_result(exc)
            raise PulumiCommandFailed("stack select", stdout, stderr, code) from None
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

    def up(self, on_output: OnOutput, targets: Sequence[str] | None = None) -> None:
        stack = self._select()
        self._run("up", lambda: stack.up(on_output=on_output, color="never", target=list(targets) if targets else None))

    def destroy(self, on_output: OnOutput) -> None:
        stack = self._select()
        self._run("destroy", lambda: stack.destroy(on_output=on_output, color="never", exclude_protected=True))

    def _deployment(self) -> dict[str, Any]:
        return self._select().export_stack().deployment or {}

    def resources(self) -> list[StackResource]:
        return [
            StackResource(
                urn=item["urn"],
                type=item["type"],
                protect=bool(item.get("protect", False)),
                id=item.get("id"),
                outputs=item.get("outputs") or {},
                retain_on_delete=bool(item.get("retainOnDelete", False)),
            )
            for item in self._deployment().get("resources") or []
        ]

    def pending_operations(self) -> list[PendingOperation]:
        found = []
        for item in self._deployment().get("pending_operations") or []:
            resource = item.get("resource") or {}
            found.append(
                PendingOperation(
                    kind=str(item.get("type", "unknown")),
                    urn=str(resource.get("urn", "")),
                    type=str(resource.get("type", "")),
                    inputs=resource.get("inputs") or {},
                )
            )
        return found

    def repair(self, on_output: OnOutput, imports: Mapping[str, str]) -> list[str]:
        stack = self._select()
        done: list[str] = []
        pending = self.pending_operations()
        creates = [p for p in pending if p.kind == "creating"]
        known = {p.urn: imports[p.urn] for p in creates if p.urn in imports}
        unknown = [p for p in creates if p.urn not in imports]

        def refresh(what: str, **flags: Any) -> None:
            api = stack.workspace.cli_api
            env = dict(stack.workspace.env_vars or {})
            call = lambda: api.refresh(  # noqa: E731
                stack=self.name, color="never", cwd=self._work_dir, additional_env=env, on_output=on_output, **flags
            )
            try:
                self._run("refresh", call)
            except PulumiCommandFailed as exc:
                if not exc.concurrent:
                    raise
                # our own CLI has exited (it was waited for): the lock it held is stale
                self._run("cancel", stack.cancel)
                done.append("cancelled the stale update lock left by the interrupted command (pulumi cancel)")
                self._run("refresh", call)
            done.append(what)

        if known:
            pairs = [part for urn, id_ in sorted(known.items()) for part in (urn, id_)]
            refresh(
                "imported the pending creates that exist in AWS: "
                + ", ".join(f"{urn} as {id_}" for urn, id_ in sorted(known.items()))
                + " (pulumi refresh --import-pending-creates)",
                import_pending_creates=pairs,
            )
        if unknown:
            refresh(
                "cleared the pending creates of resources not found in AWS: "
                + ", ".join(p.urn for p in unknown)
                + " (pulumi refresh --clear-pending-creates)",
                clear_pending_creates=True,
            )
        if not done:
            others = [p for p in pending if p.kind != "creating"]
            refresh(
                "refreshed the state from AWS"
                + (f" (clears the pending {', '.join(sorted({p.kind for p in others}))} operations)" if others else "")
            )
        return done


def _command_result(exc: Exception) -> tuple[str, str, int | None]:
    """stdout, stderr and exit code of an Automation API ``CommandError`` (its text is the result's str)."""
    text = str(exc)
    match = re.search(r"\n code: (-?\d+)\n stdout: (.*)\n stderr: (.*)\Z", text, re.S)
    if not match:
        return "", text, None
    return match.group(2), match.group(3), int(match.group(1))

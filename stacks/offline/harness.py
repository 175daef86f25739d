"""Recording harness: Pulumi mocks plus a monitor that keeps the whole RegisterResource request.

``MockResourceArgs`` (what a plain ``Mocks`` sees) carries no resource options; the monitor does.
``RecordingMonitor`` keeps, per resource, its type, name, parent, inputs (secrets kept apart and
masked), and options (protect, retainOnDelete, ignoreChanges, dependsOn, ...), so tests and
policies assert on exactly what ``pulumi up`` would send to the engine.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from stacks.config import StackConfig, load_from_pulumi, load_stack_file, stack_file
from stacks.config.loader import PROJECT_ROOT
from stacks.offline import canned

SECRET_MASK = "[secret]"


@dataclass
class RecordedResource:
    """One registration, as the engine would receive it."""

    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    """Input properties with every secret value replaced by ``[secret]``."""
    secret_paths: list[str]
    """Dotted paths of the inputs that were Pulumi secrets."""
    options: dict[str, Any]
    provider: str | None
    raw_inputs: dict[str, Any] = field(repr=False, default_factory=dict)
    """Inputs with secrets unwrapped, for tests only; never printed or written."""

    @property
    def parent_name(self) -> str | None:
        return self.parent.split("::")[-1] if self.parent else None

    def input(self, dotted: str, default: Any = None) -> Any:
        """Read a nested input by dotted path, e.g. ``vpcConfig.endpointPrivateAccess``."""
        node: Any = self.inputs
        for part in dotted.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return default
        return node


@dataclass
class RecordedInvoke:
    token: str
    args: dict[str, Any]
    result: dict[str, Any]
    note: str = canned.PLACEHOLDER_NOTE
    """Where the answer came from: invented, or real data the SDKs ship."""


@dataclass
class Plan:
    """Everything the program registered, the invokes it made, and the stack outputs."""

    stack: str
    config: StackConfig | None
    """The validated stack config (None for a component test's own program)."""
    resources: list[RecordedResource]
    invokes: list[RecordedInvoke]
    outputs: dict[str, Any]
    """Stack outputs, secrets masked."""
    secret_outputs: list[str]
    raw_outputs: dict[str, Any] = field(repr=False, default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """What the program logged as warnings (``pulumi up`` prints them too); part of the plan's output."""

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> RecordedResource:
        """The single resource of a type (and name): fails loudly when there are none or several."""
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise LookupError(f"expected one {type_} named {name or '(any)'}, found {len(found)} among {names}")
        return found[0]

    def by_urn(self, urn: str) -> RecordedResource | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def children(self, parent: RecordedResource | None) -> list[RecordedResource]:
        """Direct children, sorted by (type, name) so output does not depend on registration order."""
        urn = parent.urn if parent else None
        return sorted((r for r in self.resources if r.parent == urn), key=lambda r: (r.type, r.name))

    def walk(self) -> Iterator[tuple[int, RecordedResource]]:
        """Resources depth-first by parent, in registration order."""

        def visit(node: RecordedResource | None, depth: int):
            for child in self.children(node):
                yield depth, child
                yield from visit(child, depth + 1)

        yield from visit(None, 0)


def _mask(value: Any, path: str, secrets: list[str]) -> tuple[Any, Any]:
    """Return (masked, unwrapped) copies of a deserialized property value."""
    if rpc.is_rpc_secret(value):
        secrets.append(path or "(value)")
        _, inner = _mask(rpc.unwrap_rpc_secret(value), path, [])
        return SECRET_MASK, inner
    if isinstance(value, dict):
        masked, raw = {}, {}
        for key, item in value.items():
            masked[key], raw[key] = _mask(item, f"{path}.{key}" if path else key, secrets)
        return masked, raw
    if isinstance(value, list):
        pairs = [_mask(item, f"{path}.{i}" if path else str(i), secrets) for i, item in enumerate(value)]
        return [m for m, _ in pairs], [r for _, r in pairs]
    if isinstance(value, float) and value.is_integer():
        return int(value), int(value)  # protobuf carries every number as a double
    if isinstance(value, pulumi.Resource):
        ref = f"<resource {type(value).__name__}>"
        return ref, ref
    if value is rpc.UNKNOWN or isinstance(value, pulumi.Output):
        return "<unknown>", "<unknown>"
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return f"<{type(value).__name__}>", f"<{type(value).__name__}>"
    return value, value


class OfflineMocks(pulumi_mocks.Mocks):
    """Answers invokes from ``canned.INVOKES`` and computes outputs from ``canned.OUTPUTS``."""

    def __init__(self, region: str, invokes: Mapping[str, canned.InvokeAnswer] | None = None):
        self.region = region
        self.overrides = dict(invokes or {})
        self.invokes: list[RecordedInvoke] = []

    def call(self, args: pulumi_mocks.MockCallArgs):
        answer = self.overrides.get(args.token) or canned.INVOKES.get(args.token)
        if answer is None:
            raise NotImplementedError(
                f"the offline plan has no canned answer for invoke {args.token}: add one to stacks/offline/canned.py"
            )
        result = answer(dict(args.args), self.region)
        masked_args, _ = _mask(dict(args.args), "", [])
        # Results that carry secret values (generated passwords, secret versions) are kept masked.
        shown = {k: SECRET_MASK if k in canned.SECRET_RESULT_FIELDS.get(args.token, ()) else v for k, v in result.items()}
        note = canned.note_for(args.token, dict(args.args), self.region)
        self.invokes.append(RecordedInvoke(args.token, masked_args, shown, note))
        return result

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        _, inputs = _mask(dict(args.inputs), "", [])
        state = dict(args.inputs)
        computed = canned.generic_outputs(args.typ, args.name, inputs, self.region)
        extra = canned.OUTPUTS.get(args.typ)
        if extra is not None:
            computed.update(extra(args.name, inputs, self.region))
        for key, value in computed.items():
            state.setdefault(key, value)
        return f"{args.name}-id", state


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that records the full RegisterResource request of every resource."""

    def __init__(self, mocks: OfflineMocks):
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        secrets: list[str] = []
        masked, raw = _mask(rpc.deserialize_properties(request.object), "", secrets)
        timeouts = request.customTimeouts
        options = {
            "protect": bool(request.protect),
            "retainOnDelete": bool(request.retainOnDelete),
            "ignoreChanges": list(request.ignoreChanges),
            "dependsOn": sorted(request.dependencies),
            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
            "replaceOnChanges": list(request.replaceOnChanges),
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
            "aliases": [a.urn or a.spec.name for a in request.aliases] if request.aliases else list(request.aliasURNs),
            "customTimeouts": {k: v for k, v in (("create", timeouts.create), ("update", timeouts.update), ("delete", timeouts.delete)) if v},
            "importId": request.importId or None,
        }
        self.recorded.append(
            RecordedResource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                # Top-level resources hang off the implicit Stack resource, which is not recorded.
                parent=None if not request.parent or "::pulumi:pulumi:Stack::" in request.parent else request.parent,
                custom=bool(request.custom),
                inputs=masked,
                secret_paths=secrets,
                options=options,
                provider=request.provider or None,
                raw_inputs=raw,
            )
        )
        return response


def _pulumi_config(path: Path) -> dict[str, str]:
    """The file's config as the engine hands it to the program: plain text, or JSON for structure."""
    import yaml

    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in (document.get("config") or {}).items()
    }


def run_plan(stack: str, root: Path = PROJECT_ROOT, invokes: Mapping[str, canned.InvokeAnswer] | None = None) -> Plan:
    """Run the program for ``stack`` under mocks (``preview=False``) and return what it registered.

    Raises StackConfigError (before anything is registered) when the stack file is invalid.
    ``invokes`` replaces canned answers by token (e.g. a lookup that finds an existing resource).
    """
    from stacks.environment import build_environment

    path = stack_file(stack, root)
    validated = load_stack_file(path)  # validate first: nothing is registered for an invalid file

    def program() -> dict[str, Any]:
        # The same path as __main__.py: config from the Pulumi runtime, then the composition.
        return build_environment(load_from_pulumi(), stack)

    plan = record(program, stack=stack, region=validated.region, config_values=_pulumi_config(path), invokes=invokes)
    plan.config = validated
    return plan


def record(
    program: Callable[[], dict[str, Any]],
    *,
    stack: str = "test",
    region: str = "eu-west-1",
    config_values: dict[str, str] | None = None,
    invokes: Mapping[str, canned.InvokeAnswer] | None = None,
) -> Plan:
    """Run any program under the recording mocks (``preview=False``) and return what it registered.

    ``program`` registers resources and returns its outputs (name -> value or Output); component
    tests use this directly with a small program of their own. ``invokes`` replaces canned invoke
    answers by token, to run the program against another state of the world.
    """
    from stacks.environment import PROJECT

    mocks = OfflineMocks(region, invokes)
    monitor = RecordingMonitor(mocks)
    warnings = _WarningCollector()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=warnings.logger)
    pulumi.runtime.set_all_config(config_values or {}, [])

    captured: dict[str, Any] = {}

    async def resolve(outputs: dict[str, Any]) -> None:
        for key, value in outputs.items():
            out = pulumi.Output.from_input(value)
            captured[key] = (await out.future(), await out.is_secret())

    @pulumi.runtime.test
    def run():
        return resolve(program() or {})

    run()
    outputs, raw_outputs, secret_outputs = {}, {}, []
    for key, (value, is_secret) in captured.items():
        masked, raw = _mask(value, key, [])
        if is_secret:
            secret_outputs.append(key)
            masked = SECRET_MASK
        outputs[key], raw_outputs[key] = masked, raw
    return Plan(
        stack=stack,
        config=None,
        resources=sorted(monitor.recorded, key=lambda r: r.urn),
        invokes=mocks.invokes,
        outputs=outputs,
        secret_outputs=secret_outputs,
        raw_outputs=raw_outputs,
        warnings=warnings.messages,
    )


class _WarningCollector(logging.Handler):
    """The mocks' engine log: the program's warnings become part of the plan instead of stderr noise."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"{__name__}.program.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.WARNING)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.messages:
            self.messages.append(message)

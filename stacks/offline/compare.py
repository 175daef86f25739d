"""Compare two offline plans: what a change adds, removes and changes, before anyone runs ``pulumi up``.

``python -m stacks plan <stack> --compare <saved.json>`` runs the plan of the working tree and compares
it with a plan saved earlier with ``python -m stacks plan <stack> --json > saved.json`` (on main, or
before editing the stack file). Resources are matched by URN, as the Pulumi engine matches them:

* **added**: a URN only in the new plan (``pulumi up`` would create it);
* **removed**: a URN only in the saved plan (``pulumi up`` would delete it, or drop it from the state
  when it is retained);
* **changed**: the same URN with different inputs or resource options, listed path by path. Whether
  the provider updates in place or replaces is the provider's decision and is not known offline: read
  the paths against the resource's documentation (e.g. a node group's ``instanceTypes`` replaces it).

Secret inputs are masked in both documents (``[secret]``), so a change of a secret value is not
visible here; that it is a secret is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Options that do not describe the resource (dependsOn lists URNs that move with their targets).
_COMPARED_OPTIONS = (
    "protect",
    "retainOnDelete",
    "ignoreChanges",
    "deleteBeforeReplace",
    "replaceOnChanges",
    "importId",
    "aliases",
    "customTimeouts",
)


class SavedPlanError(Exception):
    """The saved plan cannot be read: names the file, what was found and what was expected."""


@dataclass
class Change:
    path: str
    old: Any
    new: Any


@dataclass
class ResourceChange:
    urn: str
    type: str
    name: str
    inputs: list[Change] = field(default_factory=list)
    options: list[Change] = field(default_factory=list)


@dataclass
class Comparison:
    old_stack: str
    new_stack: str
    added: list[dict[str, str]]
    removed: list[dict[str, str]]
    changed: list[ResourceChange]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def load_saved_plan(path: Path) -> dict[str, Any]:
    """Read a document written by ``python -m stacks plan <stack> --json``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SavedPlanError(f"{path}: cannot read the saved plan ({exc.strerror or exc})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SavedPlanError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected the output of "
            "python -m stacks plan <stack> --json"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list) or document.get("offline") is not True:
        raise SavedPlanError(
            f"{path}: not an offline plan document (no \"offline\": true and \"resources\" list); expected the output "
            "of python -m stacks plan <stack> --json"
        )
    for i, resource in enumerate(document["resources"]):
        if not isinstance(resource, dict) or not all(isinstance(resource.get(k), str) for k in ("urn", "type", "name")):
            raise SavedPlanError(f"{path}: resources[{i}] has no urn, type and name strings; the file is not a saved plan")
    return document


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(value[key], f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            _flatten(item, f"{prefix}.{i}" if prefix else str(i), out)
    else:
        out[prefix or "(value)"] = value


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    flat_old: dict[str, Any] = {}
    flat_new: dict[str, Any] = {}
    _flatten(old, "", flat_old)
    _flatten(new, "", flat_new)
    missing = object()
    found = []
    for path in sorted(set(flat_old) | set(flat_new)):
        a, b = flat_old.get(path, missing), flat_new.get(path, missing)
        if a != b:
            found.append(Change(path, None if a is missing else a, None if b is missing else b))
    return found


def compare_documents(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    """What changes from plan document ``old`` to plan document ``new`` (both as ``plan --json`` writes them)."""
    before = {r["urn"]: r for r in old["resources"]}
    after = {r["urn"]: r for r in new["resources"]}

    def brief(r: dict[str, Any]) -> dict[str, str]:
        return {"urn": r["urn"], "type": r["type"], "name": r["name"]}

    changed = []
    for urn in sorted(set(before) & set(after)):
        a, b = before[urn], after[urn]
        inputs = _changes(a.get("inputs") or {}, b.get("inputs") or {})
        options = _changes(
            {k: (a.get("options") or {}).get(k) for k in _COMPARED_OPTIONS},
            {k: (b.get("options") or {}).get(k) for k in _COMPARED_OPTIONS},
        )
        if inputs or options:
            changed.append(ResourceChange(urn, b["type"], b["name"], inputs, options))
    return Comparison(
        old_stack=str(old.get("stack")),
        new_stack=str(new.get("stack")),
        added=[brief(after[u]) for u in sorted(set(after) - set(before))],
        removed=[brief(before[u]) for u in sorted(set(before) - set(after))],
        changed=changed,
    )


def _short(value: Any) -> str:
    if value is None:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def render_comparison(comparison: Comparison, saved: str) -> str:
    lines = [f"Offline plan of stack {comparison.new_stack} compared with {saved} (stack {comparison.old_stack})."]
    if comparison.old_stack != comparison.new_stack:
        lines.append(f"warning: the saved plan is of stack {comparison.old_stack}, not {comparison.new_stack}")
    if comparison.empty:
        lines.append("No resource added, removed or changed.")
        return "\n".join(lines) + "\n"
    lines.append(
        f"{len(comparison.added)} added, {len(comparison.removed)} removed, {len(comparison.changed)} changed."
    )
    if comparison.added:
        lines += ["", "Added (pulumi up creates them):"]
        lines += [f"  + {r['type']}  {r['name']}" for r in comparison.added]
    if comparison.removed:
        lines += ["", "Removed (pulumi up deletes them, or leaves retained ones in AWS):"]
        lines += [f"  - {r['type']}  {r['name']}" for r in comparison.removed]
    if comparison.changed:
        lines += ["", "Changed (update or replacement: the provider decides, see the paths):"]
        for r in comparison.changed:
            lines.append(f"  ~ {r.type}  {r.name}")
            for c in r.inputs:
                lines.append(f"      {c.path}: {_short(c.old)} -> {_short(c.new)}")
            for c in r.options:
                lines.append(f"      option {c.path}: {_short(c.old)} -> {_short(c.new)}")
    return "\n".join(lines) + "\n"


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    return {
        "oldStack": comparison.old_stack,
        "stack": comparison.new_stack,
        "added": comparison.added,
        "removed": comparison.removed,
        "changed": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "inputs": [{"path": c.path, "old": c.old, "new": c.new} for c in r.inputs],
                "options": [{"path": c.path, "old": c.old, "new": c.new} for c in r.options],
            }
            for r in comparison.changed
        ],
    }

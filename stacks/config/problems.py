"""How configuration problems are described and reported.

Every problem names the stack file, the key path, the value received and what was expected, e.g.
``Pulumi.prod.yaml: network.az_count = 1: expected an integer >= 2 (...)``. Problems are collected
and reported together so a user fixes a broken stack file in one pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

MISSING = object()


def show_value(value: Any) -> str:
    """Render a received value compactly and unambiguously (strings quoted, long values cut)."""
    if value is MISSING:
        return "<missing>"
    try:
        text = json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a stack file: where (dotted key path), what was there, what was expected."""

    path: str
    value: Any
    expected: str

    def render(self, source: str) -> str:
        return f"{source}: {self.path} = {show_value(self.value)}: {self.expected}"


class StackConfigError(Exception):
    """A stack file is invalid. Carries every problem found, not only the first."""

    def __init__(self, source: str, problems: Iterable[Problem]):
        self.source = source
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        lines = [f"{self.source}: {count} configuration problem{'s' if count != 1 else ''}:"]
        lines += [f"  - {p.render(self.source)}" for p in self.problems]
        return "\n".join(lines)

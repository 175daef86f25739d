"""Reading a stack file's YAML strictly: a key given twice is an error, with both line numbers.

PyYAML (like most YAML loaders) keeps the last of two equal keys in a mapping without a word, so
a section header pasted twice (``batch-platform:network:`` of prod below dev's) silently replaces
the first one. The YAML spec says keys of a mapping are unique; we hold the file to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class DuplicateKey:
    path: tuple[str, ...]
    """Keys from the document root to the repeated key (the repeated key last)."""
    line: int
    """1-based line of the repeated key."""
    first_line: int
    """1-based line where the key appeared first."""
    value: Any
    """The repeated key's value, as YAML reads it (a whole section for a section)."""


def load(text: str) -> tuple[Any, list[DuplicateKey]]:
    """Parse ``text`` (raises yaml.YAMLError) and list every key that appears twice in one mapping."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    duplicates: list[DuplicateKey] = []
    if root is not None:
        _walk(root, (), duplicates)
    return yaml.safe_load(text), duplicates


def _walk(node: yaml.Node, path: tuple[str, ...], found: list[DuplicateKey]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                found.append(DuplicateKey((*path, key), line, seen[key], _value(value_node)))
            else:
                seen[key] = line
            _walk(value_node, (*path, key), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, str(index)), found)


def _value(node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader("").construct_object(node, deep=True)
    except yaml.YAMLError:
        return node.value if isinstance(node, yaml.ScalarNode) else "(section)"

"""The configuration reference in docs/configuration.md is generated from the model and kept current."""

from __future__ import annotations

import re

import pytest

from stacks.config.loader import PROJECT_ROOT
from stacks.config.model import StackConfig
from stacks.config.reference import END_MARKER, START_MARKER, reference_markdown, replace_block


def test_readme_holds_the_current_reference():
    readme = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert replace_block(readme, reference_markdown()) == readme, "docs/configuration.md's configuration reference is stale: run make docs"


def test_every_leaf_key_is_documented_with_its_default():
    rows = [line for line in reference_markdown().splitlines() if line.startswith("| `")]
    assert len(rows) > 100
    cells = [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    assert all(len(row) == 4 for row in cells)
    undocumented = [key for key, _type, _default, description in cells if not description]
    assert undocumented == []
    assert "| `network.az_count` | int | `3` |" in reference_markdown()
    assert "| `tier` | \"dev\" \\| \"prod\" | *required* |" in reference_markdown()


def test_every_section_of_the_model_appears():
    text = reference_markdown()
    for section in StackConfig.model_fields:
        assert f"| `{section}" in text, section


def test_replace_block_needs_the_markers():
    with pytest.raises(ValueError, match="has no"):
        replace_block("no markers here", "x")
    assert replace_block(f"a\n{START_MARKER}\nold\n{END_MARKER}\nb", "new\n") == f"a\n{START_MARKER}\nnew\n{END_MARKER}\nb"

"""The docs run exactly as written, and build strictly.

* ``docs/`` is built by MkDocs in strict mode (mkdocs.yml): a broken link, a missing anchor or a page
  left out of the nav fails. The README's links are checked against the built site.
* Every fenced block preceded by ``<!-- runnable-offline -->`` in README.md and docs/*.md is run with
  bash from the repository root, as written, and must exit 0 (``<!-- runnable-offline exit=N -->``:
  N). A block marked ``<!-- stdout-of-the-block-above -->`` or ``<!-- stderr-of-the-block-above -->``
  must be exactly what the last runnable block printed there; ``<!-- excerpt-of: PATH -->`` must be
  a verbatim part of the file PATH (relative to the repository root) after the blocks above ran.
* A block that looks runnable offline (``make plan``, ``.venv/bin/python -m stacks plan``,
  ``.venv/bin/python -m migration``...) must be marked, or say why not:
  ``<!-- not-runnable-offline: <reason> -->``. Commands use ``.venv/bin/python``: a bare ``python``
  is not the project's interpreter.

docs/testing.md describes the convention for authors.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

RUNNABLE = re.compile(r"^<!-- runnable-offline(?: exit=(\d+))? -->$")
NOT_RUNNABLE = re.compile(r"^<!-- not-runnable-offline: \S.* -->$")
STDOUT, STDERR = "<!-- stdout-of-the-block-above -->", "<!-- stderr-of-the-block-above -->"
STDOUT_EXCERPT = "<!-- stdout-excerpt-of-the-block-above -->"
EXCERPT = re.compile(r"^<!-- excerpt-of: (\S+) -->$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
SHELL_LANGUAGES = {"sh", "bash", "shell", "console", ""}

# Commands that run offline in seconds: a block holding one must be marked (or say why not).
LOOKS_RUNNABLE = re.compile(
    r"(^|[\s;&|(])(make (plan|docs|docs-site)\b|(\.venv/bin/)?python3? -m (stacks (plan|image-tag)|stacks\.config\.reference|migration|mkdocs)\b)"
)
# The project's interpreter is .venv/bin/python (or the policy pack's venv): a bare python is not it.
BARE_PYTHON = re.compile(r"(^|[\s;&|(`$])python3?( -m| -c| scripts/| -)")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int
    language: str
    text: str
    marker: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(REPO_ROOT)}:{self.line}"


def blocks_of(document: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, language = match.groups()
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        previous = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        found.append(Block(document, start + 1, language, "\n".join(body) + "\n", previous))
        i += 1
    return found


ALL_BLOCKS = [block for document in DOCUMENTS for block in blocks_of(document)]
RUN_DOCUMENTS = sorted({b.document for b in ALL_BLOCKS if RUNNABLE.match(b.marker)})


def run_block(block: Block) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.text],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("document", RUN_DOCUMENTS, ids=lambda p: p.name)
def test_every_runnable_offline_block_runs_as_written_and_shows_what_it_prints(document: Path):
    last = None
    checked = 0
    for block in blocks_of(document):
        runnable = RUNNABLE.match(block.marker)
        if runnable:
            last = run_block(block)
            expected = int(runnable.group(1) or 0)
            assert last.returncode == expected, (
                f"{block.where}: exit {last.returncode}, expected {expected}\n--- stdout\n{last.stdout}\n--- stderr\n{last.stderr}"
            )
            checked += 1
        elif block.marker in (STDOUT, STDERR):
            assert last is not None, f"{block.where}: {block.marker} with no runnable block above it"
            shown = last.stdout if block.marker == STDOUT else last.stderr
            assert block.text == shown, f"{block.where}: the block is not what the command printed; it printed:\n{shown}"
            checked += 1
        elif block.marker == STDOUT_EXCERPT:
            assert last is not None, f"{block.where}: {block.marker} with no runnable block above it"
            assert in_order(block.text, last.stdout), (
                f"{block.where}: not verbatim parts (separated by '...' lines) of what the command printed:\n{last.stdout}"
            )
            checked += 1
        elif excerpt := EXCERPT.match(block.marker):
            path = REPO_ROOT / excerpt.group(1)
            assert path.is_file(), f"{block.where}: {excerpt.group(1)} does not exist after the blocks above ran"
            content = path.read_text(encoding="utf-8")
            assert block.text in content, f"{block.where}: not a verbatim part of {excerpt.group(1)}, which reads:\n{content}"
            checked += 1
    assert checked


def in_order(excerpt: str, text: str) -> bool:
    """Each part of ``excerpt`` (parts are separated by lines reading ``...``) is in ``text``, in order."""
    parts, current = [], []
    for line in excerpt.splitlines(keepends=True):
        if line.strip() == "...":
            parts.append("".join(current))
            current = []
        else:
            current.append(line)
    parts.append("".join(current))
    position = 0
    for part in filter(None, parts):
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


def test_every_block_that_looks_runnable_offline_is_marked_or_says_why_not():
    unmarked = [
        f"{b.where}: {next(line for line in b.text.splitlines() if LOOKS_RUNNABLE.search(line)).strip()}"
        for b in ALL_BLOCKS
        if b.language in SHELL_LANGUAGES
        and any(LOOKS_RUNNABLE.search(line) for line in b.text.splitlines())
        and not (RUNNABLE.match(b.marker) or NOT_RUNNABLE.match(b.marker))
    ]
    assert not unmarked, (
        "these blocks look runnable offline: put <!-- runnable-offline --> on the line before the fence "
        "(a test then runs them), or <!-- not-runnable-offline: <why> --> (docs/testing.md):\n" + "\n".join(unmarked)
    )


def test_commands_use_the_projects_interpreter():
    inline = re.compile(r"`([^`\n]+)`")
    found = []
    for document in DOCUMENTS:
        in_fence, shell = False, False
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            fence = FENCE.match(line)
            if fence:
                in_fence = not in_fence
                language = fence.group(3)
                shell = language in SHELL_LANGUAGES
                continue
            texts = [line] if in_fence and shell else [] if in_fence else inline.findall(line)
            found += [f"{document.relative_to(REPO_ROOT)}:{number}: {t.strip()}" for t in texts if BARE_PYTHON.search(t)]
    assert not found, "use .venv/bin/python (the project's virtualenv), not a bare python:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    site_dir = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO_ROOT / "mkdocs.yml"), "--site-dir", str(site_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return site_dir, build


def test_the_docs_build_in_strict_mode(site):
    _, build = site
    assert build.returncode == 0, build.stdout + build.stderr
    assert "WARNING" not in build.stderr, build.stderr


def test_every_link_of_the_readme_reaches_a_page_and_its_anchor(site):
    site_dir, build = site
    assert build.returncode == 0, build.stderr
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if re.match(r"^[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        if not (REPO_ROOT / path).exists():
            broken.append(f"{target}: no such file")
        elif anchor:
            if not path.startswith("docs/") or not path.endswith(".md"):
                broken.append(f"{target}: anchors are checked on docs/ pages only")
                continue
            page = site_dir / path.removeprefix("docs/").removesuffix(".md") / "index.html"
            if f'id="{anchor}"' not in page.read_text(encoding="utf-8"):
                broken.append(f"{target}: no heading with the anchor #{anchor}")
    assert not broken, "README.md links:\n" + "\n".join(broken)


def test_every_guide_is_in_the_nav():
    """The nav lists pages explicitly; a new page must be added there (mkdocs would only say INFO)."""
    import yaml

    nav = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    listed = {page for entry in nav for page in entry.values()}
    missing = sorted(p.name for p in (REPO_ROOT / "docs").glob("*.md") if p.name not in listed)
    assert not missing, f"add these pages to nav: in mkdocs.yml (and to the README's guides table): {missing}"


def test_the_readme_stays_a_front_door():
    assert len((REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 300


def update(document: Path) -> None:
    """Rewrite the output and excerpt blocks of ``document`` from a fresh run of its runnable blocks.

    An output block becomes what the command printed; an excerpt becomes as many lines of its file as
    it had, from the line it starts with (the whole file when that line is the file's first).
    ``.venv/bin/python -m tests.test_docs docs/migrating-from-jenkins.md`` after a change of the converter.
    """
    lines = document.read_text(encoding="utf-8").splitlines(keepends=True)
    last = None
    for block in blocks_of(document):
        runnable = RUNNABLE.match(block.marker)
        replacement = None
        if runnable:
            last = run_block(block)
        elif block.marker in (STDOUT, STDERR) and last is not None:
            replacement = last.stdout if block.marker == STDOUT else last.stderr
        elif excerpt := EXCERPT.match(block.marker):
            content = (REPO_ROOT / excerpt.group(1)).read_text(encoding="utf-8").splitlines(keepends=True)
            first = block.text.splitlines(keepends=True)[0]
            start = content.index(first) if first in content else 0
            count = len(content) if start == 0 and first == content[0] else len(block.text.splitlines())
            replacement = "".join(content[start : start + count])
        if replacement is not None and replacement != block.text:
            old = block.text.splitlines(keepends=True)
            lines[block.line : block.line + len(old)] = replacement.splitlines(keepends=True)
            document.write_text("".join(lines), encoding="utf-8")
            return update(document)  # line numbers moved: start over (each block converges once)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        update(Path(name).resolve())


def test_the_docs_do_not_point_readers_at_this_projects_issue_tracker_numbers():
    """'issue 4' means nothing to a reader of a clone; link the page that holds the topic instead."""
    mentions = [
        f"{d.relative_to(REPO_ROOT)}:{n}: {line.strip()}"
        for d in DOCUMENTS
        for n, line in enumerate(d.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bissues? \d+\b", line, re.IGNORECASE)
    ]
    assert not mentions, "\n".join(mentions)

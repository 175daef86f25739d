"""Finding Jenkins job definitions and their Jenkins full names.

Inputs are a Jenkins ``jobs/`` tree (``jobs/<folder>/jobs/<job>/config.xml``, any depth), single
``config.xml`` files, and Jenkinsfiles (``Jenkinsfile``, ``<name>.Jenkinsfile``). The full name
matters beyond display: Jenkins seeds the ``H`` of a schedule with it, folders included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Directories of a Jenkins home that never hold job definitions worth walking.
SKIPPED_DIRS = {"builds", "workspace", "workspace@tmp", "lastStable", "lastSuccessful", "branches", "indexing", ".git"}


@dataclass(frozen=True)
class Definition:
    path: Path
    full_name: str
    kind: str  # config.xml | jenkinsfile | unreadable (a directory that could not be listed)
    display: str  # the path as shown in the report and in errors
    error: str = ""  # why an unreadable directory could not be listed


def is_jenkinsfile(path: Path) -> bool:
    return path.name == "Jenkinsfile" or path.suffix.lower() == ".jenkinsfile"


def full_name_of_config(path: Path) -> str:
    """``.../jobs/a/jobs/b/config.xml`` -> ``a/b``; a config.xml outside a jobs tree uses its folder name."""
    names: list[str] = []
    directory = path.parent
    while directory.parent.name == "jobs" and directory.name:
        names.insert(0, directory.name)
        directory = directory.parent.parent
    return "/".join(names) if names else path.parent.name


def full_name_of_jenkinsfile(path: Path, folder: str | None) -> str:
    name = path.parent.name if path.name == "Jenkinsfile" else path.stem
    return f"{folder.strip('/')}/{name}" if folder else name


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def discover(paths: list[Path], jenkinsfile_folder: str | None = None) -> list[Definition]:
    """Every job definition under ``paths``, in a stable order, each file once."""
    found: dict[Path, Definition] = {}

    def add(path: Path, kind: str) -> None:
        resolved = path.resolve()
        if resolved in found:
            return
        name = full_name_of_config(resolved) if kind == "config.xml" else full_name_of_jenkinsfile(resolved, jenkinsfile_folder)
        found[resolved] = Definition(resolved, name, kind, _display(path))

    for root in paths:
        if root.is_file():
            add(root, "jenkinsfile" if is_jenkinsfile(root) else "config.xml")
            continue
        def unreadable(exc: OSError) -> None:
            # A directory we cannot list may hold jobs: say so instead of skipping it silently.
            path = Path(exc.filename or root)
            found.setdefault(path.resolve(), Definition(path.resolve(), _display(path), "unreadable", _display(path), exc.strerror or str(exc)))

        for directory, subdirs, files in os.walk(root, onerror=unreadable):
            subdirs[:] = sorted(d for d in subdirs if d not in SKIPPED_DIRS)
            here = Path(directory)
            for name in sorted(files):
                path = here / name
                # In a directory walk only the Jenkins layout counts: jobs/<name>/config.xml.
                if name == "config.xml" and here.parent.name == "jobs":
                    add(path, "config.xml")
                elif is_jenkinsfile(path):
                    add(path, "jenkinsfile")
    return list(found.values())

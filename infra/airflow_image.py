"""The platform's Airflow image: what it is built from, the requirements it installs, and its tag.

The image (``images/airflow/Dockerfile``) is the official Airflow image of the pinned version with
exactly the ``apache-airflow*`` pins of our lock on top (and the lock's PostgreSQL drivers,
``DATABASE_DRIVERS``), the DAG library (``dags/batch_platform``, installed as a package from
``images/airflow/library``) and the platform's plugin. There is one
source of truth for those pins: ``requirements.in`` -> ``requirements.txt`` (``make lock``) ->
``images/airflow/requirements.txt`` (``image_requirements``; ``make lock`` regenerates it and a test
fails when it is stale). Third-party libraries stay those of the base image's constraints, unless a
pinned provider needs a newer one (pip upgrades it, and ``pip check`` in the build proves the result
is consistent): pinning them all from our lock would fight the image's own constraints.

The image's tag is a content tag, ``<Airflow version>-<12 hex digits>``: a SHA-256 over every file
the build reads (``build_inputs``) and the build arguments. The repository's tags are immutable, so
a new pin, a library or a plugin change is a new tag, and a tag always names one content.

Standard library only: ``make lock`` runs this with a bare Python before any virtualenv exists.

    python -m infra.airflow_image requirements [--check]   write (or check) images/airflow/requirements.txt
    python -m infra.airflow_image build-args               docker build arguments of the pinned versions
    python -m infra.airflow_image tag                      the content tag of this checkout
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path
from typing import Mapping, Sequence

from infra import versions

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_DIR = "images/airflow"
DOCKERFILE = f"{IMAGE_DIR}/Dockerfile"
DOCKERIGNORE = f"{IMAGE_DIR}/Dockerfile.dockerignore"
IMAGE_REQUIREMENTS = f"{IMAGE_DIR}/requirements.txt"
LOCK = "requirements.txt"
PLUGINS_DIR = "plugins"
LIBRARY_PROJECT_DIR = f"{IMAGE_DIR}/library"
"""The DAG library's ``pyproject.toml``: the Dockerfile installs ``LIBRARY_DIR`` with it."""
LIBRARY_DIR = "dags/batch_platform"
"""The DAG library: the scheduler and the API server import it from the image (they have no DAG folder)."""

TREES = (LIBRARY_PROJECT_DIR, LIBRARY_DIR, PLUGINS_DIR)
"""The folders the build copies whole (every file in them is an input of the image)."""

CONTEXT_PATHS = (IMAGE_REQUIREMENTS, *(f"{tree}/" for tree in TREES))
"""What the build context holds (the only paths Dockerfile.dockerignore lets through)."""

IGNORED_DIRS = ("__pycache__",)
IGNORED_SUFFIXES = (".pyc",)
"""Never part of the image (and excluded by Dockerfile.dockerignore): bytecode from local runs."""

PLATFORM = "linux/amd64"
"""The nodes' architecture: every node group runs x86_64 AMIs (infra/amis.py)."""

TAG_DIGITS = 12

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)\s*$")


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name: ``Apache_Airflow.Core`` -> ``apache-airflow-core``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_airflow_distribution(name: str) -> bool:
    """Airflow itself and every distribution of the Airflow project (core, task SDK, providers)."""
    canonical = canonical_name(name)
    return canonical == "apache-airflow" or canonical.startswith("apache-airflow-")


# The PostgreSQL drivers Airflow talks to the metadata database with (psycopg2 for the sync engine,
# asyncpg for the async one): the image runs the versions the end-to-end tests run (tests/e2e/).
DATABASE_DRIVERS = ("psycopg2-binary", "asyncpg")


def is_image_distribution(name: str) -> bool:
    """A distribution whose lock pin the image installs: Airflow's own and the database drivers."""
    return is_airflow_distribution(name) or canonical_name(name) in DATABASE_DRIVERS


def image_requirements(lock_text: str, airflow_version: str = versions.AIRFLOW_VERSION) -> str:
    """The image's requirements: the ``apache-airflow*`` and database driver pins of the lock, sorted,
    with a header.

    Raises ValueError when an Airflow distribution of the lock is not pinned with ``==``, or when the
    lock's apache-airflow is not ``airflow_version`` (the version the chart and the base image run).
    """
    pins: dict[str, str] = {}
    for number, raw in enumerate(lock_text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if match is None:
            name = re.split(r"[\s<>=!~;@\[]", line, maxsplit=1)[0]
            if is_image_distribution(name):
                raise ValueError(f"{LOCK} line {number}: {line!r}: expected an exact pin name==version")
            continue
        if is_image_distribution(match.group(1)):
            pins[canonical_name(match.group(1))] = f"{match.group(1)}=={match.group(2)}"
    core = pins.get("apache-airflow")
    if core is None:
        raise ValueError(f"{LOCK} pins no apache-airflow: expected apache-airflow=={airflow_version}")
    if core.split("==", 1)[1] != airflow_version:
        raise ValueError(
            f"{LOCK} pins {core} but infra/versions.py AIRFLOW_VERSION is {airflow_version}: "
            "the image's base and the chart run AIRFLOW_VERSION; change both together"
        )
    header = (
        f"# Generated from {LOCK} by 'make lock' (python -m infra.airflow_image requirements): its\n"
        "# apache-airflow* and PostgreSQL driver pins, installed into the Airflow image. Do not edit by hand.\n"
    )
    return header + "".join(f"{pins[name]}\n" for name in sorted(pins))


def build_args(
    airflow_version: str = versions.AIRFLOW_VERSION, python_version: str = versions.AIRFLOW_PYTHON_VERSION
) -> dict[str, str]:
    """The Dockerfile's build arguments that decide the base image."""
    return {"AIRFLOW_VERSION": airflow_version, "PYTHON_VERSION": python_version}


def _ignored(relative: Path) -> bool:
    return any(part in IGNORED_DIRS for part in relative.parts) or relative.suffix in IGNORED_SUFFIXES


def build_inputs(root: Path = REPO_ROOT) -> dict[str, bytes]:
    """Every file the image build reads, by repository-relative POSIX path, with its content.

    The Dockerfile, its ignore file, the image requirements and every file under ``TREES`` (the
    library's project, the library, the plugins; bytecode excluded). Raises FileNotFoundError when
    one of the image's own files or folders is missing.
    """
    inputs = {path: (root / path).read_bytes() for path in (DOCKERFILE, DOCKERIGNORE, IMAGE_REQUIREMENTS)}
    for tree in TREES:
        folder = root / tree
        if not folder.is_dir():
            raise FileNotFoundError(f"{tree}/: the image is built from it, and it is missing")
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not _ignored(path.relative_to(folder)):
                inputs[path.relative_to(root).as_posix()] = path.read_bytes()
    return inputs


def content_tag(inputs: Mapping[str, bytes], args: Mapping[str, str]) -> str:
    """``<AIRFLOW_VERSION>-<first 12 hex digits of SHA-256>`` over the files and the build arguments.

    The digest covers a manifest of one ``<sha256 of content>  <path>`` line per file (sorted by
    path) and one ``arg <name>=<value>`` line per build argument, so renaming, adding or changing
    any file, or changing a build argument, changes the tag; nothing else does.
    """
    lines = [f"{hashlib.sha256(inputs[path]).hexdigest()}  {path}" for path in sorted(inputs)]
    lines += [f"arg {name}={args[name]}" for name in sorted(args)]
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return f"{args['AIRFLOW_VERSION']}-{digest[:TAG_DIGITS]}"


def checkout_tag(root: Path = REPO_ROOT) -> str:
    """The content tag of the image built from this checkout with the pinned versions."""
    return content_tag(build_inputs(root), build_args())


def _requirements(root: Path, check: bool) -> int:
    wanted = image_requirements((root / LOCK).read_text(encoding="utf-8"))
    target = root / IMAGE_REQUIREMENTS
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if check:
        if current != wanted:
            print(
                f"error: {IMAGE_REQUIREMENTS} does not match the apache-airflow* pins of {LOCK}: "
                "run make lock (or python -m infra.airflow_image requirements)",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != wanted:
        target.write_text(wanted, encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.airflow_image", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    requirements = commands.add_parser("requirements", help=f"write {IMAGE_REQUIREMENTS} from {LOCK}")
    requirements.add_argument("--check", action="store_true", help="only check it is current (exit 1 if not)")
    commands.add_parser("build-args", help="docker build arguments of the pinned versions and the platform")
    commands.add_parser("tag", help="the content tag of this checkout")
    args = parser.parse_args(argv)
    if args.command == "requirements":
        return _requirements(args.root, args.check)
    if args.command == "build-args":
        pairs = [f"--build-arg {name}={value}" for name, value in build_args().items()]
        print(" ".join([f"--platform {PLATFORM}", *pairs]))
        return 0
    print(content_tag(build_inputs(args.root), build_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

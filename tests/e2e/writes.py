"""What the real Airflow components write, against where their containers may write.

The e2e components run with ``tests/e2e/write_audit`` on their PYTHONPATH: every file they create,
change or remove is recorded (see its sitecustomize). ``violations`` maps each recorded path to where
it would be in the container (``AIRFLOW_HOME`` is the image's ``/opt/airflow``, the components'
TMPDIR is ``/tmp``) and keeps those outside the writable volumes of that component
(``infra.airflow_security.WRITABLE_PATHS``): on a read-only root file system those writes fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping

from infra.airflow_security import WRITABLE_PATHS

AUDIT_MODULE = Path(__file__).resolve().parent / "write_audit"
AUDIT_VARIABLE = "BATCH_PLATFORM_WRITE_AUDIT"
# Kernel file systems the container runtime mounts writable whatever the root's setting.
KERNEL_FILESYSTEMS = ("/dev", "/proc", "/sys")


def write_audit_env(work: Path, site: Path) -> dict[str, str]:
    """The environment that records the writes into ``work/write-audit`` with TMPDIR ``work/tmp``."""
    (work / "write-audit").mkdir(exist_ok=True)
    (work / "tmp").mkdir(exist_ok=True)
    return {
        AUDIT_VARIABLE: str(work / "write-audit"),
        "TMPDIR": str(work / "tmp"),
        # The recorder first, then the site directory the image installs the DAG library into.
        "PYTHONPATH": f"{AUDIT_MODULE}:{site}",
    }


IMAGE_DIRECTORIES = "image-directories.json"


def record_image_directories(home: Path, work: Path) -> None:
    """Note the directories of the laid-out image home (``/opt/airflow``) before anything runs."""
    directories = sorted(str(PurePosixPath("/opt/airflow") / p.relative_to(home)) for p in home.rglob("*") if p.is_dir())
    (work / IMAGE_DIRECTORIES).write_text(json.dumps(["/opt/airflow", *directories]))


def image_directories(work: Path) -> frozenset[str]:
    return frozenset(json.loads((work / IMAGE_DIRECTORIES).read_text()))


@dataclass(frozen=True)
class Write:
    component: str
    event: str
    path: str
    """Where the write lands in the container."""
    existed: bool = False
    """For a mkdir: the directory was already there (EEXIST, not a write, even on a read-only root)."""


def component_of(argv: list[str]) -> str:
    """The chart component whose container runs this ``airflow`` command line."""
    head = tuple(argv[:2])
    if head[:1] in (("scheduler",), ("dag-processor",), ("triggerer",), ("api-server",)):
        return {"scheduler": "scheduler", "dag-processor": "dagProcessor", "triggerer": "triggerer",
                "api-server": "apiServer"}[head[0]]
    if head == ("db", "migrate"):
        return "migrateDatabaseJob"
    if head == ("db", "check-migrations"):
        return "waitForMigrations"
    if head == ("users", "create"):
        return "createUserJob"
    return "unknown: " + " ".join(argv)


def _under(path: PurePosixPath, root: str) -> bool:
    """``path`` is ``root`` or inside it."""
    return path == PurePosixPath(root) or PurePosixPath(root) in path.parents


def in_container(path: str, *, home: Path, tmp: Path) -> str:
    local = Path(path)
    for root, mounted in ((home, "/opt/airflow"), (tmp, "/tmp")):
        if local == root or root in local.parents:
            return str(PurePosixPath(mounted) / local.relative_to(root))
    return path


def read_writes(directory: Path, *, home: Path, tmp: Path) -> list[Write]:
    writes = []
    for record_file in sorted(directory.glob("*.jsonl")):
        for line in record_file.read_text().splitlines():
            record = json.loads(line)
            writes.append(Write(component_of(record["argv"]), record["event"],
                                in_container(record["path"], home=home, tmp=tmp), record.get("existed", False)))
    return writes


def violations(
    writes: Iterable[Write],
    writable: Mapping[str, tuple[str, ...]] = WRITABLE_PATHS,
    image_directories: frozenset[str] = frozenset(),
) -> list[Write]:
    """The writes outside the component's writable volumes. A mkdir of a directory that existed is no
    write; under ``/opt/airflow`` it must have existed in the image (``image_directories``), not
    because another component (another container) made it."""

    def allowed(write: Write) -> bool:
        path = PurePosixPath(write.path)
        if write.event == "os.mkdir" and write.existed:
            if not _under(path, "/opt/airflow") or write.path in image_directories:
                return True
        if "__pycache__" in path.parts:
            # Bytecode caches: CPython skips writing them when it cannot (read-only root included).
            return True
        if any(_under(path, k) for k in KERNEL_FILESYSTEMS):
            return True
        return any(_under(path, w) for w in writable.get(write.component, ()))

    return sorted({w for w in writes if not allowed(w)}, key=lambda w: (w.component, w.path))

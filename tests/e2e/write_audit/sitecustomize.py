"""Records every file a Python process writes, for tests/e2e/test_writes.py (test-only, never deployed).

On PYTHONPATH with ``BATCH_PLATFORM_WRITE_AUDIT`` set to a directory, each interpreter appends one
JSON line per write to ``<dir>/<pid>.jsonl``: the audit event (CPython's ``sys.audit`` events for
opening a file for writing, creating, renaming, removing or linking a path, binding a Unix socket,
making a temporary file), the absolute path, and the command line of the process the test started
(``airflow scheduler``, ``airflow db migrate``...). Its children inherit that command line through the
environment, forked ones keep the hook, and each writes to its own file. Nothing is changed or refused: the processes run as they
would without it.
"""

from __future__ import annotations

import json
import os
import sys

_DIRECTORY = os.environ.get("BATCH_PLATFORM_WRITE_AUDIT")
_COMMAND = "BATCH_PLATFORM_WRITE_AUDIT_COMMAND"

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
# event -> (position of a path argument it creates or changes, position of its dir_fd or None)
_PATH_EVENTS = {
    "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.symlink": ((1, 2),),
    "os.link": ((1, 3),),
    "os.truncate": ((0, None),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "shutil.copyfile": ((1, None),),
    "shutil.copytree": ((1, None),),
    "shutil.rmtree": ((0, 1),),
    "tempfile.mkstemp": ((0, None),),
    "tempfile.mkdtemp": ((0, None),),
}


def _install(directory: str) -> None:
    state = {"pid": None, "fd": None, "busy": False}
    os.environ.setdefault(_COMMAND, json.dumps(sys.argv[1:4]))
    command = json.loads(os.environ[_COMMAND])

    def out() -> int:
        if state["pid"] != os.getpid():  # first write of this process (or a forked child)
            state["pid"] = os.getpid()
            state["fd"] = os.open(os.path.join(directory, f"{os.getpid()}.jsonl"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return state["fd"]

    def record(event: str, path: object, dir_fd: object = None) -> None:
        if isinstance(path, int) or path is None:  # a file descriptor: its opening was recorded
            return
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        path = os.fspath(path)  # type: ignore[arg-type]
        if isinstance(dir_fd, int) and not os.path.isabs(path):  # e.g. shutil.rmtree's fd-relative unlinks
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        path = os.path.abspath(path)
        entry = {"event": event, "path": path, "argv": command}
        if event == "os.mkdir":
            # mkdir of an existing directory fails with EEXIST even on a read-only file system,
            # which os.makedirs(exist_ok=True) and Path.mkdir(exist_ok=True) accept.
            entry["existed"] = os.path.isdir(path)
        os.write(out(), (json.dumps(entry) + "\n").encode())

    def hook(event: str, args: tuple) -> None:
        if state["busy"]:
            return
        state["busy"] = True
        try:
            if event == "open":
                path, mode, flags = (tuple(args) + (None, None, None))[:3]
                writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                    isinstance(flags, int) and flags & _WRITE_FLAGS
                )
                if writes:
                    record(event, path)
            elif event in _PATH_EVENTS:
                for position, fd_position in _PATH_EVENTS[event]:
                    if position < len(args):
                        dir_fd = args[fd_position] if fd_position is not None and fd_position < len(args) else None
                        record(event, args[position], dir_fd)
            elif event == "socket.bind" and len(args) > 1 and isinstance(args[1], (str, bytes)):
                if args[1] and not (isinstance(args[1], str) and args[1].startswith("\0")):  # abstract sockets: no file
                    record(event, args[1])
        except Exception:  # noqa: BLE001 - never change what the process does
            pass
        finally:
            state["busy"] = False

    sys.addaudithook(hook)


if _DIRECTORY:
    _install(_DIRECTORY)

"""The pack as Pulumi starts it: ``__main__.py`` in a child process (never imported here, since
constructing the PolicyPack serves the analyzer until killed)."""

from __future__ import annotations

import subprocess
import sys

from conftest import POLICY_DIR


def test_the_pack_starts_and_announces_its_port():
    process = subprocess.Popen(
        [sys.executable, "__main__.py"], cwd=POLICY_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first_line = process.stdout.readline()  # the analyzer prints its port once it serves
        assert first_line.strip().isdigit(), (first_line, process.stderr.read() if process.poll() is not None else "")
        assert process.poll() is None
    finally:
        process.kill()
        process.wait(timeout=10)

"""IAM decisions from a maintained simulator: ``@cloud-copilot/iam-simulate`` run by Node.js.

moto enforces IAM on the AWS APIs it serves, but it ignores condition operators other than
StringEquals (a ``StringLike`` on ``s3:prefix`` always passes there). The simulator implements every
operator and the request context keys, so the tests ask it as well. ``make test`` installs it
(``npm ci`` in ``tests/infra/iam_simulator``, pinned by its package-lock.json).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

SIMULATOR_DIR = Path(__file__).resolve().parent / "iam_simulator"
ACCOUNT = "123456789012"


class IamSimulator:
    """One long-lived Node.js process answering one JSON line per request."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None or not (SIMULATOR_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
            raise RuntimeError(
                f"the IAM simulator is not installed: run make test, or npm ci --prefix {SIMULATOR_DIR} "
                "(needs Node.js and npm)"
            )
        self._process = subprocess.Popen(
            [node, str(SIMULATOR_DIR / "simulate.mjs")],
            cwd=SIMULATOR_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def decide(
        self,
        policies: Sequence[Mapping[str, Any]],
        action: str,
        resource: str,
        *,
        principal: str = f"arn:aws:iam::{ACCOUNT}:user/component",
        context: Mapping[str, str] | None = None,
    ) -> str:
        """``Allowed``, ``ImplicitlyDenied`` or ``ExplicitlyDenied`` for one request."""
        request = {
            "policies": list(policies),
            "action": action,
            "resource": resource,
            "account": ACCOUNT,
            "principal": principal,
            "context": dict(context or {}),
        }
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = json.loads(self._process.stdout.readline())
        if "error" in answer:
            raise ValueError(f"the IAM simulator refused the request {request}: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        self._process.wait(timeout=10)

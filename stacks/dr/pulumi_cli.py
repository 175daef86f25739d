"""Running the Pulumi CLI so that Ctrl-C cancels it gracefully instead of breaking the stack.

The Automation API's ``PulumiCommand.run`` starts the CLI in the caller's process group and, on
``KeyboardInterrupt``, leaves its ``with subprocess.Popen`` block: Python waits 0.25 s, closes the
CLI's pipes and returns, and the CLI dies of SIGPIPE on its next write, leaving the update lock and
pending operations in the state while the operations it had started keep running in AWS
(pulumi/pulumi#11599).

``GracefulPulumiCommand`` is a ``PulumiCommand`` (the Automation API accepts one through
``LocalWorkspaceOptions.pulumi_command``) that differs in exactly that:

* the CLI runs in a session of its own, so the terminal's Ctrl-C reaches this process only, once;
* on ``KeyboardInterrupt`` (or SIGTERM, see ``terminate_as_interrupt``) it sends the CLI one SIGINT,
  which is the CLI's own graceful cancel (it lets the in-flight resource operations finish, records
  them, releases the lock and exits), and keeps reading the CLI's output until it exits;
* a second Ctrl-C is passed on as a second SIGINT, which the CLI treats as "terminate now"
  (dangerous, exactly as when pulumi runs in a terminal); further ones are ignored until it exits;
* then it raises ``PulumiInterrupted`` (a ``KeyboardInterrupt``) with the CLI's exit code and the end
  of its output, so the caller records the phase as interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from typing import Any, Callable, Optional

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error

OnOutput = Callable[[str], Any]

CANCEL_NOTE = (
    "Ctrl-C: asked pulumi to cancel gracefully (SIGINT); waiting for the operations in flight to finish "
    "and the state to be written. Ctrl-C again terminates pulumi at once (dangerous: pending operations stay in the state)"
)
TERMINATE_NOTE = "Ctrl-C again: pulumi told to terminate now; waiting for it to exit"


class PulumiInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a Pulumi command; the CLI was asked to cancel and has exited."""

    def __init__(self, command: str, code: int, forced: bool, tail: str):
        self.command = command
        self.code = code
        self.forced = forced
        self.tail = tail
        how = "terminated on a second Ctrl-C" if forced else "cancelled gracefully"
        super().__init__(f"pulumi {command} interrupted by the operator: {how}, exit code {code}")


class GracefulPulumiCommand(PulumiCommand):
    """``PulumiCommand`` whose ``run`` survives Ctrl-C (see the module docstring)."""

    def __init__(self, *args: Any, on_note: OnOutput | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.on_note = on_note

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Optional[OnOutput] = None,
        on_error: Optional[OnOutput] = None,
    ) -> CommandResult:
        separator = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:separator]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        if os.path.isabs(self.command):
            env["PATH"] = os.pathsep.join([os.path.dirname(self.command), env.get("PATH", "")])
        stdout_lines: list[str] = []
        stderr_lines: list[str] = []

        def consume(stream: Any, callback: Optional[OnOutput], lines: list[str]) -> None:
            for line in iter(stream.readline, ""):
                stripped = line.rstrip()
                lines.append(stripped)
                if callback:
                    callback(stripped)
            stream.close()

        note = self.on_note or on_output or (lambda text: None)
        process = subprocess.Popen(
            [self.command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            encoding="utf-8",
            start_new_session=True,  # the terminal's Ctrl-C reaches us only: we decide what pulumi gets
        )
        readers = [
            threading.Thread(target=consume, args=(process.stdout, on_output, stdout_lines), daemon=True),
            threading.Thread(target=consume, args=(process.stderr, on_error, stderr_lines), daemon=True),
        ]
        interrupts = 0
        while True:
            try:  # a Ctrl-C from here on, even before the readers run, cancels pulumi gracefully
                for reader in readers:
                    if reader.ident is None:
                        reader.start()
                for reader in readers:
                    reader.join()
                process.wait()
                break
            except KeyboardInterrupt:
                interrupts += 1
                if process.poll() is None and interrupts <= 2:
                    process.send_signal(signal.SIGINT)
                    note(CANCEL_NOTE if interrupts == 1 else TERMINATE_NOTE)
        code = process.returncode
        result = CommandResult(stdout="\n".join(stdout_lines), stderr="\n".join(stderr_lines), code=code)
        if interrupts:
            command = next((a for a in args if not a.startswith("-")), "command")
            tail = "\n".join((stdout_lines + stderr_lines)[-20:])
            raise PulumiInterrupted(command, code, interrupts > 1, tail)
        if code != 0:
            raise create_command_error(result)
        return result


def terminate_as_interrupt() -> None:
    """Make SIGTERM behave like Ctrl-C (a ``KeyboardInterrupt``), so a stopped job cancels pulumi
    gracefully too. Only from the main thread (``signal.signal`` refuses elsewhere)."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)

#!/usr/bin/env python3
"""A stand-in for the ``pulumi`` CLI, for testing ``AutomationStack`` without a backend or a cloud.

It appends every argument list to $FAKE_PULUMI_LOG (JSON lines) and keeps config, outputs and
resources in $FAKE_PULUMI_STATE, answering with the output formats the Automation API parses.

An ``up`` or ``destroy`` with ``inflight`` in the state behaves like the real engine with one
resource operation in flight: it takes the update lock and records a pending operation in the
state, prints progress, and on SIGINT does what the CLI does on Ctrl-C: "^C received; cancelling",
lets the operation in flight finish, records it, releases the lock and exits 255 ("update
canceled"); a second SIGINT terminates at once, leaving the lock and the pending operation. A
process killed by SIGPIPE (its reader gone) leaves them too, as the real CLI does.
"""

import json
import os
import signal
import sys
import time

LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end "
    "or delete the lock file with `pulumi cancel`."
)


def _save(state):
    path = os.environ["FAKE_PULUMI_STATE"]
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(path + ".tmp", path)


def _inflight(command, stack, state):
    """One resource operation that takes ``inflight.seconds``, cancellable like the engine's."""
    spec = state["inflight"]
    resource = spec["resource"]
    state["locked"] = True
    state.setdefault("pending_operations", []).append({"resource": resource, "type": "creating"})
    _save(state)
    received = []

    def on_sigint(signum, frame):
        received.append(signum)
        if len(received) == 1:
            print("^C received; cancelling. If you would like to terminate immediately, press ^C again.", flush=True)
        else:
            print("^C received; terminating", flush=True)
            os._exit(255)  # the lock and the pending operation stay, as with the real CLI

    signal.signal(signal.SIGINT, on_sigint)
    print(f"{'Updating' if command == 'up' else 'Destroying'} ({stack}):", flush=True)
    print(f"    + {resource['type']} {resource['urn'].split('::')[-1]} creating (0s)", flush=True)
    started = time.monotonic()
    while time.monotonic() - started < spec["seconds"] and not received:
        time.sleep(0.02)
    if received:
        time.sleep(spec.get("finish_seconds", 0.2))  # the operation in flight runs to its end
    print(f"    + {resource['type']} {resource['urn'].split('::')[-1]} created ({time.monotonic() - started:.1f}s)", flush=True)
    state["pending_operations"] = [p for p in state["pending_operations"] if p["resource"]["urn"] != resource["urn"]]
    state["resources"].append({k: v for k, v in resource.items() if k != "inputs"})
    state["locked"] = False
    del state["inflight"]
    _save(state)
    if received:
        print("error: update canceled", file=sys.stderr, flush=True)
        return 255
    print("Resources: 1 created", flush=True)
    return 0


def main(argv):
    with open(os.environ["FAKE_PULUMI_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    with open(os.environ["FAKE_PULUMI_STATE"], encoding="utf-8") as handle:
        state = json.load(handle)
    args = [a for a in argv if a != "--non-interactive"]
    stack = args[args.index("--stack") + 1] if "--stack" in args else None
    if args == ["version"]:
        print("v3.272.0")
        return 0
    if stack is not None and stack not in state["stacks"]:
        print(f"error: no stack named '{stack}' found", file=sys.stderr)
        return 255
    command = args[:2]
    if command == ["stack", "select"]:
        return 0
    if command == ["config", "get"]:
        key = next(a for a in args[2:] if not a.startswith("--"))
        if key not in state["config"]:
            print(f"error: configuration key '{key}' not found for stack '{stack}'", file=sys.stderr)
            return 255
        print(json.dumps({"value": state["config"][key], "secret": False}))
        return 0
    if command == ["config", "set"]:
        key = next(a for a in args[2:] if not a.startswith("--"))
        state["config"][key] = args[args.index("--") + 1]
    elif command == ["config", "rm"]:
        state["config"].pop(args[2], None)
    elif command == ["stack", "output"]:
        shown = {k: ("[secret]" if k in state["secret_outputs"] and "--show-secrets" not in args else v) for k, v in state["outputs"].items()}
        print(json.dumps(shown))
        return 0
    elif command == ["stack", "export"]:
        deployment = {"resources": state["resources"]}
        if state.get("pending_operations"):
            deployment["pending_operations"] = state["pending_operations"]
        print(json.dumps({"version": 3, "deployment": deployment}))
        return 0
    elif args[0] == "cancel":
        if not state.get("locked"):
            print(f"error: stack '{stack}' has no update in progress", file=sys.stderr)
            return 255
        state["locked"] = False
        print(f"The currently running update for '{stack}' has been canceled!")
    elif args[0] == "refresh":
        if state.get("locked"):
            print(LOCKED, file=sys.stderr)
            return 255
        pairs = [args[i + 1] for i, a in enumerate(args) if a == "--import-pending-creates"]
        pending = state.get("pending_operations", [])
        for urn, id_ in zip(pairs[::2], pairs[1::2]):
            match = next(p for p in pending if p["resource"]["urn"] == urn and p["type"] == "creating")
            pending.remove(match)
            state["resources"].append({**{k: v for k, v in match["resource"].items() if k != "inputs"}, "id": id_})
        if "--clear-pending-creates" in args:
            pending = [p for p in pending if p["type"] != "creating"]
        if not pairs:
            pending = [p for p in pending if p["type"] == "creating"]  # refresh settles the other kinds
        state["pending_operations"] = pending
        print(f"Refreshing ({stack}):")
        print("Resources: 3 unchanged")
    elif command == ["stack", "history"]:
        print(json.dumps([{
            "kind": "update", "startTime": "2025-03-01T09:00:00.000Z", "endTime": "2025-03-01T09:20:00.000Z",
            "message": "", "environment": {}, "config": {}, "result": "succeeded", "version": 2, "resourceChanges": {"same": 3},
        }]))
        return 0
    elif args[0] in ("up", "destroy"):
        if state.get("locked"):
            print(LOCKED, file=sys.stderr)
            return 255
        if state.get("inflight"):
            return _inflight(args[0], stack, state)
        if state.get("fail") == args[0]:
            for line in state.get("fail_stdout", []):
                print(line)
            print(f"error: {args[0]} failed: injected", file=sys.stderr)
            return 255
        print("Updating (%s):" % stack if args[0] == "up" else "Destroying (%s):" % stack)
        print("Resources: 3 unchanged")
    else:
        print(f"fake pulumi: unhandled {args}", file=sys.stderr)
        return 2
    _save(state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

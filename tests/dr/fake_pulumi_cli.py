#!/usr/bin/env python3
"""A stand-in for the ``pulumi`` CLI, for testing ``AutomationStack`` without a backend or a cloud.

It appends every argument list to $FAKE_PULUMI_LOG (JSON lines) and keeps config, outputs and
resources in $FAKE_PULUMI_STATE, answering with the output formats the Automation API parses.
"""

import json
import os
import sys


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
        print(json.dumps({"version": 3, "deployment": {"resources": state["resources"]}}))
        return 0
    elif command == ["stack", "history"]:
        print(json.dumps([{
            "kind": "update", "startTime": "2025-03-01T09:00:00.000Z", "endTime": "2025-03-01T09:20:00.000Z",
            "message": "", "environment": {}, "config": {}, "result": "succeeded", "version": 2, "resourceChanges": {"same": 3},
        }]))
        return 0
    elif args[0] in ("up", "destroy"):
        if state.get("fail") == args[0]:
            print(f"error: {args[0]} failed: injected", file=sys.stderr)
            return 255
        print("Updating (%s):" % stack if args[0] == "up" else "Destroying (%s):" % stack)
        print("Resources: 3 unchanged")
    else:
        print(f"fake pulumi: unhandled {args}", file=sys.stderr)
        return 2
    with open(os.environ["FAKE_PULUMI_STATE"], "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

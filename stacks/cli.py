"""Command line of the stack tools.

    python -m stacks plan <stack> [--json]   offline plan: what the stack would create, no cloud needed
    python -m stacks image-tag <stack>       the Airflow image tag make image builds and pushes for the stack

Exit status: 0 on success, 2 for an unknown stack or an invalid stack file (every problem listed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from stacks.config import StackConfigError, available_stacks
from stacks.config.loader import PROJECT_ROOT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stacks", description="Tools that operate on a stack.")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=PROJECT_ROOT,
        help="directory holding Pulumi.yaml and the Pulumi.<stack>.yaml files (default: this repository)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plan = commands.add_parser("plan", help="show what a stack would create, offline (Pulumi mocks)")
    plan.add_argument("stack", help="stack name: a Pulumi.<stack>.yaml next to Pulumi.yaml")
    plan.add_argument("--json", action="store_true", help="print a JSON document instead of the tree")
    image_tag = commands.add_parser(
        "image-tag", help="the Airflow image tag make image builds from this checkout and pushes for the stack"
    )
    image_tag.add_argument("stack", help="stack name: a Pulumi.<stack>.yaml next to Pulumi.yaml")
    return parser


def _check_stack(stack: str, root: Path) -> str | None:
    stacks = available_stacks(root)
    if stack not in stacks:
        return f"unknown stack {stack!r}: expected one of {', '.join(stacks) or '(none)'} (a Pulumi.<stack>.yaml file)"
    return None


def _plan(args: argparse.Namespace) -> int:
    from stacks.offline import run_plan
    from stacks.offline.render import render_json, render_text

    plan = run_plan(args.stack, args.project_dir)
    sys.stdout.write(render_json(plan) if args.json else render_text(plan))
    return 0


def _image_tag(args: argparse.Namespace) -> int:
    from stacks.airflow_image import build_tag
    from stacks.config import load_stack_file, stack_file

    print(build_tag(load_stack_file(stack_file(args.stack, args.project_dir)), args.stack))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problem = _check_stack(args.stack, args.project_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        if args.command == "plan":
            return _plan(args)
        if args.command == "image-tag":
            return _image_tag(args)
    except StackConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {args.command}")

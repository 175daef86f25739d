"""Command line of the stack tools.

    python -m stacks plan <stack> [--json]   offline plan: what the stack would create, no cloud needed
    python -m stacks plan <stack> --compare <saved.json> [--json]
                                             what changed since a plan saved with --json: added, removed, changed inputs
    python -m stacks dr-rehearsal <stack>    destroy and recreate a stack from a snapshot, prove nothing was lost
    python -m stacks image-tag <stack>       the Airflow image tag make image builds and pushes for the stack
    python -m stacks patch-nodes <stack>     roll the node groups to the AMI release the stack should run, and prove it
    python -m stacks patch-status <stack>    per node group: running, available and proven releases, the lag

Exit status: 0 on success, 2 for an unknown stack, an invalid stack file or bad arguments (every
problem listed, before anything happens); ``dr-rehearsal`` exits 1 when a phase or a check failed;
``patch-nodes`` exits 1 when a preflight check, the roll or the proof failed; ``patch-status`` exits 1
when a node group's patch lag exceeds ``cluster.patching.max_lag_days``.
"""

from __future__ import annotations

import argparse
import gc
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

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
    plan.add_argument(
        "--compare",
        type=Path,
        metavar="SAVED_PLAN",
        help="compare with a plan saved earlier with --json: resources added, removed and with changed inputs",
    )

    dr = commands.add_parser(
        "dr-rehearsal",
        help="destroy a stack, recreate it from a database snapshot and verify nothing was lost",
        description=(
            "Rehearse a disaster on a deployed stack: canaries, snapshot, destroy, recreate from the snapshot, "
            "verify. Needs the Pulumi CLI and AWS credentials. Airflow API credentials come from the environment "
            "(AIRFLOW_API_TOKEN, or AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD), or a Secrets Manager secret "
            "(--airflow-credentials-secret), or by default the stack's admin user (airflow.admin.username) with its "
            "durable password in Secrets Manager (batch-platform/<stack>/airflow/admin-password)."
        ),
    )
    dr.add_argument("stack", help="stack name: a Pulumi.<stack>.yaml next to Pulumi.yaml")
    dr.add_argument("--allow-prod", action="store_true", help="allow rehearsing on a stack whose tier is prod")
    dr.add_argument("--yes", action="store_true", help="do not ask for confirmation (unattended runs)")
    mode = dr.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an unfinished rehearsal from its failed phase")
    mode.add_argument("--rollback", action="store_true", help="undo an unfinished rehearsal (recreating from its snapshot if needed)")
    mode.add_argument(
        "--cleanup",
        action="store_true",
        help="list the snapshots and retained automated backups earlier rehearsals left, and delete all but the newest "
        "of each kind once confirmed (needs AWS credentials only)",
    )
    dr.add_argument(
        "--point-in-time",
        action="store_true",
        help="recreate from the retained automated backups restored to their latest restorable time, as a real disaster "
        "would, instead of the snapshot taken after the freeze",
    )
    dr.add_argument(
        "--dns-zone-id",
        metavar="ZONE_ID",
        help="Route 53 hosted zone of the UI hostname: point its record at the recreated load balancer (default: print "
        "the change to make)",
    )
    dr.add_argument("--report-dir", type=Path, help="where to write the report (default .dr/<stack>/)")
    dr.add_argument(
        "--airflow-url",
        help="Airflow base URL instead of the stack output airflow_url: needed when that is an in-cluster address "
        "(no load balancer, e.g. dev), through kubectl port-forward",
    )
    dr.add_argument(
        "--airflow-credentials-secret",
        metavar="SECRET_ID",
        help='Secrets Manager secret holding {"username": ..., "password": ...} for the Airflow API '
        "(default: the admin user, password from batch-platform/<stack>/airflow/admin-password)",
    )
    dr.add_argument("--health-timeout", type=_minutes, default=30.0, metavar="MINUTES", help="how long to wait for Airflow healthy (default 30)")
    dr.add_argument("--snapshot-timeout", type=_minutes, default=60.0, metavar="MINUTES", help="how long to wait for the snapshot (default 60)")
    dr.add_argument(
        "--freeze-timeout",
        type=_minutes,
        default=30.0,
        metavar="MINUTES",
        help="how long the freeze waits for running tasks before it records them and goes on (default 30)",
    )

    image_tag = commands.add_parser(
        "image-tag", help="the Airflow image tag make image builds from this checkout and pushes for the stack"
    )
    image_tag.add_argument("stack", help="stack name: a Pulumi.<stack>.yaml next to Pulumi.yaml")

    patch = commands.add_parser(
        "patch-nodes",
        help="roll the node groups to the AMI release the stack should run, then prove it (docs/nodes-and-patching.md)",
        description=(
            "Decide the AMI release of each node group (the newest for a stack without cluster.patching.promote_from; "
            "the newest proven there for cluster.patching.soak_days otherwise; a pin set by hand wins), check the "
            "cluster may roll, pulumi up through the Automation API, prove the release with a canary batch Job and "
            "Airflow's health, and record the outcome. Needs the Pulumi CLI, AWS credentials and the AWS CLI (for "
            "the cluster's kubeconfig). Safe to rerun: it continues where an interrupted run stopped."
        ),
    )
    patch.add_argument("stack", help="stack name: a Pulumi.<stack>.yaml next to Pulumi.yaml")
    patch.add_argument("--dry-run", action="store_true", help="decide and say what would be done; change nothing")

    status = commands.add_parser(
        "patch-status",
        help="per node group: the release running, the newest available, the one proven, the lag; exit 1 past max_lag_days",
    )
    status.add_argument("stack", help="stack name: a Pulumi.<stack>.yaml next to Pulumi.yaml")
    status.add_argument(
        "--metric",
        action="store_true",
        help="also publish the lag as the CloudWatch metric BatchPlatform/NodePatching PatchLagDays (Stack, NodeGroup)",
    )
    return parser


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of minutes, got {text!r}")
    return value


def _check_stack(stack: str, root: Path) -> str | None:
    stacks = available_stacks(root)
    if stack not in stacks:
        return f"unknown stack {stack!r}: expected one of {', '.join(stacks) or '(none)'} (a Pulumi.<stack>.yaml file)"
    return None


def _plan(args: argparse.Namespace, own_process: bool = False) -> int:
    import json

    from stacks.offline import run_plan
    from stacks.offline.compare import SavedPlanError, compare_documents, comparison_document, load_saved_plan, render_comparison
    from stacks.offline.render import render_json, render_text

    saved = None
    if args.compare is not None:
        try:
            saved = load_saved_plan(args.compare)  # a bad file stops here, before the plan runs
        except SavedPlanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if own_process:
        _short_lived_heap()
    plan = run_plan(args.stack, args.project_dir)
    if saved is not None:
        # Through JSON, as the saved document went: both sides then hold the same value types.
        current = json.loads(render_json(plan))
        comparison = compare_documents(saved, current)
        if args.json:
            sys.stdout.write(json.dumps(comparison_document(comparison), indent=2, sort_keys=True, default=str) + "\n")
        else:
            sys.stdout.write(render_comparison(comparison, str(args.compare)))
    else:
        sys.stdout.write(render_json(plan) if args.json else render_text(plan))
    if own_process:
        gc.freeze()  # exit without walking the heap once more (see _short_lived_heap)
    return 0


def _short_lived_heap() -> None:
    """No cyclic garbage collection in the plan's own process (``python -m stacks plan``).

    The plan imports about 1,700 modules (pulumi_aws alone defines thousands of classes) and
    registers a few hundred resources: about 300,000 objects, nearly all alive until the process
    exits. CPython's generational collector walks the whole heap each time it has grown by a
    quarter, five full passes during a prod plan (0.7 s of its 2 s), and once more at exit (0.9 s),
    to free about 20,000 objects (5 MB). Reference counting still frees everything else as usual;
    peak memory grows by those few MB (``scripts/bench_plan.py`` prints it). Only the command's own
    process does this: ``main()`` called in-process (the tests) keeps the collector as it is.
    """
    gc.disable()


@dataclass
class DrWiring:
    """What ``dr-rehearsal`` talks to. ``real_wiring`` is the default; tests inject fakes here."""

    pulumi_stack: Callable[[str, Path], Any]
    """(stack name, project directory) -> PulumiStack."""
    aws_for_region: Callable[[str], Any]
    airflow_for_url: Callable[[str, Any], Any]
    """(url, credentials) -> AirflowApi."""
    env: dict[str, str]
    ask: Callable[[str], str | None]
    out: TextIO
    state_root: Path | None = None
    """Where ``<stack>/state.json`` lives; default ``.dr/`` at the project root."""
    now: Callable[[], Any] | None = None
    sleep: Callable[[float], None] | None = None


def real_wiring() -> DrWiring:
    import os

    from stacks.dr.airflow_api import AirflowApi
    from stacks.dr.aws_ops import AwsOps
    from stacks.dr.pulumi_cli import terminate_as_interrupt
    from stacks.dr.pulumi_ops import AutomationStack

    terminate_as_interrupt()  # a stopped job cancels pulumi gracefully, like Ctrl-C

    def ask(prompt: str) -> str | None:
        if not sys.stdin.isatty():
            return None
        try:
            return input(prompt)
        except EOFError:
            return None

    return DrWiring(
        pulumi_stack=AutomationStack,  # (name, project_dir): the program in --project-dir
        aws_for_region=AwsOps,
        airflow_for_url=lambda url, credentials, connect_host=None: AirflowApi(url, credentials, connect_host=connect_host),
        env=dict(os.environ),
        ask=ask,
        out=sys.stdout,
    )


def _dr_rehearsal(args: argparse.Namespace, wiring: DrWiring) -> int:
    from infra.airflow_secrets import ADMIN_PASSWORD
    from stacks.config.loader import load_stack_file, stack_file
    from stacks.dr.airflow_api import AirflowApiError, Credentials
    from stacks.dr.aws_ops import AwsError
    from stacks.dr.pulumi_ops import ADMIN_USERNAME, typed_config_value
    from stacks.dr.rehearsal import Options, Rehearsal, durable_secret_name

    if args.airflow_url and not args.airflow_url.startswith(("http://", "https://")):
        print(f"error: --airflow-url must start with http:// or https://, got {args.airflow_url!r}", file=sys.stderr)
        return 2
    config = load_stack_file(stack_file(args.stack, args.project_dir))  # an invalid stack file stops here (exit 2)
    region = config.region
    # prod is refused from the stack file, before the Pulumi CLI, AWS or any file is touched
    if config.tier == "prod" and not args.allow_prod and not (args.rollback or args.cleanup):
        wiring.out.write(
            f"refused: stack {args.stack} is a prod stack (tier: prod in Pulumi.{args.stack}.yaml): the rehearsal "
            "destroys it; pass --allow-prod to rehearse on prod deliberately\n"
        )
        return 2
    state_dir = (wiring.state_root or args.project_dir / ".dr") / args.stack
    if args.cleanup:
        from stacks.data import database_identifier
        from stacks.dr.cleanup import run_cleanup
        from stacks.environment import PROJECT

        return run_cleanup(
            stack=args.stack,
            database=database_identifier(PROJECT, args.stack),
            state_dir=state_dir,
            aws=wiring.aws_for_region(region),
            yes=args.yes,
            ask=wiring.ask,
            out=wiring.out,
        )
    cached: dict[str, Any] = {}

    def credentials() -> Credentials | None:
        if "value" not in cached:
            found = Credentials.from_env(wiring.env)
            if found is None and args.airflow_credentials_secret:
                secret = wiring.aws_for_region(region).secret_string(args.airflow_credentials_secret)
                found = Credentials.from_secret(secret)
            if found is None:
                found = admin_credentials()
            cached["value"] = found
        return cached["value"]

    def admin_credentials() -> Credentials:
        """The stack's admin user: its password is a durable secret, so it survives the rehearsal."""
        username = typed_config_value(config, ADMIN_USERNAME)
        secret_id = durable_secret_name(args.stack, ADMIN_PASSWORD)
        try:
            password = wiring.aws_for_region(region).secret_string(secret_id)
        except AwsError as exc:
            raise AirflowApiError(
                "no Airflow API credentials: set AIRFLOW_API_TOKEN, or AIRFLOW_API_USERNAME and AIRFLOW_API_PASSWORD, "
                f"or pass --airflow-credentials-secret; the default, user {username} (airflow.admin.username) with "
                f"the password in {secret_id}, is not usable: {exc}"
            ) from None
        return Credentials(username=username, password=password)

    options = Options(
        stack=args.stack,
        state_dir=state_dir,
        report_dir=args.report_dir or state_dir,
        mode="resume" if args.resume else "rollback" if args.rollback else "run",
        allow_prod=args.allow_prod,
        yes=args.yes,
        airflow_url=args.airflow_url,
        health_timeout=args.health_timeout * 60,
        snapshot_timeout=args.snapshot_timeout * 60,
        freeze_timeout=args.freeze_timeout * 60,
        point_in_time=args.point_in_time,
        dns_zone_id=args.dns_zone_id,
    )
    extra = {key: value for key, value in (("now", wiring.now), ("sleep", wiring.sleep)) if value is not None}
    rehearsal = Rehearsal(
        options,
        wiring.pulumi_stack(args.stack, args.project_dir),
        wiring.aws_for_region,
        lambda url, connect_host=None: (
            wiring.airflow_for_url(url, credentials(), connect_host) if connect_host else wiring.airflow_for_url(url, credentials())
        ),
        out=wiring.out,
        ask=wiring.ask,
        **extra,
    )
    return rehearsal.execute()


def _image_tag(args: argparse.Namespace) -> int:
    from stacks.airflow_image import build_tag
    from stacks.config import load_stack_file, stack_file

    print(build_tag(load_stack_file(stack_file(args.stack, args.project_dir)), args.stack))
    return 0


@dataclass
class PatchWiring:
    """What ``patch-nodes`` and ``patch-status`` talk to. ``real_patch_wiring`` is the default; tests inject fakes."""

    pulumi_stack: Callable[[str], Any]
    aws_for_region: Callable[[str], Any]
    kube_for: Callable[[Any], Any]
    """kubeconfig (dict) -> KubeApi."""
    out: TextIO
    now: Callable[[], Any]


def real_patch_wiring() -> PatchWiring:
    from datetime import datetime, timezone

    from stacks.dr.pulumi_ops import AutomationStack
    from stacks.patching.aws import PatchAws
    from stacks.patching.kube import KubernetesApi

    return PatchWiring(
        pulumi_stack=AutomationStack,
        aws_for_region=PatchAws,
        kube_for=KubernetesApi,
        out=sys.stdout,
        now=lambda: datetime.now(timezone.utc),
    )


def _patching(args: argparse.Namespace, wiring: PatchWiring) -> int:
    from stacks.config.loader import load_stack_file, stack_file
    from stacks.patching.aws import PatchAwsError
    from stacks.patching.releases import RecordError

    config = load_stack_file(stack_file(args.stack, args.project_dir))
    source = config.cluster.patching.promote_from
    source_config = None
    if source is not None:
        problem = _check_stack(source, args.project_dir)
        if problem:
            print(f"error: Pulumi.{args.stack}.yaml: cluster.patching.promote_from: {problem}", file=sys.stderr)
            return 2
        source_config = load_stack_file(stack_file(source, args.project_dir))
    if args.command == "patch-status":
        from stacks.patching.status import patch_status

        aws = wiring.aws_for_region(config.region)
        source_aws = wiring.aws_for_region(source_config.region) if source_config else None
        try:
            return patch_status(args.stack, config, aws, source_aws, wiring.now(), wiring.out, metric=args.metric)
        except (PatchAwsError, RecordError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    from stacks.patching.procedure import PatchNodes

    run = PatchNodes(
        args.stack,
        config,
        wiring.pulumi_stack(args.stack),
        wiring.aws_for_region,
        wiring.kube_for,
        source_config=source_config,
        out=wiring.out,
        now=wiring.now,
    )
    return run.execute(dry_run=args.dry_run)


def main(
    argv: Sequence[str] | None = None,
    dr_wiring: DrWiring | None = None,
    patch_wiring: PatchWiring | None = None,
    own_process: bool = False,
) -> int:
    """Run one command; ``own_process``: the process exits after it (``python -m stacks``)."""
    args = _parser().parse_args(argv)
    problem = _check_stack(args.stack, args.project_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        if args.command == "plan":
            return _plan(args, own_process)
        if args.command == "dr-rehearsal":
            return _dr_rehearsal(args, dr_wiring or real_wiring())
        if args.command == "image-tag":
            return _image_tag(args)
        if args.command in ("patch-nodes", "patch-status"):
            return _patching(args, patch_wiring or real_patch_wiring())
    except StackConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {args.command}")

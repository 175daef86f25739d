"""The DR rehearsal: destroy a stack, recreate it from a snapshot, and prove nothing was lost.

Phases (``stacks.dr.state.PHASES``), each shown live with its elapsed time:

1. preflight: the stack exists, credentials work, prod is refused without ``--allow-prod``, the
   durable data (the log bucket, the Airflow fernet key secret and its version, a stack-owned KMS key
   of the database) is protected or retained so the destroy keeps it, the manual snapshot quota has
   room, Airflow answers; then a typed confirmation unless ``--yes``. On ``--resume`` after an
   interrupted Pulumi command: the state is repaired first (stale lock, pending operations).
2. canaries before: the point-in-time lag (latest restorable time against the same instant), a
   canary Variable (stored fernet-encrypted in the metadata database), a canary object in the log
   bucket, the newest task log, a task log read through Airflow.
3. freeze: every DAG that is not paused is paused (the list is recorded: only those are un-paused
   later), running task instances are waited for (``--freeze-timeout``; those still running are
   recorded and reported), then the DAG run count and the DAG checkout Airflow serves are recorded:
   the snapshot taken next holds every run committed so far, and nothing new starts until the end.
4. manual snapshot of the database, waited for until available (``--snapshot-timeout``). Never
   deleted by the rehearsal (``--cleanup`` lists and deletes old ones on confirmation).
5. lift protection: ``database.deletion_protection = false`` and a ``pulumi up`` targeted at the
   database instance, which turns off both the RDS flag and Pulumi's ``protect`` and nothing else.
6. destroy: ``pulumi destroy --exclude-protected``. Protected resources stay in the state and in
   AWS; retained ones (``retain_on_delete``: the bucket, the Airflow secrets) leave the state and
   stay in AWS. Then the log bucket and the fernet key secret are checked to still exist in AWS.
7. recreate: ``database.restore_from_snapshot = <snapshot>`` (with ``--point-in-time``: a snapshot of
   the retained automated backups restored to their latest restorable time, see
   ``stacks.dr.point_in_time``), protection back to its original value, ``pulumi up`` (which adopts
   the retained resources again); then the snapshot key is set back.
8. wait until Airflow reports healthy, through the new load balancer when the UI hostname still
   points at the old one (``--dns-zone-id`` moves the record), and until the DAG processor has parsed
   the DAG checkout again.
9. canaries after: run count as at the freeze, canary Variable decrypts, logs readable, protection
   back, the bucket and the fernet key secret adopted, the DAG checkout served again.
10. unfreeze: the DAGs the freeze paused are un-paused.

Every step is recorded in a state file, so a failure or Ctrl-C stops with a recoverable state and
the exact command to resume (``--resume``) or roll back (``--rollback``).
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence, TextIO
from urllib.parse import urlsplit

from infra.airflow_secrets import FERNET_KEY
from stacks.data import durable_secret_prefix
from stacks.dr import report
from stacks.dr.airflow_api import AirflowApi, AirflowApiError, TaskLogRef
from stacks.dr.aws_ops import AwsError, AwsOps, sha256
from stacks.dr.pulumi_cli import PulumiInterrupted
from stacks.dr.pulumi_ops import (
    DELETION_PROTECTION,
    REGION,
    RESTORE_FROM_SNAPSHOT,
    TIER,
    PulumiError,
    PulumiStack,
    StackResource,
)
from stacks.dr.state import (
    DONE,
    FAILED,
    INTERRUPTED,
    PENDING,
    PHASES,
    RUNNING,
    SKIPPED,
    UNFINISHED,
    RehearsalState,
    StateFileError,
    StateStore,
    iso,
    parse_iso,
)
from stacks.environment import PROJECT

CANARY_VARIABLE = "dr_rehearsal_canary"
CANARY_PREFIX = "dr-rehearsal/"

# The stack outputs the rehearsal reads (tests/dr/test_stack_contract.py checks them on the real plan).
DB_OUTPUT = "database_instance_identifier"
BUCKET_OUTPUT = "task_log_bucket"
AIRFLOW_OUTPUT = "airflow_url"
FINAL_SNAPSHOT_OUTPUT = "database_final_snapshot_identifier"
"""Optional: the snapshot the destroy writes of the database, reported so it is not forgotten."""
LB_OUTPUT = "airflow_load_balancer"
"""The UI load balancer's DNS name (empty without one): a recreate makes a new one, which the UI
hostname's DNS record (outside the stack) must follow."""
RECORDED_OUTPUTS = (DB_OUTPUT, BUCKET_OUTPUT, AIRFLOW_OUTPUT, FINAL_SNAPSHOT_OUTPUT, LB_OUTPUT)
GIT_KEY_OUTPUT = "git_ssh_key_secret_name"
"""Optional (stacks whose DAGs come from git): the durable Secrets Manager secret holding git-sync's
deploy key. When the stack has it, the key must survive the destroy like the fernet key."""

PULUMI_PHASES = ("unprotect", "destroy", "recreate")
"""Phases that run a Pulumi command: an interruption in one may leave a lock or pending operations."""

SNAPSHOTS_PER_RUN = 2
"""Manual snapshots a run adds: its own and the destroy's final snapshot (a point-in-time run one more)."""

RDS_INSTANCE = "aws:rds/instance:Instance"
S3_BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
KMS_KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"

IN_CLUSTER_SUFFIX = ".svc.cluster.local"

MAX_ERROR = 2000


def clip(text: str, limit: int = MAX_ERROR) -> str:
    """At most ``limit`` characters, keeping the end: errors put the reason last."""
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


class Refused(Exception):
    """The rehearsal will not start (or resume): nothing was changed. Exit status 2."""


class PhaseError(Exception):
    """A phase cannot complete; the message says what is wrong and what was expected."""


@dataclass(frozen=True)
class Options:
    stack: str
    state_dir: Path
    report_dir: Path
    mode: str = "run"
    """run, resume or rollback."""
    allow_prod: bool = False
    yes: bool = False
    airflow_url: str | None = None
    health_timeout: float = 1800.0
    health_interval: float = 20.0
    snapshot_timeout: float = 3600.0
    snapshot_poll: float = 15.0
    freeze_timeout: float = 1800.0
    """How long the freeze waits for running task instances before it records them and goes on."""
    freeze_poll: float = 30.0
    point_in_time: bool = False
    """Restore the retained automated backups to their latest restorable time instead of the snapshot."""
    dns_zone_id: str | None = None
    """Route 53 hosted zone of the UI hostname: the rehearsal points the record at the new load balancer."""


def _truthy(value: str | None) -> bool:
    return str(value).strip().lower() == "true"


def durable_secret_name(stack: str, key: str) -> str:
    """Secrets Manager name of one of the stack's durable Airflow secrets (``fernet-key``, ...)."""
    return f"{durable_secret_prefix(PROJECT, stack)}/{key}"


def how_kept(resource: StackResource | None) -> str:
    if resource is None:
        return "not in the state"
    if resource.protect:
        return "protected"
    return "retained" if resource.retain_on_delete else "neither protected nor retained"


def find_bucket(resources: Sequence[StackResource], bucket: str) -> StackResource | None:
    return next((r for r in resources if r.type in S3_BUCKET_TYPES and bucket in (r.id, r.outputs.get("bucket"))), None)


def find_secret(resources: Sequence[StackResource], name: str) -> StackResource | None:
    return next((r for r in resources if r.type == SECRET and r.outputs.get("name") == name), None)


def find_secret_version(resources: Sequence[StackResource], secret: StackResource) -> StackResource | None:
    """The SecretVersion of ``secret`` (its ``secretId`` is the secret's ARN, its ID ``<arn>|<version>``)."""
    arns = {secret.id, secret.outputs.get("arn")} - {None}
    return next(
        (
            r
            for r in resources
            if r.type == SECRET_VERSION and (r.outputs.get("secretId") in arns or (r.id or "").split("|")[0] in arns)
        ),
        None,
    )


def durable_data_problems(resources: Sequence[StackResource], *, stack: str, bucket: str) -> list[str]:
    """Why the destroy would lose data the rehearsal must find again (empty when nothing would be lost).

    The log bucket, and the fernet key secret with its version, must each be protected (kept in the
    state by ``--exclude-protected``) or retained (left in AWS and adopted by the next ``pulumi up``).
    """
    problems = []
    found = find_bucket(resources, bucket)
    if found is None:
        problems.append(
            f"the task log bucket {bucket} is not in the stack's state: the rehearsal cannot tell whether the destroy keeps it"
        )
    elif not found.durable:
        problems.append(
            f"the task log bucket {bucket} is neither protected nor retained: the destroy would delete the old task logs; "
            "the bucket must carry protect=True (pulumi destroy --exclude-protected keeps it in the state) or "
            "retain_on_delete=True with adoption on the next up (the destroy leaves it in AWS and the program "
            "imports it again, see docs/data-and-dr.md)"
        )
    name = durable_secret_name(stack, FERNET_KEY)
    consequence = (
        "the recreated Airflow would get a new fernet key and could not decrypt the restored Variables and "
        "connections (the canary Variable check would fail after the recreate)"
    )
    secret = find_secret(resources, name)
    if secret is None:
        problems.append(f"the Airflow fernet key secret {name} is not in the stack's state (a {SECRET} of that name): {consequence}")
        return problems
    version = find_secret_version(resources, secret)
    if version is None:
        problems.append(f"the Airflow fernet key secret {name} has no {SECRET_VERSION} in the stack's state: {consequence}")
        return problems
    lost = [what for what, r in (("secret", secret), ("secret version", version)) if not r.durable]
    if lost:
        problems.append(
            f"the Airflow fernet key {' and '.join(lost)} ({name}) {'is' if len(lost) == 1 else 'are'} neither protected "
            f"nor retained: the destroy would delete the key, and {consequence}; both must carry retain_on_delete=True "
            "with adoption on the next up (or protect=True)"
        )
    return problems


def kept_across_destroy(resources: Sequence[StackResource]) -> tuple[list[str], list[str]]:
    """(protected, retained) resources as ``type::name``: kept in the state, and left in AWS for the
    next up to adopt. The database is left out: the rehearsal lifts its protection."""
    relevant = [
        r for r in resources if r.type not in (RDS_INSTANCE, "pulumi:pulumi:Stack") and not r.type.startswith("pulumi:providers:")
    ]
    protected = sorted(f"{r.type}::{r.name}" for r in relevant if r.protect)
    retained = sorted(f"{r.type}::{r.name}" for r in relevant if r.retain_on_delete and not r.protect)
    return protected, retained


def port_forward_instruction(url: str) -> str | None:
    """How to reach an in-cluster Airflow URL from the operator's machine, or None for any other URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.endswith(IN_CLUSTER_SUFFIX):
        return None
    labels = host[: -len(IN_CLUSTER_SUFFIX)].split(".")
    service, namespace = labels[0], (labels[1] if len(labels) > 1 else "default")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (
        f"the stack's {AIRFLOW_OUTPUT} {url} is an in-cluster address (this stack has no load balancer for the "
        f"Airflow API): forward it to this machine with `kubectl port-forward -n {namespace} svc/{service} 8080:{port}` "
        "(kubeconfig: `pulumi stack output kubeconfig --show-secrets`) and pass --airflow-url http://127.0.0.1:8080; "
        "restart the port-forward against the recreated cluster once the recreate is done (the wait for Airflow "
        "healthy keeps polling until it answers)"
    )


def snapshot_identifier(stack: str, run_id: str) -> str:
    """A valid RDS snapshot identifier: letters, digits, single hyphens, starting with a letter."""
    cleaned = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", f"dr-{stack}-{run_id}".lower())).strip("-")
    return cleaned[:255]


class Rehearsal:
    """One invocation of the command: a fresh run, a resume or a rollback of one stack."""

    def __init__(
        self,
        options: Options,
        stack: PulumiStack,
        aws_for_region: Callable[[str], AwsOps],
        airflow_for_url: Callable[[str], AirflowApi],
        *,
        out: TextIO = sys.stdout,
        ask: Callable[[str], str | None] = lambda prompt: None,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.options = options
        self.stack = stack
        self._aws_for_region = aws_for_region
        self._airflow_for_url = airflow_for_url
        self._aws_ops: AwsOps | None = None
        self._airflow_apis: dict[tuple[str, str | None], AirflowApi] = {}
        self.out = out
        self.ask = ask
        self.now = now
        self.sleep = sleep
        self.store = StateStore(options.state_dir)
        self.state: RehearsalState | None = None
        self._phase_started: datetime | None = None
        self._failed_phase: str | None = None
        self._persist = True
        """False while a fresh run is in its preflight: a refused run leaves no state file."""

    # -- entry point -------------------------------------------------------------------------

    def execute(self) -> int:
        """0: every check passed (or rolled back); 1: a phase or a check failed; 2: refused."""
        try:
            self._check_own_files()
            self._check_pulumi()
            if self.options.mode == "rollback":
                return self._rollback()
            return self._run()
        except Refused as exc:
            self._say(f"refused: {exc}")
            return 2

    def _check_own_files(self) -> None:
        """The state directory, the state file and the report directory, before anything else."""
        try:
            self.store.check()
        except StateFileError as exc:
            raise Refused(str(exc)) from None
        problem = report.directory_problem(self.options.report_dir)
        if problem:
            raise Refused(problem)

    def _check_pulumi(self) -> None:
        """The Pulumi CLI answers and the stack exists: every mode needs both."""
        try:
            exists = self.stack.exists()
        except PulumiError as exc:
            raise Refused(str(exc)) from None
        if not exists:
            raise Refused(f"stack {self.options.stack} does not exist in the Pulumi backend (see `pulumi stack ls`)")

    def _load(self) -> RehearsalState | None:
        try:
            return self.store.load()
        except StateFileError as exc:
            raise Refused(str(exc)) from None

    def _save(self) -> None:
        if self._persist:
            self.store.save(self.state)

    # -- run and resume ----------------------------------------------------------------------

    def _run(self) -> int:
        existing = self._load()
        fresh = self.options.mode == "run"
        if fresh:
            if existing and _unfinished(existing):
                raise Refused(
                    f"an unfinished rehearsal of {self.options.stack} exists (run {existing.run_id}, "
                    f"stopped in phase {existing.first_unfinished()}); protection may be lifted and DAGs paused. "
                    f"Continue it with `{self._resume_command(existing)}` or undo it with `{self._rollback_command()}`"
                )
            started = self.now()
            self.state = RehearsalState(
                stack=self.options.stack,
                run_id=started.strftime("%Y%m%d-%H%M%S"),
                started_at=iso(started),
                mode="point-in-time" if self.options.point_in_time else "snapshot",
            )
            self._persist = False  # a refused run writes nothing: the state file starts after the preflight
        else:
            if existing is None or existing.status not in UNFINISHED:
                raise Refused(f"there is no unfinished rehearsal of {self.options.stack} to resume ({self.store.path})")
            self.state = existing
            self.state.status = RUNNING
            self.state.failure = {}
            # preflight always runs again: credentials and confirmation are per invocation
            self.state.phases["preflight"].status = PENDING
            self._persist = True
        state = self.state
        self._save()
        self._say(f"DR rehearsal of stack {state.stack} (run {state.run_id}); state: {self.store.path}")
        try:
            for name in PHASES:
                self._run_phase(name)
                if name == "preflight" and not self._persist:
                    if existing:
                        self.store.archive(existing)
                    self._persist = True
                    self._save()
        except Refused:
            if not fresh:
                state.status = FAILED
                self._save()
            raise
        except PhaseError as exc:
            if not self._persist and existing:
                self.store.archive(existing)
            self._persist = True
            return self._fail(exc)
        failed = [c for c in state.checks if not c.passed]
        state.status = "checks_failed" if failed else "succeeded"
        self._save()
        md, js = report.write(state, self.options.report_dir, self._next_steps())
        figures = report.summary(state)["recovery"]
        self._say("")
        if failed:
            self._say(f"FAILED: the stack is recovered but {len(failed)} check(s) failed:")
            for check in failed:
                self._say(f"  - {check.name}: {check.detail}")
        else:
            self._say(f"PASSED: {len(state.checks)} checks; restore time {report.duration(figures['restore_seconds'])}, "
                      f"outage {report.duration(figures['outage_seconds'])}")
        self._say(f"Report: {md} and {js}")
        for step in self._next_steps():
            self._say(f"  - {step}")
        return 1 if failed else 0

    def _run_phase(self, name: str) -> None:
        state = self.state
        record = state.phases[name]
        index = PHASES.index(name) + 1
        title = report.TITLES[name]
        if record.status in (DONE, SKIPPED):
            self._say(f"[{index}/{len(PHASES)}] {title}: {record.status} in an earlier attempt")
            return
        started = self.now()
        self._phase_started = started
        record.begin(iso(started))
        self._save()
        self._say(f"[{index}/{len(PHASES)}] {title} ...")

        def stop(status: str, error: str | None) -> float:
            ended = self.now()
            seconds = (ended - started).total_seconds()
            record.end(status, iso(ended), seconds, error)
            self._save()
            return seconds

        try:
            outcome = getattr(self, f"_phase_{name}")()
        except Refused:
            record.history.pop()
            record.attempts -= 1
            record.status, record.error = (FAILED, "refused") if record.history else (PENDING, None)
            raise
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM; a Pulumi command was cancelled gracefully
            self._failed_phase = name
            what = str(exc) if isinstance(exc, PulumiInterrupted) else "interrupted by the operator"
            seconds = stop(INTERRUPTED, what)
            raise PhaseError(f"{what} (Ctrl-C) after {report.duration(seconds)}") from None
        except Exception as exc:  # every failure becomes a recorded, explained stop
            self._failed_phase = name
            error = clip(str(exc) if isinstance(exc, PhaseError) else f"{type(exc).__name__}: {exc}")
            stop(FAILED, error)
            raise PhaseError(error) from exc
        status, detail = outcome if isinstance(outcome, tuple) else (DONE, outcome or "")
        record.detail = detail
        seconds = stop(status, None)
        self._say(f"[{index}/{len(PHASES)}] {title}: {status} in {report.duration(seconds)}{' - ' + detail if detail else ''}")

    def _fail(self, exc: PhaseError) -> int:
        state = self.state
        phase = self._failed_phase or next(name for name in PHASES if state.phases[name].status in (FAILED, INTERRUPTED))
        state.status = INTERRUPTED if state.phases[phase].status == INTERRUPTED else FAILED
        state.failure = {"phase": phase, "error": str(exc), "at": iso(self.now())}
        self._save()
        steps = self._next_steps()
        md, js = report.write(state, self.options.report_dir, steps)
        self._say("")
        self._say(f"{'INTERRUPTED' if state.status == INTERRUPTED else 'FAILED'} in phase {report.TITLES[phase]}: {exc}")
        for step in steps:
            self._say(f"  - {step}")
        self._say(f"State: {self.store.path}")
        self._say(f"Report: {md} and {js}")
        return 1

    def _repair_if_needed(self) -> list[str]:
        """After a Pulumi command was interrupted (or died), make the state usable before going on:
        a stale lock is cancelled, pending creates of resources that exist in AWS are imported (the
        database instance, found by its identifier), the other pending operations cleared."""
        state = self.state
        interrupted = any(state.phases[name].status == INTERRUPTED for name in PULUMI_PHASES)
        pending = self.stack.pending_operations()
        if not interrupted and not pending:
            return []
        imports = {}
        for op in pending:
            identifier = op.inputs.get("identifier") if op.type == RDS_INSTANCE else None
            if op.kind == "creating" and identifier and self._aws().describe_instance(str(identifier)) is not None:
                imports[op.urn] = str(identifier)  # RDS has it: importing avoids "DBInstanceAlreadyExists" on every resume
        self._progress(
            f"repairing the state left by the interrupted Pulumi command: {len(pending)} pending operation(s)"
            + (f", {len(imports)} to import" if imports else "")
        )
        done = self.stack.repair(self._progress, imports)
        for line in done:
            self._progress(f"repaired: {line}")
        state.repairs.extend({"at": iso(self.now()), "action": line} for line in done)
        self._save()
        return done

    # -- rollback ----------------------------------------------------------------------------

    def _rollback(self) -> int:
        existing = self._load()
        if existing is None or existing.status not in UNFINISHED:
            raise Refused(f"there is no unfinished rehearsal of {self.options.stack} to roll back ({self.store.path})")
        self.state = state = existing
        self._persist = True
        state.failure = {}
        self._say(f"Rolling back the DR rehearsal of stack {state.stack} (run {state.run_id})")
        try:
            self._aws().caller_account()
        except (AwsError, PhaseError) as exc:
            raise Refused(str(exc)) from None
        if not state.destroy_started():
            what = "restore the stack's config" + (" and run pulumi up" if _protection_touched(state) else "")
        else:
            self._refuse_in_cluster_url()  # the rollback waits for Airflow healthy: refuse before the recreate
            what = f"recreate the stack from snapshot {state.snapshot.get('id')} and run pulumi up"
        if state.frozen.get("paused"):
            what += f", then un-pause the {len(state.frozen['paused'])} DAG(s) the freeze paused"
        self._confirm(f"Roll back stack {state.stack}: {what}.")
        try:
            self._phase_started = self.now()
            self._repair_if_needed()
            if not state.destroy_started():
                self._restore_config(include_snapshot_key=True)
                if _protection_touched(state):
                    self._say("pulumi up (restoring protection) ...")
                    self._phase_started = self.now()
                    self._protection_up()
                    self._verify_protection_restored()
            else:
                for name in ("recreate", "wait_healthy"):
                    if state.phases[name].status not in (DONE, SKIPPED):
                        state.phases[name].status = PENDING
                    self._run_phase(name)
            if state.frozen.get("paused"):
                self._phase_started = self.now()
                self._say(f"un-pausing the DAGs the freeze paused: {', '.join(state.frozen['paused'])}")
                self._unpause()
        except PhaseError as exc:
            return self._fail(exc)
        except Exception as exc:  # a failed rollback is reported like a failed phase
            state.status = FAILED
            state.failure = {"phase": "rollback", "error": clip(f"{type(exc).__name__}: {exc}"), "at": iso(self.now())}
            self._save()
            self._say(f"FAILED to roll back: {state.failure['error']}")
            self._say(f"  - Retry: {self._rollback_command()}")
            return 1
        state.status = "rolled_back"
        self._save()
        md, js = report.write(state, self.options.report_dir, self._next_steps())
        self._say(f"ROLLED BACK: stack {state.stack} is back to its configuration before the rehearsal.")
        self._say(f"Report: {md} and {js}")
        return 0

    # -- phases ------------------------------------------------------------------------------

    def _phase_preflight(self) -> str:
        state, stack = self.state, self.stack
        state.tier = stack.get_config(TIER)
        if state.tier == "prod" and not self.options.allow_prod:
            raise Refused(
                f"stack {state.stack} is a prod stack (tier = prod): the rehearsal destroys it; "
                "pass --allow-prod to rehearse on prod deliberately"
            )
        state.region = stack.get_config(REGION)
        if not state.region:
            raise PhaseError(f"stack {state.stack} has no {REGION} in its config")
        aws = self._aws()
        state.account = aws.caller_account()
        self._progress(f"AWS credentials work: account {state.account}, region {state.region}")
        if state.phases["canaries_before"].status != PENDING:
            self._refuse_in_cluster_url()  # now, not phases later
            self._confirm(
                f"Resume the DR rehearsal of stack {state.stack} from phase "
                f"{report.TITLES[state.first_unfinished() or 'canaries_after']}."
            )
            repaired = self._repair_if_needed()
            return "resumed: credentials verified" + (f"; state repaired ({len(repaired)} step(s))" if repaired else "")

        outputs = stack.outputs()
        wanted = [DB_OUTPUT, BUCKET_OUTPUT] + ([] if self.options.airflow_url else [AIRFLOW_OUTPUT])
        missing = [key for key in wanted if not outputs.get(key)]
        if missing:
            raise PhaseError(
                f"stack outputs missing: {', '.join(missing)} (expected from the database and Airflow code; "
                "is the stack deployed with them?)"
            )
        state.resources_before = {key: outputs[key] for key in RECORDED_OUTPUTS if outputs.get(key)}
        database = outputs[DB_OUTPUT]
        instance = aws.describe_instance(database)
        if instance is None or instance.status != "available":
            raise PhaseError(
                f"database {database} is {instance.status if instance else 'missing'}: expected available"
            )
        state.original_config = {
            DELETION_PROTECTION: stack.get_config(DELETION_PROTECTION),
            RESTORE_FROM_SNAPSHOT: stack.get_config(RESTORE_FROM_SNAPSHOT),
        }
        self._progress(
            f"database {database}: available, deletion protection {'on' if instance.deletion_protection else 'off'} "
            f"(config {DELETION_PROTECTION.split(':')[1]} = {state.original_config[DELETION_PROTECTION]})"
        )

        resources = stack.resources()
        bucket = outputs[BUCKET_OUTPUT]
        problems = durable_data_problems(resources, stack=state.stack, bucket=bucket)
        if instance.kms_key_id:
            key = next(
                (r for r in resources if r.type == KMS_KEY and instance.kms_key_id in (r.id, r.outputs.get("arn"))), None
            )
            if key is not None and not key.durable:
                problems.append(
                    f"the database's KMS key {instance.kms_key_id} is managed by this stack and neither protected nor "
                    "retained: the destroy would schedule it for deletion and the snapshot encrypted with it could not "
                    "be restored"
                )
        problems += self._quota_problems()
        git_key = outputs.get(GIT_KEY_OUTPUT)
        git_secret = find_secret(resources, git_key) if git_key else None
        if git_key and (git_secret is None or not git_secret.durable):
            problems.append(
                f"the git-sync deploy key secret {git_key} is {how_kept(git_secret)}: the destroy would delete it and the "
                "recreated Airflow could not fetch the DAG repository; it must carry retain_on_delete=True with adoption "
                "on the next up (or protect=True)"
            )
        if problems:
            raise PhaseError("; ".join(problems))
        fernet_name = durable_secret_name(state.stack, FERNET_KEY)
        fernet = find_secret(resources, fernet_name)
        bucket_resource = find_bucket(resources, bucket)
        state.durable = {
            "bucket": {"name": bucket, "kept": how_kept(bucket_resource)},
            "fernet_key": {"name": fernet_name, "arn": fernet.outputs.get("arn") or fernet.id, "kept": how_kept(fernet)},
        }
        if git_secret is not None:
            state.durable["git_ssh_key"] = {
                "name": git_key, "arn": git_secret.outputs.get("arn") or git_secret.id, "kept": how_kept(git_secret),
            }
        state.kept_resources, state.retained_resources = kept_across_destroy(resources)
        self._progress(
            f"kept across the destroy: {len(state.kept_resources)} resources in the state (protected), "
            f"{len(state.retained_resources)} left in AWS and adopted by the next up (retained); "
            f"task log bucket {how_kept(bucket_resource)}, fernet key secret {how_kept(fernet)}"
        )

        api = self._airflow()
        health = api.health()
        runs = api.dag_run_count()  # authenticates: bad credentials fail here, before any change
        self._progress(f"Airflow API at {api.base_url}: {health.summary}; {runs} DAG runs")
        self._confirm(
            f"This DESTROYS stack {state.stack} (tier {state.tier}) in {state.region}, account {state.account}, "
            "and recreates it from a database snapshot taken now."
        )
        return (
            f"account {state.account}; kept across the destroy: {len(state.kept_resources)} protected, "
            f"{len(state.retained_resources)} retained"
        )

    def _quota_problems(self) -> list[str]:
        """The manual snapshot quota must leave room for the snapshots this run adds."""
        needed = SNAPSHOTS_PER_RUN + (1 if self.options.point_in_time else 0)
        quota = self._aws().manual_snapshot_quota()
        if quota is None:
            self._progress("manual snapshot quota: not readable with these credentials (rds:DescribeAccountAttributes); not checked")
            return []
        used, limit = quota
        self._progress(f"manual snapshots: {used} of {limit} used; this run adds {needed}")
        if used + needed <= limit:
            return []
        return [
            f"the account's manual snapshot quota in {self.state.region} is {used} of {limit} used and this run adds "
            f"{needed} (its own snapshot and the destroy's final snapshot"
            + (", and the point-in-time snapshot" if self.options.point_in_time else "")
            + f"): the snapshot or the destroy would fail half-way. Delete old rehearsal snapshots with "
            f"`{self._cleanup_command()}` or raise the quota (Service Quotas, 'Manual DB instance snapshots')"
        ]

    def _phase_canaries_before(self) -> str:
        state = self.state
        aws, api = self._aws(), self._airflow()
        database = state.resources_before[DB_OUTPUT]
        bucket = state.resources_before[BUCKET_OUTPUT]
        instance = aws.describe_instance(database)
        measured = self.now()  # the lag is the distance between these two, read at the same instant
        if instance is None:
            raise PhaseError(f"database {database} disappeared")
        value = f"{state.run_id}-{secrets.token_hex(16)}"
        encrypted = api.put_variable(
            CANARY_VARIABLE, value, "DR rehearsal canary: readable only with the durable fernet key"
        )
        if not encrypted:
            raise PhaseError(
                "Airflow stored the canary Variable unencrypted: no fernet key is configured, so the rehearsal "
                "cannot prove the fernet key survives"
            )
        if api.get_variable(CANARY_VARIABLE) != value:
            raise PhaseError(f"the canary Variable {CANARY_VARIABLE} did not read back as written")
        log_key = f"{CANARY_PREFIX}{state.stack}/{state.run_id}/canary.log"
        body = f"DR rehearsal canary of stack {state.stack}, run {state.run_id}: {value}\n".encode()
        log_sha = aws.put_object(bucket, log_key, body)
        newest = aws.newest_object(
            bucket, skip_prefix=CANARY_PREFIX, on_page=lambda keys: self._progress(f"newest task log: {keys} keys read")
        )
        task = api.latest_finished_task()
        task_log = api.task_log(task) if task else None
        if task_log is not None and task_log.lines == 0:
            raise PhaseError(
                f"the log of {task.dag_id}/{task.dag_run_id}/{task.task_id} try {task.try_number} has no content through "
                f"Airflow before the rehearsal ({'; '.join(task_log.sources) or 'no source'}): remote logging does not "
                "work, so the rehearsal could not tell whether the logs survive"
            )
        state.canaries = {
            "recorded_at": iso(self.now()),
            "latest_restorable_time": iso(instance.latest_restorable_time),
            "pitr_measured_at": iso(measured),
            "variable_key": CANARY_VARIABLE,
            "variable_sha256": sha256(value.encode()),
            "log_object": {"bucket": bucket, "key": log_key, "sha256": log_sha},
            "newest_log": {"key": newest.key, "etag": newest.etag} if newest else None,
            "task_log": {**task.as_dict(), "lines": task_log.lines, "sources": list(task_log.sources)} if task else None,
        }
        return (
            f"canary Variable {CANARY_VARIABLE} (encrypted); s3://{bucket}/{log_key}; "
            f"latest restorable time {state.canaries['latest_restorable_time'] or 'none yet'}"
        )

    def _phase_freeze(self) -> str:
        """Stop new work so the snapshot holds every committed run: pause, wait, record."""
        state, api = self.state, self._airflow()
        dags = api.dags()
        paused = state.frozen.setdefault("paused", [])
        to_pause = [d.dag_id for d in dags if not d.is_paused and not d.is_stale and d.dag_id not in paused]
        paused.extend(to_pause)
        self._save()  # recorded before pausing: an interruption still un-pauses exactly these
        for dag_id in to_pause:
            api.set_paused(dag_id, True)
        self._progress(f"paused {len(to_pause)} DAG(s) ({len(dags) - len(to_pause)} already paused are left as they are)")
        deadline = self.now().timestamp() + self.options.freeze_timeout
        while True:
            total, running = api.unfinished_task_instances()
            if not total:
                break
            names = ", ".join(f"{t['dag_id']}/{t['task_id']} ({t['state']})" for t in running[:5])
            if self.now().timestamp() >= deadline:
                self._progress(f"{total} task instance(s) still unfinished after {int(self.options.freeze_timeout)} s: recorded, going on")
                break
            self._progress(f"waiting for {total} unfinished task instance(s) to finish: {names}{' ...' if total > 5 else ''}")
            self.sleep(self.options.freeze_poll)
        state.frozen.update(
            at=iso(self.now()),
            dag_runs=api.dag_run_count(),
            unfinished_tasks=total,
            unfinished_sample=running[:20] if total else [],
        )
        state.dags = {
            d.dag_id: {"last_parsed_time": d.last_parsed_time, "bundle_name": d.bundle_name, "bundle_version": d.bundle_version}
            for d in dags
            if not d.is_stale
        }
        return (
            f"{len(paused)} DAG(s) paused, {state.frozen['dag_runs']} DAG runs, "
            + (f"{total} task instance(s) still unfinished (recorded)" if total else "no task instance running")
        )

    def _unpause(self) -> list[str]:
        """Un-pause the DAGs the freeze paused (and only those); a DAG gone since is skipped."""
        api = self._airflow()
        present = {d.dag_id for d in api.dags()}
        done = []
        for dag_id in self.state.frozen.get("paused", []):
            if dag_id in present:
                api.set_paused(dag_id, False)
                done.append(dag_id)
        return done

    def _phase_unfreeze(self) -> str | tuple[str, str]:
        paused = self.state.frozen.get("paused", [])
        if not paused:
            return SKIPPED, "the freeze paused no DAG"
        done = self._unpause()
        self.state.frozen["unpaused_at"] = iso(self.now())
        gone = sorted(set(paused) - set(done))
        return f"{len(done)} DAG(s) un-paused" + (f"; gone since the freeze: {', '.join(gone)}" if gone else "")

    def _phase_snapshot(self) -> str:
        state = self.state
        aws = self._aws()
        database = state.resources_before[DB_OUTPUT]
        if state.snapshot.get("id"):
            snapshot_id = state.snapshot["id"]
            if aws.describe_snapshot(snapshot_id) is None:
                raise PhaseError(
                    f"snapshot {snapshot_id}, created by this rehearsal, no longer exists: it was deleted outside this tool"
                )
            self._progress(f"snapshot {snapshot_id} already requested; waiting for it")
        else:
            snapshot_id = snapshot_identifier(state.stack, state.run_id)
            created = aws.create_snapshot(database, snapshot_id, {"dr-rehearsal": state.run_id, "stack": state.stack})
            state.snapshot = {"id": created.identifier, "arn": created.arn, "database": database}
            self.store.save(state)  # recorded before waiting: a resume never creates a second one
            self._progress(f"snapshot {snapshot_id} requested")
        available = aws.wait_snapshot_available(
            snapshot_id,
            timeout=self.options.snapshot_timeout,
            delay=self.options.snapshot_poll,
            on_wait=lambda status: self._progress(f"snapshot {snapshot_id}: {status}"),
        )
        state.snapshot.update(
            status=available.status,
            create_time=iso(available.create_time),
            database_time=iso(available.database_time),
            encrypted=available.encrypted,
            kms_key_id=available.kms_key_id,
        )
        detail = (
            f"{snapshot_id} available (database time {state.snapshot['database_time'] or 'not reported'}, "
            f"created {state.snapshot['create_time']})"
        )
        if state.mode == "point-in-time":
            from stacks.dr.point_in_time import lag_text, take_point_in_time_snapshot

            pitr = take_point_in_time_snapshot(self)
            detail += f"; point-in-time snapshot {pitr} ({lag_text(state.point_in_time)}), restored by the recreate"
        return detail

    def _phase_unprotect(self) -> str | tuple[str, str]:
        state = self.state
        aws = self._aws()
        database = state.resources_before[DB_OUTPUT]
        original = state.original_config.get(DELETION_PROTECTION)
        instance = aws.describe_instance(database)
        resource = self._database_resource(database)
        if not _truthy(original) and not (instance and instance.deletion_protection) and not (resource and resource.protect):
            return SKIPPED, f"already off (database.deletion_protection = {original}): nothing to lift"
        self.stack.set_config(DELETION_PROTECTION, "false")
        self._progress("database.deletion_protection = false; pulumi up targeted at the database instance ...")
        self._protection_up()
        instance = aws.describe_instance(database)
        if instance is None or instance.deletion_protection:
            raise PhaseError(
                f"pulumi up did not turn off deletion protection on {database}: the database code must set "
                "deletion_protection from database.deletion_protection"
            )
        resource = self._database_resource(database)
        if resource is not None and resource.protect:
            raise PhaseError(
                f"pulumi up did not lift Pulumi's protect on {database}: the database code must set the "
                "protect option from database.deletion_protection"
            )
        return "RDS deletion protection and Pulumi protect lifted until the recreate"

    def _protection_up(self) -> None:
        """A ``pulumi up`` of the database instance only: its deletion protection and ``protect``
        follow the config, and no other pending change of the program rolls out mid-rehearsal."""
        database = self.state.resources_before.get(DB_OUTPUT)
        resource = self._database_resource(database) if database else None
        self.stack.up(self._progress, targets=[resource.urn] if resource else None)

    def _phase_destroy(self) -> str:
        state = self.state
        aws = self._aws()
        database = state.resources_before[DB_OUTPUT]
        self._progress("pulumi destroy --exclude-protected ...")
        self.stack.destroy(self._progress)
        instance = aws.describe_instance(database)
        if instance is not None:
            raise PhaseError(f"database {database} still exists ({instance.status}) after the destroy")
        snapshot = aws.describe_snapshot(state.snapshot["id"])
        if snapshot is None or snapshot.status != "available":
            raise PhaseError(f"snapshot {state.snapshot['id']} is {snapshot.status if snapshot else 'missing'} after the destroy")
        final = state.resources_before.get(FINAL_SNAPSHOT_OUTPUT)
        if final:
            written = aws.describe_snapshot(final)
            self._progress(f"final snapshot {final} written by the destroy: {written.status if written else 'not found'}")
            if written is not None:
                state.snapshot["final_snapshot"] = final
                self.store.save(state)
        kept = self._check_durable_data_kept(snapshot.identifier)
        left = [r for r in self.stack.resources() if r.type != "pulumi:pulumi:Stack" and not r.type.startswith("pulumi:providers:")]
        return f"destroyed; {len(left)} protected resources kept in the state; {kept}; snapshot {snapshot.identifier} intact"

    def _check_durable_data_kept(self, snapshot_id: str) -> str:
        """Prove the destroy left the log bucket and the fernet key secret in AWS, before recreating."""
        state, aws = self.state, self._aws()
        bucket = state.durable.get("bucket") or {"name": state.resources_before[BUCKET_OUTPUT], "kept": "durable"}
        if not aws.bucket_exists(bucket["name"]):
            raise PhaseError(
                f"the task log bucket {bucket['name']} no longer exists in AWS after the destroy (it was {bucket['kept']} "
                f"before): the old task logs are lost; find out what deleted it before going on. Snapshot {snapshot_id} is intact"
            )
        fernet = self._fernet_record()
        found = aws.describe_secret(fernet["arn"] or fernet["name"])
        if found is None:
            raise PhaseError(
                f"the fernet key secret {fernet['name']} no longer exists in AWS after the destroy (it was {fernet['kept']} "
                "before): the recreate would generate a new key and the restored Variables and connections could not be "
                f"decrypted. Snapshot {snapshot_id} is intact"
            )
        if found.deleted_date is not None:
            raise PhaseError(
                f"the fernet key secret {fernet['name']} is scheduled for deletion ({iso(found.deleted_date)}): the recreate "
                f"could not adopt it. Restore it (aws secretsmanager restore-secret --secret-id {fernet['name']} --region "
                f"{state.region}) and resume. Snapshot {snapshot_id} is intact"
            )
        git_key = state.durable.get("git_ssh_key")
        if git_key:
            found = aws.describe_secret(git_key["arn"] or git_key["name"])
            if found is None or found.deleted_date is not None:
                raise PhaseError(
                    f"the git-sync deploy key secret {git_key['name']} is {'gone' if found is None else 'scheduled for deletion'} "
                    f"after the destroy (it was {git_key['kept']} before): the recreated Airflow could not fetch the DAG "
                    f"repository. {'Restore it (aws secretsmanager restore-secret --secret-id ' + git_key['name'] + ') and resume. ' if found else ''}"
                    f"Snapshot {snapshot_id} is intact"
                )
            return f"bucket {bucket['name']}, fernet key secret {fernet['name']} and git-sync key secret {git_key['name']} still in AWS"
        return f"bucket {bucket['name']} and fernet key secret {fernet['name']} still in AWS"

    def _phase_recreate(self) -> str:
        state = self.state
        snapshot_id = state.snapshot["id"]
        if state.mode == "point-in-time" and state.point_in_time.get("snapshot_available"):
            snapshot_id = state.point_in_time["snapshot"]
        self.stack.set_config(RESTORE_FROM_SNAPSHOT, snapshot_id)
        self._restore_config(include_snapshot_key=False)
        self._progress(f"database.restore_from_snapshot = {snapshot_id}; protection back to its value; pulumi up ...")
        self.stack.up(self._progress)
        # Ignored once the instance exists: set back so the stack file reads as before the rehearsal.
        self._set_or_remove(RESTORE_FROM_SNAPSHOT, state.original_config.get(RESTORE_FROM_SNAPSHOT))
        outputs = self.stack.outputs()
        state.resources_after = {key: outputs[key] for key in RECORDED_OUTPUTS if outputs.get(key)}
        database = state.resources_after.get(DB_OUTPUT)
        if not database:
            raise PhaseError(f"the recreated stack has no {DB_OUTPUT} output")
        instance = self._aws().describe_instance(database)
        if instance is None:
            raise PhaseError(f"the recreated database {database} does not exist")
        self._point_dns()
        return f"database {database} restored from {snapshot_id} ({instance.status})"

    def _point_dns(self) -> None:
        """The UI hostname's record is outside the stack: say where it must point now, or move it."""
        state = self.state
        url = state.resources_after.get(AIRFLOW_OUTPUT) or ""
        host = urlsplit(url).hostname or ""
        old, new = state.resources_before.get(LB_OUTPUT), state.resources_after.get(LB_OUTPUT)
        if not new or not host or host == new:
            return
        state.dns = {"hostname": host, "old_load_balancer": old, "load_balancer": new, "zone_id": self.options.dns_zone_id}
        if self.options.dns_zone_id:
            change = self._aws().upsert_cname(self.options.dns_zone_id, host, new)
            state.dns["change_id"] = change
            self._progress(f"DNS: {host} CNAME {new} in hosted zone {self.options.dns_zone_id} (change {change})")
        else:
            self._progress(
                f"DNS: the recreated UI load balancer is {new}"
                + (f" (was {old})" if old else "")
                + f"; point {host} at it (CNAME or alias record) — until then {host} reaches the deleted one. "
                "The wait below reaches the new load balancer directly"
            )
        self._save()

    def _phase_wait_healthy(self) -> str:
        api = self._airflow()
        if api.connect_host:
            self._progress(f"polling {api.base_url} through the new load balancer {api.connect_host} (the DNS record may still be old)")
        if self.options.airflow_url:
            self._progress(
                f"polling {self.options.airflow_url} (--airflow-url): if it is a kubectl port-forward, restart it now "
                "against the recreated cluster (the old one is gone)"
            )
        deadline = self.now().timestamp() + self.options.health_timeout
        last = "no answer yet"
        while True:
            try:
                health = api.health()
                if health.healthy:
                    waiting = self._dags_not_parsed_yet(api)
                    if not waiting:
                        return f"healthy: {health.summary}" + (f"; DAG checkout parsed again ({len(self.state.dags)} DAGs)" if self.state.dags else "")
                    last = f"{health.summary}; {len(waiting)} DAG(s) not parsed since the recreate yet: {', '.join(waiting[:5])}"
                else:
                    last = health.summary
            except AirflowApiError as exc:
                last = str(exc)
            self._progress(f"Airflow not healthy yet: {last}")
            if self.now().timestamp() >= deadline:
                raise PhaseError(
                    f"Airflow not healthy after {int(self.options.health_timeout)} s; last: {last}"
                    + (
                        " (DAGs not parsed again: the recreated Airflow does not read the DAG checkout; check git-sync "
                        "and its SSH key secret)"
                        if "not parsed since the recreate" in last
                        else ""
                    )
                )
            self.sleep(self.options.health_interval)

    def _phase_canaries_after(self) -> str:
        state = self.state
        aws, api = self._aws(), self._airflow()
        canaries = state.canaries
        database = state.resources_after.get(DB_OUTPUT) or state.resources_before[DB_OUTPUT]
        phase = "canaries_after"
        original = _truthy(state.original_config.get(DELETION_PROTECTION))

        def check(name: str, fn: Callable[[], tuple[bool, str]]) -> None:
            try:
                passed, detail = fn()
            except Exception as exc:  # one broken check must not hide the others
                passed, detail = False, f"{type(exc).__name__}: {exc}"[:500]
            state.record_check(phase, name, passed, detail)
            self._progress(f"{'pass' if passed else 'FAIL'}: {name}: {detail}")

        def database_restored():
            instance = aws.describe_instance(database)
            return (instance is not None and instance.status == "available",
                    f"{database} {instance.status if instance else 'missing'}")

        def protection_restored():
            instance = aws.describe_instance(database)
            resource = self._database_resource(database)
            config = self.stack.get_config(DELETION_PROTECTION)
            flag = bool(instance and instance.deletion_protection)
            protect = bool(resource and resource.protect)
            ok = flag == original and config == state.original_config.get(DELETION_PROTECTION) and (resource is None or protect == original)
            return ok, f"RDS flag {flag}, Pulumi protect {protect}, config {config}; expected {original}"

        def backups_running():
            instance = aws.describe_instance(database)
            lrt = instance.latest_restorable_time if instance else None
            return lrt is not None, f"latest restorable time {iso(lrt) or 'none'}"

        frozen = state.frozen

        def runs_as_at_the_freeze():
            runs = api.dag_run_count()
            at_freeze = frozen.get("dag_runs", canaries.get("dag_runs"))
            if runs < at_freeze:
                return False, f"{runs} DAG runs after, {at_freeze} at the freeze: {at_freeze - runs} run(s) lost"
            return True, f"{runs} DAG runs after, {at_freeze} at the freeze ({frozen.get('at', 'before the snapshot')})"

        def nothing_running_at_the_snapshot():
            total = frozen.get("unfinished_tasks", 0)
            if not total:
                return True, "no task instance was unfinished when the snapshot was taken"
            sample = ", ".join(f"{t['dag_id']}/{t['dag_run_id']}/{t['task_id']}" for t in frozen.get("unfinished_sample", [])[:5])
            return False, (
                f"{total} task instance(s) were unfinished at the snapshot ({sample}): restored, they show their old "
                "state with no pod behind them; clear them so they run again, or rehearse with a longer --freeze-timeout"
            )

        def dag_checkout_served():
            before = state.dags
            if not before:
                return True, "no DAG before the rehearsal"
            waiting = self._dags_not_parsed_yet(api)
            now = {d.dag_id: d for d in api.dags()}
            older = [
                dag_id for dag_id, info in before.items()
                if dag_id in now and info.get("bundle_version") and now[dag_id].bundle_version
                and now[dag_id].bundle_version != info["bundle_version"]
            ]
            if waiting:
                return False, (
                    f"{len(waiting)} of {len(before)} DAG(s) not parsed since the recreate: {', '.join(waiting[:10])} "
                    "(the recreated Airflow does not read the DAG checkout: check git-sync and its SSH key secret)"
                )
            versions = f"; bundle version changed for {', '.join(older)}" if older else ""
            return True, f"all {len(before)} DAG(s) served before the destroy parsed again from the recreated checkout{versions}"

        def variable_decrypts():
            value = api.get_variable(canaries["variable_key"])
            if value is None:
                return False, f"Variable {canaries['variable_key']} is gone"
            return sha256(value.encode()) == canaries["variable_sha256"], "read back through the API and compared by SHA-256"

        def canary_log_intact():
            obj = canaries["log_object"]
            found = aws.object_sha256(obj["bucket"], obj["key"])
            return found == obj["sha256"], f"s3://{obj['bucket']}/{obj['key']} {'intact' if found == obj['sha256'] else 'missing or changed'}"

        def newest_log_present():
            newest = canaries.get("newest_log")
            if not newest:
                return True, "no task log in the bucket before the rehearsal (fresh stack)"
            found = aws.head_object(canaries["log_object"]["bucket"], newest["key"])
            return found is not None and found.etag == newest["etag"], f"{newest['key']} {'unchanged' if found else 'missing'}"

        def task_log_readable():
            task = canaries.get("task_log")
            if not task:
                return True, "no finished task instance before the rehearsal (fresh stack)"
            ref = TaskLogRef(**{k: task[k] for k in ("dag_id", "dag_run_id", "task_id", "try_number", "map_index")})
            log = api.task_log(ref)
            before = task.get("lines")
            detail = (
                f"{ref.dag_id}/{ref.dag_run_id}/{ref.task_id} try {ref.try_number}: {log.lines} content lines through "
                f"Airflow{f', {before} before' if before is not None else ''}"
            )
            if log.lines == 0:
                return False, f"{detail}; sources: {'; '.join(log.sources) or 'none'}"
            return before is None or log.lines >= before, detail

        def snapshot_kept():
            snapshot = aws.describe_snapshot(state.snapshot["id"])
            return snapshot is not None, f"{state.snapshot['id']} {snapshot.status if snapshot else 'missing'}"

        cached: dict[str, list[StackResource]] = {}

        def resources() -> list[StackResource]:
            if "state" not in cached:
                cached["state"] = self.stack.resources()
            return cached["state"]

        def bucket_adopted():
            bucket = canaries["log_object"]["bucket"]
            found = find_bucket(resources(), bucket)
            return found is not None and found.durable, f"{bucket}: {how_kept(found)}"

        def fernet_key_adopted():
            fernet = self._fernet_record()
            secret = find_secret(resources(), fernet["name"])
            if secret is None:
                return False, f"{fernet['name']} is not in the state"
            arn = secret.outputs.get("arn") or secret.id
            version = find_secret_version(resources(), secret)
            if fernet["arn"] and arn != fernet["arn"]:
                return False, f"{fernet['name']} is a new secret (ARN {arn}, was {fernet['arn']}): not the one kept"
            if version is None:
                return False, f"{fernet['name']}: the same secret, but its version is not in the state"
            ok = secret.durable and version.durable
            same = "the same secret (ARN unchanged)" if fernet["arn"] else "in the state"
            return ok, f"{fernet['name']}: {same}, {how_kept(secret)}; its version {how_kept(version)}"

        check("database restored and available", database_restored)
        check("deletion protection and protect as before", protection_restored)
        check("point-in-time backups running", backups_running)
        check("DAG run count as at the freeze", runs_as_at_the_freeze)
        check("no task unfinished at the snapshot", nothing_running_at_the_snapshot)
        check("canary Variable decrypts (fernet key survived)", variable_decrypts)
        check("canary task log object intact", canary_log_intact)
        check("newest task log still in the bucket", newest_log_present)
        check("old task log readable through Airflow", task_log_readable)
        check("snapshot kept", snapshot_kept)
        check("task log bucket adopted back into the state", bucket_adopted)
        check("fernet key secret adopted back into the state", fernet_key_adopted)
        check("DAG checkout served again (git-sync)", dag_checkout_served)
        failed = [c for c in state.checks if c.phase == phase and not c.passed]
        return f"{len([c for c in state.checks if c.phase == phase]) - len(failed)} passed, {len(failed)} failed"

    # -- helpers -----------------------------------------------------------------------------

    def _aws(self) -> AwsOps:
        if self._aws_ops is None:
            region = self.state.region or self.stack.get_config(REGION)
            if not region:
                raise PhaseError(f"stack {self.options.stack} has no {REGION} in its config")
            self.state.region = region
            self._aws_ops = self._aws_for_region(region)
        return self._aws_ops

    def _stack_airflow_url(self) -> str | None:
        state = self.state
        return state.resources_after.get(AIRFLOW_OUTPUT) or state.resources_before.get(AIRFLOW_OUTPUT)

    def _refuse_in_cluster_url(self) -> None:
        """Refuse a stack URL that only resolves inside the cluster, unless --airflow-url replaces it."""
        url = self._stack_airflow_url()
        instruction = port_forward_instruction(url) if url and not self.options.airflow_url else None
        if instruction:
            raise Refused(instruction)

    def _airflow(self) -> AirflowApi:
        """The Airflow API: --airflow-url, or the stack's URL; after a recreate whose UI hostname must
        move to a new load balancer, reached through that load balancer (see ``AirflowApi.connect_host``)."""
        url = self.options.airflow_url or self._stack_airflow_url()
        if not url:
            raise PhaseError(f"no Airflow URL: the stack has no {AIRFLOW_OUTPUT} output; pass --airflow-url")
        self._refuse_in_cluster_url()
        lb = None if self.options.airflow_url else self.state.dns.get("load_balancer")
        if (url, lb) not in self._airflow_apis:
            self._airflow_apis[(url, lb)] = self._airflow_for_url(url, connect_host=lb) if lb else self._airflow_for_url(url)
        return self._airflow_apis[(url, lb)]

    def _dags_not_parsed_yet(self, api: AirflowApi) -> list[str]:
        """DAGs served before the destroy that the recreated DAG processor has not parsed yet: the
        DAG files come from the git-sync checkout of the new cluster, so a parse after the recreate
        started proves the checkout (and its deploy key) works."""
        before = self.state.dags
        if not before:
            return []
        since = parse_iso(self.state.phases["recreate"].started_at)
        now = {d.dag_id: d for d in api.dags()}
        waiting = []
        for dag_id in sorted(before):
            found = now.get(dag_id)
            parsed = parse_iso(found.last_parsed_time) if found and found.last_parsed_time else None
            if parsed is None or (since and parsed < since):
                waiting.append(dag_id)
        return waiting

    def _fernet_record(self) -> dict[str, str | None]:
        """The fernet key secret as recorded by the preflight (name and ARN); by name alone for a
        state file written before the preflight recorded it."""
        return self.state.durable.get("fernet_key") or {
            "name": durable_secret_name(self.state.stack, FERNET_KEY),
            "arn": None,
            "kept": "durable",
        }

    def _database_resource(self, database: str) -> StackResource | None:
        return next(
            (r for r in self.stack.resources() if r.type == RDS_INSTANCE and database in (r.id, r.outputs.get("identifier"))),
            None,
        )

    def _set_or_remove(self, key: str, value: str | None) -> None:
        """Make ``key`` read ``value`` (None: unset), touching the stack file only if it differs."""
        current = self.stack.get_config(key)
        if current == value:
            return
        if value is None:
            self.stack.remove_config(key)
        else:
            self.stack.set_config(key, value)

    def _restore_config(self, *, include_snapshot_key: bool) -> None:
        original = self.state.original_config
        if DELETION_PROTECTION in original:
            self._set_or_remove(DELETION_PROTECTION, original[DELETION_PROTECTION])
        if include_snapshot_key and RESTORE_FROM_SNAPSHOT in original:
            self._set_or_remove(RESTORE_FROM_SNAPSHOT, original[RESTORE_FROM_SNAPSHOT])

    def _verify_protection_restored(self) -> None:
        database = self.state.resources_before.get(DB_OUTPUT)
        if not database:
            return
        expected = _truthy(self.state.original_config.get(DELETION_PROTECTION))
        instance = self._aws().describe_instance(database)
        if instance is not None and instance.deletion_protection != expected:
            raise PhaseError(f"deletion protection of {database} is {instance.deletion_protection} after the rollback, expected {expected}")

    def _confirm(self, message: str) -> None:
        if self.options.yes:
            return
        answer = self.ask(f"{message}\nType the stack name ({self.options.stack}) to continue: ")
        if answer is None:
            raise Refused("confirmation needed and there is no terminal to ask on: pass --yes to run unattended")
        if answer.strip() != self.options.stack:
            raise Refused("not confirmed")

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _progress(self, text: str) -> None:
        started = self._phase_started or self.now()
        elapsed = report.duration((self.now() - started).total_seconds())
        for line in str(text).rstrip("\n").splitlines() or [""]:
            self._say(f"    +{elapsed}  {line}")

    def _resume_command(self, state: RehearsalState | None = None) -> str:
        state = state or self.state
        allow = " --allow-prod" if state and state.tier == "prod" else ""
        return f"python -m stacks dr-rehearsal {self.options.stack} --resume{allow}"

    def _rollback_command(self) -> str:
        return f"python -m stacks dr-rehearsal {self.options.stack} --rollback"

    def _cleanup_command(self) -> str:
        return f"python -m stacks dr-rehearsal {self.options.stack} --cleanup"

    def _next_steps(self) -> list[str]:
        state = self.state
        stack = state.stack
        snapshot_id = state.snapshot.get("id")
        steps: list[str] = []
        final = state.snapshot.get("final_snapshot")
        final_step = (
            f"The destroy also wrote the database's final snapshot {final} (skip_final_snapshot is off); it is kept too. "
            "With the freeze it holds the same runs as the rehearsal's snapshot"
        )
        database = state.resources_before.get(DB_OUTPUT)
        leftovers = (
            f"Each run leaves manual snapshots (billed, and counted against the quota of manual snapshots per region) and "
            f"the retained automated backups of every deleted instance of {database} (billed until their retention ends): "
            f"`{self._cleanup_command()}` lists them and, once confirmed, deletes all but the newest"
        )
        paused = state.frozen.get("paused") or []
        if paused and state.phases["unfreeze"].status not in (DONE, SKIPPED) and state.status != "rolled_back":
            steps.append(
                f"{len(paused)} DAG(s) are PAUSED by the freeze ({', '.join(paused[:10])}{' ...' if len(paused) > 10 else ''}): "
                "--resume or --rollback un-pauses exactly these"
            )
        if state.status in ("succeeded", "checks_failed", "rolled_back"):
            if snapshot_id:
                steps.append(f"Snapshot {snapshot_id} is kept (the rehearsal never deletes a snapshot).")
            return steps + ([final_step] if final else []) + [leftovers]
        original = state.original_config.get(DELETION_PROTECTION)
        by_hand_protection = (
            f"pulumi config rm --path {DELETION_PROTECTION} --stack {stack}"
            if original is None
            else f"pulumi config set --path {DELETION_PROTECTION} {original} --stack {stack}"
        )
        if snapshot_id:
            steps.append(f"Snapshot {snapshot_id} is kept: this tool never deletes a snapshot.")
        if not state.destroy_started():
            steps.append(f"Resume from the failed phase: {self._resume_command()}")
            if _protection_touched(state):
                steps.append(
                    f"Deletion protection is LIFTED in Pulumi.{stack}.yaml (database.deletion_protection = false). "
                    f"Roll back (restore the config and pulumi up): {self._rollback_command()} "
                    f"(by hand: {by_hand_protection} && pulumi up --stack {stack})"
                )
            else:
                steps.append(f"Nothing on the stack was changed. To abandon this run: {self._rollback_command()}")
        else:
            steps.append(
                f"The stack is destroyed or partly destroyed; its database is in snapshot {snapshot_id}. "
                f"Resume (recreate from the snapshot and finish the checks): {self._resume_command()}"
            )
            steps.append(
                f"Or roll back (recreate from the snapshot without the checks): {self._rollback_command()} "
                f"(by hand: pulumi config set --path {RESTORE_FROM_SNAPSHOT} {snapshot_id} --stack {stack} && "
                f"{by_hand_protection} && pulumi up --stack {stack})"
            )
        return steps + ([final_step] if final else []) + [leftovers]


def _protection_touched(state: RehearsalState) -> bool:
    """Whether the run set database.deletion_protection to false (the lift phase ran, not skipped)."""
    return state.phases["unprotect"].status in (RUNNING, DONE, FAILED)


def _unfinished(state: RehearsalState) -> bool:
    """A previous run that may have changed the stack (protection lifted, DAGs paused or more) and did not end."""
    return state.status in UNFINISHED and (
        _protection_touched(state) or state.destroy_started() or bool(state.frozen.get("paused"))
    )

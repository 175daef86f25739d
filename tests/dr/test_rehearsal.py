"""The rehearsal's orchestration against a recording fake stack, moto (RDS, S3) and a fake Airflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.dr.aws_ops import AwsError
from stacks.dr.pulumi_ops import DELETION_PROTECTION, RESTORE_FROM_SNAPSHOT
from stacks.dr.state import PHASES

from tests.dr.conftest import make_world
from tests.dr.fakes import InjectedFailure

SNAPSHOT = "dr-dev-20250301-090000"
PROD_SNAPSHOT = "dr-prod-20250301-090000"


def statuses(document) -> dict[str, str]:
    return {name: document["phases"][name]["status"] for name in PHASES}


def test_dev_rehearsal_passes_with_exactly_these_pulumi_calls(world):
    assert world.run() == 0, world.out.getvalue()
    # dev runs without deletion protection: nothing to lift, so the only up is the recreate
    assert world.stack.mutations() == [
        ("destroy",),
        ("set_config", RESTORE_FROM_SNAPSHOT, SNAPSHOT),
        ("up",),
        ("remove_config", RESTORE_FROM_SNAPSHOT),
    ]
    report = world.report()
    assert report["status"] == "succeeded"
    assert statuses(report) == {**{p: "done" for p in PHASES}, "unprotect": "skipped"}
    assert [c["passed"] for c in report["checks"]] == [True] * 13
    # restore time = recreate's pulumi up (1200 s); outage adds the destroy (600 s)
    assert report["recovery"]["restore_seconds"] == 1200
    assert report["recovery"]["outage_seconds"] == 1800
    assert world.snapshots() == [SNAPSHOT]
    assert world.stack.config.get(RESTORE_FROM_SNAPSHOT) is None
    assert world.stack.config[DELETION_PROTECTION] == "false"


def test_prod_rehearsal_lifts_protection_only_for_its_duration(prod_world):
    world = prod_world
    assert world.run(allow_prod=True) == 0
    database_urn = world.stack._urn(world.stack._role("database"))
    assert world.stack.mutations() == [
        ("set_config", DELETION_PROTECTION, "false"),
        ("up", (database_urn,)),  # targeted: no other pending change of the program rolls out mid-rehearsal
        ("destroy",),
        ("set_config", RESTORE_FROM_SNAPSHOT, PROD_SNAPSHOT),
        ("set_config", DELETION_PROTECTION, "true"),
        ("up",),
        ("remove_config", RESTORE_FROM_SNAPSHOT),
    ]
    assert world.instance()["DeletionProtection"] is True
    db = [r for r in world.stack.resources() if r.type == "aws:rds/instance:Instance"]
    assert db[0].protect is True
    assert world.report()["phases"]["unprotect"]["status"] == "done"
    check = next(c for c in world.report()["checks"] if c["name"] == "deletion protection and protect as before")
    assert check["passed"], check


def test_the_snapshot_is_tagged_and_taken_from_the_stack_database(world):
    assert world.run() == 0
    rds = world.session.client("rds")
    snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=SNAPSHOT)["DBSnapshots"][0]
    assert snapshot["DBInstanceIdentifier"] == "batch-platform-dev-airflow"
    tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=snapshot["DBSnapshotArn"])["TagList"]}
    assert tags == {"dr-rehearsal": "20250301-090000", "stack": "dev"}


def test_prod_is_refused_without_allow_prod_and_nothing_happens(prod_world):
    world = prod_world
    assert world.run() == 2
    assert "refused: stack prod is a prod stack" in world.out.getvalue()
    assert "--allow-prod" in world.out.getvalue()
    assert world.stack.mutations() == []
    assert not (world.state_dir / "state.json").exists()
    assert world.snapshots() == []


@pytest.mark.parametrize(
    ("answers", "expected"),
    [([None], "pass --yes to run unattended"), (["prod"], "not confirmed"), (["  "], "not confirmed")],
)
def test_confirmation_is_required_unless_yes(world, answers, expected):
    world.answers[:] = answers
    assert world.run(yes=False) == 2
    assert expected in world.out.getvalue()
    assert world.stack.mutations() == []
    assert world.snapshots() == []


def test_typing_the_stack_name_confirms(world):
    world.answers[:] = ["dev"]
    assert world.run(yes=False) == 0


def test_a_log_bucket_neither_protected_nor_retained_stops_the_preflight(aws_env, clock, airflow, tmp_path):
    world = make_world(aws_env, clock, airflow, tmp_path, durability={"bucket": "none"})
    assert world.run() == 1
    out = world.out.getvalue()
    assert f"the task log bucket {world.stack.bucket} is neither protected nor retained" in out
    assert "the destroy would delete the old task logs" in out
    assert "protect=True" in out and "retain_on_delete=True with adoption on the next up" in out
    assert world.stack.mutations() == []
    assert world.snapshots() == []
    assert world.state()["failure"]["phase"] == "preflight"


@pytest.mark.parametrize(
    ("durability", "what"),
    [
        ({"secret:fernet-key": "none"}, "the Airflow fernet key secret (batch-platform/dev/airflow/fernet-key) is"),
        ({"version:fernet-key": "none"}, "the Airflow fernet key secret version (batch-platform/dev/airflow/fernet-key) is"),
        (
            {"secret:fernet-key": "none", "version:fernet-key": "none"},
            "the Airflow fernet key secret and secret version (batch-platform/dev/airflow/fernet-key) are",
        ),
    ],
)
def test_a_fernet_key_that_is_not_durable_stops_the_preflight(aws_env, clock, airflow, tmp_path, durability, what):
    world = make_world(aws_env, clock, airflow, tmp_path, durability=durability)
    assert world.run() == 1
    out = world.out.getvalue()
    assert f"{what} neither protected nor retained" in out
    assert "the canary Variable check would fail after the recreate" in out
    assert world.stack.mutations() == []
    assert world.snapshots() == []


def test_a_fernet_key_secret_missing_from_the_state_stops_the_preflight(world):
    del world.stack.state["secret:fernet-key"]
    assert world.run() == 1
    assert "the Airflow fernet key secret batch-platform/dev/airflow/fernet-key is not in the stack's state" in world.out.getvalue()
    assert world.stack.mutations() == []


def test_every_durability_problem_is_named_at_once(aws_env, clock, airflow, tmp_path):
    world = make_world(aws_env, clock, airflow, tmp_path, durability={"bucket": "none", "secret:fernet-key": "none"})
    assert world.run() == 1
    error = world.state()["phases"]["preflight"]["error"]
    assert "task log bucket" in error and "fernet key secret" in error


@pytest.mark.parametrize("bucket", ["retain", "protect"])
def test_retained_or_protected_durable_data_passes_and_the_report_tells_them_apart(aws_env, clock, airflow, tmp_path, bucket):
    world = make_world(aws_env, clock, airflow, tmp_path, durability={"bucket": bucket})
    assert world.run() == 0, world.out.getvalue()
    kept = world.report()["kept_across_destroy"]
    label = "aws:s3/bucket:Bucket::dev-task-logs-bucket"
    fernet = "aws:secretsmanager/secret:Secret::dev-airflow-secrets-fernet-key"
    assert (label in kept["protected"], label in kept["retained"]) == (bucket == "protect", bucket == "retain")
    assert fernet in kept["retained"] and "aws:secretsmanager/secretVersion:SecretVersion::dev-airflow-secrets-fernet-key" in kept["retained"]
    assert not any("rds/instance" in item or "ec2/vpc" in item for item in kept["protected"] + kept["retained"])
    assert kept["checked"]["bucket"] == {"name": world.stack.bucket, "kept": "protected" if bucket == "protect" else "retained"}
    markdown = world.markdown()
    protected_part, retained_part = markdown.split("## Kept across the destroy")[1].split("Left in AWS, adopted by the next up (retained")
    assert "Kept in the state (protected" in protected_part
    assert (f"`{label}`" in protected_part, f"`{label}`" in retained_part) == (bucket == "protect", bucket == "retain")
    assert f"`{fernet}`" in retained_part
    # the destroy kept the protected bucket in the state and dropped the retained one
    destroy = world.report()["phases"]["destroy"]["detail"]
    assert destroy.startswith(f"destroyed; {1 if bucket == 'protect' else 0} protected resources kept in the state")


def test_the_stack_stays_as_the_real_program_leaves_it(world):
    # retained resources are back in the state after the recreate, still retained; the database is recreated
    before = {r.urn: (r.protect, r.retain_on_delete) for r in world.stack.resources()}
    assert world.run() == 0
    after = {r.urn: (r.protect, r.retain_on_delete) for r in world.stack.resources()}
    assert after == before


def test_a_bucket_deleted_by_the_destroy_stops_before_the_recreate(world):
    world.stack.after_destroy_hooks.append(lambda stack: stack.delete_bucket())
    assert world.run() == 1
    state, out = world.state(), world.out.getvalue()
    assert state["failure"]["phase"] == "destroy" and state["status"] == "failed"
    assert f"the task log bucket {world.stack.bucket} no longer exists in AWS after the destroy (it was retained before)" in out
    assert "the old task logs are lost" in out
    assert f"Snapshot {SNAPSHOT} is intact" in out
    assert statuses(state)["recreate"] == "pending"
    assert world.stack.mutations() == [("destroy",)]  # no recreate on top of lost logs
    assert world.snapshots() == [SNAPSHOT]
    assert "python -m stacks dr-rehearsal dev --resume" in out and "python -m stacks dr-rehearsal dev --rollback" in out

    # the way back: recreate from the snapshot (a new, empty bucket)
    world.stack.calls.clear()
    assert world.run("rollback") == 0
    assert world.stack.mutations() == [("set_config", RESTORE_FROM_SNAPSHOT, SNAPSHOT), ("up",), ("remove_config", RESTORE_FROM_SNAPSHOT)]
    assert world.instance() is not None and world.snapshots() == [SNAPSHOT]


def test_a_fernet_key_secret_scheduled_for_deletion_stops_and_resume_goes_on_once_restored(world):
    name = "batch-platform/dev/airflow/fernet-key"
    sm = world.session.client("secretsmanager")
    world.stack.after_destroy_hooks.append(lambda stack: sm.delete_secret(SecretId=name, RecoveryWindowInDays=7))
    assert world.run() == 1
    out = world.out.getvalue()
    assert f"the fernet key secret {name} is scheduled for deletion" in out
    assert f"aws secretsmanager restore-secret --secret-id {name} --region eu-west-1" in out
    assert world.state()["failure"]["phase"] == "destroy"

    world.stack.after_destroy_hooks.clear()
    sm.restore_secret(SecretId=name)
    assert world.run("resume") == 0, world.out.getvalue()
    assert all(c["passed"] for c in world.report()["checks"])


def test_a_fernet_key_secret_deleted_by_the_destroy_stops_before_the_recreate(world):
    name = "batch-platform/dev/airflow/fernet-key"
    world.stack.after_destroy_hooks.append(
        lambda stack: stack.secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    )
    assert world.run() == 1
    assert f"the fernet key secret {name} no longer exists in AWS after the destroy (it was retained before)" in world.out.getvalue()
    assert world.stack.mutations() == [("destroy",)]
    assert world.snapshots() == [SNAPSHOT]


def test_adoption_is_verified_after_the_recreate(world):
    assert world.run() == 0
    checks = {c["name"]: c for c in world.report()["checks"]}
    bucket = checks["task log bucket adopted back into the state"]
    fernet = checks["fernet key secret adopted back into the state"]
    assert bucket["passed"] and bucket["detail"] == f"{world.stack.bucket}: retained"
    assert fernet["passed"]
    assert fernet["detail"] == "batch-platform/dev/airflow/fernet-key: the same secret (ARN unchanged), retained; its version retained"


def _forget(role):
    def hook(stack):
        del stack.state[role]

    return hook


@pytest.mark.parametrize(
    ("hook", "check", "detail"),
    [
        (_forget("bucket"), "task log bucket adopted back into the state", "not in the state"),
        (_forget("secret:fernet-key"), "fernet key secret adopted back into the state", "is not in the state"),
        (_forget("version:fernet-key"), "fernet key secret adopted back into the state", "its version is not in the state"),
        (lambda stack: stack.replace_secret("fernet-key"), "fernet key secret adopted back into the state", "is a new secret"),
    ],
)
def test_a_recreate_that_did_not_adopt_fails_the_adoption_check(world, hook, check, detail):
    world.stack.after_up_hooks.append(hook)
    assert world.run() == 1
    failed = [c for c in world.report()["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == [check]
    assert detail in failed[0]["detail"]


@pytest.mark.parametrize(("key", "refused"), [("none", True), ("retain", False), ("protect", False)])
def test_a_stack_owned_database_key_must_be_durable(aws_env, clock, airflow, tmp_path, key, refused):
    world = make_world(aws_env, clock, airflow, tmp_path, database_key=key)
    code = world.run()
    if refused:
        assert code == 1
        assert "is managed by this stack and neither protected nor retained" in world.out.getvalue()
        assert world.stack.mutations() == []
    else:
        assert code == 0, world.out.getvalue()


def test_an_in_cluster_airflow_url_is_refused_with_the_port_forward_to_use(world):
    world.stack.airflow_url = "http://airflow-api-server.airflow.svc.cluster.local:8080"
    assert world.run() == 2
    out = world.out.getvalue()
    assert "refused: the stack's airflow_url http://airflow-api-server.airflow.svc.cluster.local:8080 is an in-cluster address" in out
    assert "kubectl port-forward -n airflow svc/airflow-api-server 8080:8080" in out
    assert "--airflow-url http://127.0.0.1:8080" in out
    assert world.stack.mutations() == []
    assert not (world.state_dir / "state.json").exists()


def test_an_in_cluster_airflow_url_with_an_override_runs_and_is_reminded_to_restart_the_port_forward(world):
    world.stack.airflow_url = "http://airflow-api-server.airflow.svc.cluster.local:8080"
    assert world.run(airflow_url=world.airflow.url) == 0
    assert "if it is a kubectl port-forward, restart it now against the recreated cluster" in world.out.getvalue()


IN_CLUSTER = "http://airflow-api-server.airflow.svc.cluster.local:8080"


def test_a_resume_without_the_airflow_url_is_refused_before_anything(world):
    world.stack.airflow_url = IN_CLUSTER
    world.stack.fail_next["destroy"] = InjectedFailure("error: destroy interrupted")
    assert world.run(airflow_url=world.airflow.url) == 1
    world.stack.calls.clear()
    assert world.run("resume") == 2
    assert "kubectl port-forward -n airflow svc/airflow-api-server 8080:8080" in world.out.getvalue()
    assert world.stack.mutations() == []
    assert world.state()["failure"] == {} and world.state()["phases"]["destroy"]["status"] == "failed"
    assert world.run("resume", airflow_url=world.airflow.url) == 0


def test_a_rollback_after_the_destroy_without_the_airflow_url_is_refused_before_anything(world):
    world.stack.airflow_url = IN_CLUSTER
    world.stack.fail_next["up"] = InjectedFailure("error: creating RDS DB Instance: InvalidParameterCombination")
    assert world.run(airflow_url=world.airflow.url) == 1
    world.stack.calls.clear()
    assert world.run("rollback") == 2
    assert "--airflow-url http://127.0.0.1:8080" in world.out.getvalue()
    assert world.stack.mutations() == []
    assert world.run("rollback", airflow_url=world.airflow.url) == 0
    assert world.state()["status"] == "rolled_back"


def test_a_state_file_without_the_durable_record_resumes_by_name(world):
    # a run started by a version that did not record the durable data yet
    world.stack.fail_next["destroy"] = InjectedFailure("error: destroy interrupted")
    assert world.run() == 1
    document = world.state()
    del document["durable"], document["retained_resources"]
    (world.state_dir / "state.json").write_text(json.dumps(document))
    assert world.run("resume") == 0, world.out.getvalue()
    fernet = next(c for c in world.report()["checks"] if c["name"] == "fernet key secret adopted back into the state")
    assert fernet["passed"] and fernet["detail"].startswith("batch-platform/dev/airflow/fernet-key: in the state, retained")


def test_the_final_snapshot_of_the_destroy_is_reported_and_kept(world):
    assert world.run() == 0
    final = "batch-platform-dev-airflow-final-00000001"
    assert final in world.all_snapshots()
    assert world.report()["snapshot"]["final_snapshot"] == final
    assert any(final in step for step in world.report()["next_steps"])
    assert any("--cleanup" in step and "retained automated backups" in step for step in world.report()["next_steps"])


def test_bad_airflow_credentials_stop_before_any_change(world):
    from stacks.dr.airflow_api import Credentials

    world.credentials = lambda: Credentials(username="dr-operator", password="an-old-password")
    assert world.run() == 1
    assert "POST /auth/token: HTTP 401" in world.out.getvalue()
    assert "an-old-password" not in world.out.getvalue()
    assert world.stack.mutations() == []


def test_a_lost_fernet_key_fails_the_variable_check(world):
    # the recreate produces an Airflow with a new fernet key: the restored Variables no longer decrypt
    world.stack.after_up_hooks.append(lambda stack: world.airflow.state.lose_fernet_key())
    assert world.run() == 1
    report = world.report()
    assert report["status"] == "checks_failed"
    failed = [c["name"] for c in report["checks"] if not c["passed"]]
    assert failed == ["canary Variable decrypts (fernet key survived)"]
    assert "HTTP 500" in next(c["detail"] for c in report["checks"] if not c["passed"])
    assert "FAIL" in world.markdown()


def test_fewer_dag_runs_after_the_restore_fails_the_run_count_check(world):
    world.stack.after_up_hooks.append(lambda stack: setattr(world.airflow.state, "dag_runs", 41))
    assert world.run() == 1
    failed = [c for c in world.report()["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["DAG run count as at the freeze"]
    assert failed[0]["detail"] == "41 DAG runs after, 42 at the freeze: 1 run(s) lost"


def test_the_run_count_is_taken_at_the_freeze_not_before_it(world):
    # a run finishes while the freeze waits for running tasks: the count to find again includes it
    world.airflow.state.running_polls = 2

    def finish_a_run(seconds, original=world.clock.sleep):
        world.airflow.state.dag_runs += 1
        original(seconds)

    world.clock.sleep = finish_a_run
    assert world.run(freeze_poll=30.0) == 0, world.out.getvalue()
    assert world.state()["frozen"]["dag_runs"] == 44
    check = next(c for c in world.report()["checks"] if c["name"] == "DAG run count as at the freeze")
    assert check["detail"].startswith("44 DAG runs after, 44 at the freeze")
    assert world.out.getvalue().count("waiting for 1 unfinished task instance(s) to finish: payroll_export/run_job (running)") == 2


def test_the_wait_for_health_polls_until_healthy(world):
    world.stack.after_up_hooks.append(lambda stack: setattr(world.airflow.state, "unhealthy_polls", 3))
    assert world.run(health_interval=30.0) == 0
    assert world.report()["phases"]["wait_healthy"]["seconds"] == 90
    assert world.out.getvalue().count("Airflow not healthy yet: metadatabase=healthy scheduler=unhealthy") == 3


def test_unencrypted_variables_stop_the_canaries(world, monkeypatch):
    from stacks.dr.airflow_api import AirflowApi

    monkeypatch.setattr(AirflowApi, "put_variable", lambda self, key, value, description: False)
    assert world.run() == 1
    assert "no fernet key is configured" in world.out.getvalue()
    assert world.stack.mutations() == []


def test_state_and_reports_hold_no_secret(world):
    assert world.run() == 0
    texts = [(world.state_dir / "state.json").read_text()] + [p.read_text() for p in world.report_dir.iterdir()]
    secrets_ = [world.airflow.state.password, "apiVersion: v1"]
    canary = next(iter(world.airflow.state.variables))  # the key is public; its value is not
    assert canary == "dr_rehearsal_canary"
    for text in texts + [world.out.getvalue()]:
        for secret in secrets_:
            assert secret not in text
        assert "20250301-090000-" not in text  # the canary value starts with the run id and a dash


# -- failure injection: every phase ------------------------------------------------------------


def _fail_preflight(world):
    world.stack.fail_next["outputs"] = InjectedFailure("backend unreachable")


def _fail_canaries(world):
    world.airflow.state.fail_next["POST /api/v2/variables"] = 500


def _fail_snapshot(world):
    failures = [AwsError("snapshot dr-dev-20250301-090000 not available after 3600 s")]

    def wrap(ops):
        original = ops.wait_snapshot_available

        def failing_once(*args, **kwargs):
            if failures:
                raise failures.pop()
            return original(*args, **kwargs)

        ops.wait_snapshot_available = failing_once

    world.aws_wrappers.append(wrap)


def _fail_destroy(world):
    world.stack.fail_next["destroy"] = InjectedFailure("error: deleting RDS DB Instance: timeout")


def _fail_recreate(world):
    world.stack.fail_next["up"] = InjectedFailure("error: creating RDS DB Instance: InvalidParameterCombination")


def _fail_wait_healthy(world):
    world.airflow.state.unhealthy_polls = 10_000


FAILURES = {
    "preflight": _fail_preflight,
    "canaries_before": _fail_canaries,
    "snapshot": _fail_snapshot,
    "destroy": _fail_destroy,
    "recreate": _fail_recreate,
    "wait_healthy": _fail_wait_healthy,
}


@pytest.mark.parametrize("phase", list(FAILURES))
def test_a_failure_in_each_phase_leaves_the_state_the_report_describes_and_resume_finishes(world, phase):
    FAILURES[phase](world)
    assert world.run(health_timeout=120.0) == 1

    state, report = world.state(), world.report()
    index = PHASES.index(phase)
    expected = {
        name: ("skipped" if name == "unprotect" else "done") if i < index else "failed" if i == index else "pending"
        for i, name in enumerate(PHASES)
    }
    assert statuses(state) == expected
    assert statuses(report) == expected
    assert state["status"] == report["status"] == "failed"
    assert state["failure"]["phase"] == report["failure"]["phase"] == phase

    # the snapshot, once requested, is never deleted; the report says so and how to go on
    snapshot_taken = index >= PHASES.index("snapshot")
    assert world.snapshots() == ([SNAPSHOT] if snapshot_taken else [])
    out = world.out.getvalue()
    assert "python -m stacks dr-rehearsal dev --resume" in out
    assert any("--resume" in step for step in report["next_steps"])
    if index >= PHASES.index("destroy"):
        assert any("--rollback" in step and SNAPSHOT in step for step in report["next_steps"])
        assert f"pulumi config set --path {RESTORE_FROM_SNAPSHOT} {SNAPSHOT} --stack dev" in out
    markdown = world.markdown()
    assert "| failed |" in markdown and "## Next steps" in markdown

    # fix the cause, resume: the rehearsal finishes from the failed phase with the same snapshot
    world.airflow.state.unhealthy_polls = 0
    world.out.seek(0)
    world.out.truncate()
    assert world.run("resume") == 0, world.out.getvalue()
    assert world.snapshots() == [SNAPSHOT]
    assert world.report()["status"] == "succeeded"
    assert all(c["passed"] for c in world.report()["checks"])
    assert world.stack.config.get(RESTORE_FROM_SNAPSHOT) is None


def test_a_failing_check_in_the_last_phase_is_reported_with_the_stack_recovered(world):
    world.stack.after_up_hooks.append(lambda stack: world.airflow.state.fail_next.update({"GET /api/v2/dags/~/dagRuns": 500}))
    assert world.run() == 1
    report = world.report()
    assert report["status"] == "checks_failed"
    assert report["phases"]["canaries_after"]["status"] == "done"
    failed = [c for c in report["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["DAG run count as at the freeze"]
    assert world.instance() is not None and world.snapshots() == [SNAPSHOT]


def test_prod_failure_after_lifting_protection_says_so_and_rollback_restores_it(prod_world):
    world = prod_world
    world.stack.fail_next["up"] = InjectedFailure("error: update failed")
    assert world.run(allow_prod=True) == 1
    out = world.out.getvalue()
    assert world.state()["failure"]["phase"] == "unprotect"
    assert world.stack.config[DELETION_PROTECTION] == "false"
    assert "Deletion protection is LIFTED in Pulumi.prod.yaml" in out
    assert "python -m stacks dr-rehearsal prod --rollback" in out
    assert f"pulumi config set --path {DELETION_PROTECTION} true --stack prod && pulumi up --stack prod" in out
    assert "python -m stacks dr-rehearsal prod --resume --allow-prod" in out

    world.stack.calls.clear()
    assert world.run("rollback") == 0
    database_urn = world.stack._urn(world.stack._role("database"))
    assert world.stack.mutations() == [("set_config", DELETION_PROTECTION, "true"), ("up", (database_urn,))]
    assert world.instance()["DeletionProtection"] is True
    assert world.state()["status"] == "rolled_back"
    assert world.snapshots() == [PROD_SNAPSHOT]


def test_rollback_after_the_destroy_recreates_from_the_snapshot(prod_world):
    world = prod_world
    world.stack.fail_next["destroy"] = InjectedFailure("error: destroy interrupted")
    # the destroy fails after the instance is gone: the fake deletes nothing when it raises, so delete it here
    assert world.run(allow_prod=True) == 1
    world.stack.lose("database")
    world.stack.deployed = False

    world.stack.calls.clear()
    assert world.run("rollback") == 0
    assert world.stack.mutations() == [
        ("set_config", RESTORE_FROM_SNAPSHOT, PROD_SNAPSHOT),
        ("set_config", DELETION_PROTECTION, "true"),
        ("up",),
        ("remove_config", RESTORE_FROM_SNAPSHOT),
    ]
    instance = world.instance()
    assert instance is not None and instance["DeletionProtection"] is True
    assert world.state()["status"] == "rolled_back"
    assert world.report()["status"] == "rolled_back"


def test_rollback_before_anything_changed_touches_nothing(world):
    _fail_snapshot(world)
    assert world.run() == 1
    assert "Nothing on the stack was changed" in world.out.getvalue()
    world.stack.calls.clear()
    assert world.run("rollback") == 0
    assert world.stack.mutations() == []
    assert world.state()["status"] == "rolled_back"
    assert world.snapshots() == [SNAPSHOT]


def test_ctrl_c_is_recorded_and_explained(world):
    world.stack.fail_next["destroy"] = KeyboardInterrupt()
    assert world.run() == 1
    state = world.state()
    assert state["status"] == "interrupted"
    assert state["phases"]["destroy"]["status"] == "interrupted"
    assert state["phases"]["destroy"]["error"] == "interrupted by the operator"
    assert "INTERRUPTED in phase destroy" in world.out.getvalue()
    assert "python -m stacks dr-rehearsal dev --resume" in world.out.getvalue()
    assert world.run("resume") == 0


def test_an_unfinished_rehearsal_blocks_a_fresh_start(prod_world):
    world = prod_world
    world.stack.fail_next["destroy"] = InjectedFailure("boom")
    assert world.run(allow_prod=True) == 1
    world.stack.calls.clear()
    assert world.run(allow_prod=True) == 2
    assert "an unfinished rehearsal of prod exists" in world.out.getvalue()
    assert world.stack.mutations() == []


def test_a_finished_rehearsal_is_archived_and_a_new_one_starts(world):
    assert world.run() == 0
    world.clock.advance(3600)
    assert world.run() == 0
    assert (world.state_dir / "state-20250301-090000.json").exists()
    assert sorted(world.snapshots()) == [SNAPSHOT, "dr-dev-20250301-103000"]


def test_resume_and_rollback_need_an_unfinished_rehearsal(world):
    assert world.run("resume") == 2
    assert world.run("rollback") == 2
    assert "no unfinished rehearsal" in world.out.getvalue()


def test_the_snapshot_is_never_deleted_by_the_tool():
    package = Path(__file__).resolve().parents[2] / "stacks" / "dr"
    source = "\n".join(p.read_text() for p in package.glob("*.py"))
    assert "create_db_snapshot(" in source  # the scan does read the package
    assert "delete_db_snapshot(" not in source
    assert "delete_db_instance(" not in source


def test_report_json_and_markdown_agree(world):
    assert world.run() == 0
    report, markdown = world.report(), world.markdown()
    assert "# DR rehearsal of stack `dev`: PASSED" in markdown
    assert "Restore time (recreate and wait for Airflow healthy, every attempt; the RTO of a real disaster): **00:20:00**" in markdown
    assert "| 7 | recreate from snapshot | done | 1 |" in markdown and "| 00:20:00 |" in markdown
    assert "## Data-loss window" in markdown
    for check in report["checks"]:
        assert f"| {check['name']} | pass |" in markdown
    window = json.loads(json.dumps(report))["data_loss_window"]
    assert window["snapshot_database_time"] and window["window_start_field"] == "SnapshotDatabaseTime"

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


def test_the_snapshot_is_never_deleted_by_the_rehearsal():
    """Only the clean-up deletes snapshots and backups (listed, confirmed); the point-in-time mode
    deletes only the scratch instance it restored itself."""
    package = Path(__file__).resolve().parents[2] / "stacks" / "dr"
    rehearsal = {p.name: p.read_text() for p in package.glob("*.py") if p.name not in ("cleanup.py", "point_in_time.py")}
    source = "\n".join(rehearsal.values())
    assert "create_db_snapshot(" in source  # the scan does read the package
    assert "delete_db_snapshot(" not in source
    assert "delete_db_instance(" not in source
    assert "delete_db_instance_automated_backup(" not in source


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


# -- issue 14: nothing lost between snapshot and destroy, safe to interrupt, honest figures -------


def test_the_freeze_pauses_the_unpaused_dags_and_the_unfreeze_unpauses_exactly_those(world):
    assert world.run() == 0
    state = world.state()
    assert state["frozen"]["paused"] == ["invoices_daily", "payroll_export"]
    dags = world.airflow.state.dags
    assert {d: v["is_paused"] for d, v in dags.items()} == {"invoices_daily": False, "payroll_export": False, "retired_job": True}
    patches = [(r.path, r.body) for r in world.airflow.state.requests if r.method == "PATCH" and r.path.startswith("/api/v2/dags/")]
    assert patches == [
        ("/api/v2/dags/invoices_daily", {"is_paused": True}),
        ("/api/v2/dags/payroll_export", {"is_paused": True}),
        ("/api/v2/dags/invoices_daily", {"is_paused": False}),
        ("/api/v2/dags/payroll_export", {"is_paused": False}),
    ]
    # the snapshot was taken after the freeze: the window starts after every run the platform wrote
    window = world.report()["data_loss_window"]
    assert window["frozen_before_snapshot"] is True
    assert world.report()["phases"]["unfreeze"]["status"] == "done"


def test_the_dags_stay_paused_after_a_failure_and_the_rollback_unpauses_them(world):
    world.stack.fail_next["destroy"] = InjectedFailure("error: deleting RDS DB Instance: timeout")
    assert world.run() == 1
    assert world.airflow.state.dags["payroll_export"]["is_paused"] is True
    assert "2 DAG(s) are PAUSED by the freeze (invoices_daily, payroll_export)" in world.out.getvalue()
    assert world.run("rollback") == 0
    assert {d: v["is_paused"] for d, v in world.airflow.state.dags.items()} == {"invoices_daily": False, "payroll_export": False, "retired_job": True}


def test_a_pause_alone_blocks_a_fresh_start(world):
    # nothing destroyed and no protection lifted, but the DAGs are paused: not silently abandoned
    world.aws_wrappers.append(lambda ops: setattr(ops, "create_snapshot", lambda *a: (_ for _ in ()).throw(AwsError("SnapshotQuotaExceeded"))))
    assert world.run() == 1
    world.aws_wrappers.clear()
    assert world.run() == 2
    assert "an unfinished rehearsal of dev exists" in world.out.getvalue() and "DAGs paused" in world.out.getvalue()
    assert world.run("rollback") == 0
    assert world.airflow.state.dags["payroll_export"]["is_paused"] is False


def test_tasks_still_running_after_the_freeze_timeout_are_recorded_and_fail_a_check(world):
    world.airflow.state.running_polls = 10_000
    assert world.run(freeze_timeout=90.0, freeze_poll=30.0) == 1
    frozen = world.state()["frozen"]
    assert frozen["unfinished_tasks"] == 1 and frozen["unfinished_sample"][0]["task_id"] == "run_job"
    check = next(c for c in world.report()["checks"] if c["name"] == "no task unfinished at the snapshot")
    assert not check["passed"] and "show their old state with no pod behind them" in check["detail"]
    assert "1 task instance(s) still unfinished after 90 s: recorded, going on" in world.out.getvalue()
    assert world.report()["data_loss_window"]["unfinished_tasks_at_snapshot"] == 1


def test_the_window_starts_at_the_snapshot_database_time(world):
    world.clock.advance(0)
    assert world.run() == 0
    report = world.report()
    window, phases = report["data_loss_window"], report["phases"]
    assert window["window_start_field"] == "SnapshotDatabaseTime"
    assert window["window_starts_at"] == report["snapshot"]["database_time"] == world.state()["snapshot"]["database_time"]
    from datetime import datetime

    expected = (datetime.fromisoformat(phases["destroy"]["started_at"]) - datetime.fromisoformat(window["snapshot_database_time"])).total_seconds()
    assert window["snapshot_window_seconds"] == expected


def test_the_point_in_time_lag_is_read_at_one_instant(world):
    world.rds_as_on_aws.lag = 300.0
    # the canary phase takes time of its own (here: the newest-log scan); it must not count in the lag
    world.aws_wrappers.append(lambda ops: setattr(ops, "newest_object", _slow(world.clock, ops.newest_object, 120)))
    assert world.run() == 0
    assert world.report()["data_loss_window"]["pitr_lag_seconds"] == 300


def _slow(clock, fn, seconds):
    def wrapper(*args, **kwargs):
        clock.advance(seconds)
        return fn(*args, **kwargs)

    return wrapper


def test_an_old_task_log_whose_object_is_gone_fails_the_log_check(world):
    # Airflow's answer still has lines (its source-details header): the check must read the content
    world.stack.after_destroy_hooks.append(lambda stack: stack.s3.delete_object(Bucket=stack.bucket, Key=stack.task_log_key))
    assert world.run() == 1
    check = next(c for c in world.report()["checks"] if c["name"] == "old task log readable through Airflow")
    assert not check["passed"]
    assert "0 content lines through Airflow, 2 before" in check["detail"] and "No logs found on s3" in check["detail"]


def test_a_task_log_without_content_before_the_rehearsal_stops_the_canaries(world):
    world.session.client("s3").delete_object(Bucket=world.stack.bucket, Key=world.stack.task_log_key)
    assert world.run() == 1
    assert "has no content through Airflow before the rehearsal" in world.out.getvalue()
    assert world.stack.mutations() == []


def test_timings_accumulate_across_attempts(world):
    world.stack.fail_next["up"] = InjectedFailure("error: creating RDS DB Instance: timeout")
    world.stack.UP_SECONDS = 1200.0

    def failing_after_40_minutes(on_output, targets=None, original=world.stack.up):
        if "up" in world.stack.fail_next:
            world.clock.advance(2400)
        return original(on_output, targets)

    world.stack.up = failing_after_40_minutes
    assert world.run() == 1
    world.clock.advance(3600)  # the operator comes back an hour later
    assert world.run("resume") == 0
    report = world.report()
    recreate = report["phases"]["recreate"]
    assert recreate["attempts"] == 2
    assert [a["status"] for a in recreate["history"]] == ["failed", "done"]
    assert [a["seconds"] for a in recreate["history"]] == [2400, 1200]
    assert recreate["seconds"] == 3600
    assert report["recovery"]["restore_seconds"] == 3600  # both attempts, not just the last
    assert report["recovery"]["restore_wall_seconds"] == 2400 + 3600 + 1200
    assert report["recovery"]["attempts"]["recreate"] == 2
    assert "failed 00:40:00, done 00:20:00" in world.markdown()


def test_an_interrupted_phase_records_its_duration(world):
    from stacks.dr.pulumi_cli import PulumiInterrupted

    def interrupted_destroy(on_output, original=world.stack.destroy):
        world.clock.advance(300)
        raise PulumiInterrupted("destroy", 255, False, "error: update canceled")

    world.stack.destroy = interrupted_destroy
    assert world.run() == 1
    destroy = world.state()["phases"]["destroy"]
    assert destroy["status"] == "interrupted" and destroy["seconds"] == 300
    assert destroy["error"] == "pulumi destroy interrupted by the operator: cancelled gracefully, exit code 255"
    assert "after 00:05:00" in world.out.getvalue()


def test_resume_after_an_interrupted_recreate_imports_the_created_database(world):
    """pulumi/pulumi#11599: the CLI died after RDS accepted the create; without repair, every resume
    would create the instance again and RDS would refuse the identifier."""
    from stacks.dr.pulumi_cli import PulumiInterrupted
    from stacks.dr.pulumi_ops import PendingOperation

    stack = world.stack
    original = stack.up

    def interrupted_once(on_output, targets=None):
        if stack.config.get(RESTORE_FROM_SNAPSHOT) and not stack.pending and "database" not in stack.state:
            stack._create_database()  # RDS has it...
            db = stack._role("database")
            stack.pending.append(PendingOperation("creating", stack._urn(db), db.type, {"identifier": stack.database}))
            stack.locked = True  # ...and the CLI died holding the lock
            raise PulumiInterrupted("up", 255, True, "^C received; terminating")
        return original(on_output, targets)

    stack.up = interrupted_once
    assert world.run() == 1
    assert world.state()["phases"]["recreate"]["status"] == "interrupted"
    assert world.run("resume") == 0, world.out.getvalue()
    repair = next(c for c in stack.calls if c[0] == "repair")
    assert repair == ("repair", {stack._urn(stack._role("database")): stack.database})
    assert world.state()["repairs"][0]["action"].startswith("imported")
    assert "repaired: imported" in world.out.getvalue()


def test_a_resume_with_a_stale_lock_and_no_pending_operation_still_repairs(world):
    from stacks.dr.pulumi_cli import PulumiInterrupted

    def interrupted(on_output):
        world.stack.locked = True
        raise PulumiInterrupted("destroy", 255, True, "terminated")

    original = world.stack.destroy
    world.stack.destroy = interrupted
    assert world.run() == 1
    world.stack.destroy = original
    assert world.run("resume") == 0, world.out.getvalue()
    assert ("repair", {}) in world.stack.calls


def test_a_manual_snapshot_quota_without_room_stops_the_preflight(world):
    world.rds_as_on_aws.max_snapshots = 100
    world.rds_as_on_aws.extra_used = 99
    assert world.run() == 1
    out = world.out.getvalue()
    assert "manual snapshot quota in eu-west-1 is 99 of 100 used and this run adds 2" in out
    assert "python -m stacks dr-rehearsal dev --cleanup" in out
    assert world.stack.mutations() == [] and world.snapshots() == []


def test_an_unreadable_quota_is_said_and_not_guessed(world):
    world.rds_as_on_aws.quota_readable = False
    assert world.run() == 0
    assert "manual snapshot quota: not readable with these credentials" in world.out.getvalue()


def _load_balanced(world, hostname="localhost"):
    """The UI behind a load balancer with a DNS name of its own; the recreate makes a new one."""
    port = world.airflow.server.server_address[1]
    world.stack.airflow_url = f"http://{hostname}:{port}"
    world.stack.load_balancer = "old-lb-1.elb.eu-west-1.amazonaws.com"

    def new_load_balancer(stack):
        stack.load_balancer = "127.0.0.1"  # what the test can reach; a real one is another ELB name

    world.stack.after_up_hooks.append(new_load_balancer)


def test_the_healthy_wait_reaches_the_new_load_balancer_and_says_which_dns_change_to_make(world):
    _load_balanced(world)
    requests_before = len(world.airflow.state.requests)
    assert world.run() == 0, world.out.getvalue()
    out = world.out.getvalue()
    assert "DNS: the recreated UI load balancer is 127.0.0.1 (was old-lb-1.elb.eu-west-1.amazonaws.com); point localhost at it" in out
    assert "through the new load balancer 127.0.0.1" in out
    assert world.report()["dns"] == {
        "hostname": "localhost", "old_load_balancer": "old-lb-1.elb.eu-west-1.amazonaws.com", "load_balancer": "127.0.0.1", "zone_id": None,
    }
    # still the hostname on every request (Host header), whichever address was connected to
    assert len(world.airflow.state.requests) > requests_before


def test_with_a_hosted_zone_the_record_is_moved_to_the_new_load_balancer(world):
    _load_balanced(world)
    zone = world.session.client("route53").create_hosted_zone(Name="localhost.", CallerReference="dr")["HostedZone"]["Id"]
    assert world.run(dns_zone_id=zone) == 0, world.out.getvalue()
    records = world.session.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    cname = next(r for r in records if r["Type"] == "CNAME")
    assert cname["Name"].rstrip(".") == "localhost" and cname["ResourceRecords"] == [{"Value": "127.0.0.1"}]
    assert world.report()["dns"]["change_id"]


def test_a_recreated_airflow_that_cannot_fetch_the_dag_repository_fails_the_wait(world):
    world.stack.after_destroy_hooks.append(lambda stack: setattr(world.airflow.state, "git_sync_works", False))
    assert world.run(health_timeout=60.0) == 1
    out = world.out.getvalue()
    assert "DAG(s) not parsed since the recreate yet: invoices_daily, payroll_export, retired_job" in out
    assert "check git-sync and its SSH key secret" in out
    assert world.state()["failure"]["phase"] == "wait_healthy"


def test_the_dag_checkout_check_passes_when_every_dag_was_parsed_again(world):
    assert world.run() == 0
    check = next(c for c in world.report()["checks"] if c["name"] == "DAG checkout served again (git-sync)")
    assert check["passed"] and check["detail"].startswith("all 3 DAG(s) served before the destroy parsed again")


# -- issue 12: the tool's own files checked before anything -------------------------------------


def test_a_refused_run_writes_nothing(prod_world):
    assert prod_world.run() == 2
    assert not prod_world.state_dir.exists() and not prod_world.report_dir.exists()


def test_a_state_directory_that_is_a_file_is_refused_before_anything(world):
    world.state_dir.parent.mkdir(parents=True, exist_ok=True)
    world.state_dir.write_text("not a directory")
    assert world.run() == 2
    assert f"the state directory {world.state_dir} cannot be created: {world.state_dir} is a file" in world.out.getvalue()
    assert world.stack.calls == [] and world.snapshots() == []


def test_a_report_directory_that_is_a_file_is_refused_before_anything(world):
    world.report_dir.parent.mkdir(parents=True, exist_ok=True)
    world.report_dir.write_text("x")
    assert world.run() == 2
    assert f"the report directory {world.report_dir} cannot be used: {world.report_dir} is a file" in world.out.getvalue()
    assert world.stack.calls == [] and not world.state_dir.exists()


@pytest.mark.parametrize("mode", ["resume", "rollback"])
def test_a_truncated_state_file_says_how_to_recover(world, mode):
    world.stack.fail_next["destroy"] = InjectedFailure("boom")
    assert world.run() == 1
    path = world.state_dir / "state.json"
    path.write_text(path.read_text()[:200])
    world.stack.calls.clear()
    assert world.run(mode) == 2
    out = world.out.getvalue()
    assert f"the state file {path} is unreadable (JSONDecodeError" in out
    assert "restore the file from a backup" in out and "state.json.broken" in out
    assert world.stack.mutations() == []


def test_point_in_time_mode_recreates_from_a_restore_to_the_latest_restorable_time(world):
    assert world.run(point_in_time=True) == 0, world.out.getvalue()
    state = world.state()
    pitr = state["point_in_time"]
    assert state["mode"] == "point-in-time"
    assert pitr["scratch_instance"] == "dr-pitr-dev-20250301-090000"
    assert pitr["snapshot"] == "dr-pitr-dev-20250301-090000-snapshot" and pitr["scratch_deleted"]
    # it waited until the latest restorable time (300 s behind) had passed the freeze
    assert pitr["lag_behind_freeze_seconds"] >= 0
    assert "waiting for the latest restorable time" in world.out.getvalue()
    assert ("set_config", RESTORE_FROM_SNAPSHOT, pitr["snapshot"]) in world.stack.mutations()
    rds = world.session.client("rds")
    names = [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]]
    assert names == ["batch-platform-dev-airflow"]  # the scratch instance is gone
    assert sorted(world.snapshots()) == [SNAPSHOT, pitr["snapshot"]]
    assert world.report()["data_loss_window"]["point_in_time_restore"]["restore_time"] == pitr["restore_time"]


def test_point_in_time_mode_needs_room_for_three_snapshots(world):
    world.rds_as_on_aws.extra_used = 98
    assert world.run(point_in_time=True) == 1
    assert "is 98 of 100 used and this run adds 3" in world.out.getvalue()
    assert world.run() == 0  # the snapshot mode adds two: it fits


GIT_KEY = "batch-platform/dev/airflow/git-ssh-key"


def _with_git_key(world, retained: bool) -> None:
    """A stack whose DAGs come from git: the deploy key is a Secrets Manager secret (issue 11)."""
    from stacks.dr.pulumi_ops import StackResource
    from stacks.dr.rehearsal import SECRET

    arn = world.session.client("secretsmanager").create_secret(Name=GIT_KEY, SecretString="deploy key")["ARN"]
    world.stack.state["secret:git-ssh-key"] = StackResource(
        urn="urn:pulumi:dev::batch-platform::batch-platform:infra:GitSshKey$aws:secretsmanager/secret:Secret::dev-git-ssh-key",
        type=SECRET, protect=False, id=arn, outputs={"name": GIT_KEY, "arn": arn}, retain_on_delete=retained,
    )
    outputs = world.stack.outputs
    world.stack.outputs = lambda: {**outputs(), "git_ssh_key_secret_name": GIT_KEY}


def test_a_git_sync_key_that_is_not_durable_stops_the_preflight(world):
    _with_git_key(world, retained=False)
    assert world.run() == 1
    assert f"the git-sync deploy key secret {GIT_KEY} is neither protected nor retained" in world.out.getvalue()
    assert world.stack.mutations() == []


def test_a_git_sync_key_lost_by_the_destroy_stops_before_the_recreate(world):
    _with_git_key(world, retained=True)
    world.stack.after_destroy_hooks.append(
        lambda stack: stack.secretsmanager.delete_secret(SecretId=GIT_KEY, ForceDeleteWithoutRecovery=True)
    )
    assert world.run() == 1
    assert f"the git-sync deploy key secret {GIT_KEY} is gone after the destroy" in world.out.getvalue()
    assert world.state()["failure"]["phase"] == "destroy"


def test_a_durable_git_sync_key_is_checked_after_the_destroy(world):
    _with_git_key(world, retained=True)
    assert world.run() == 0, world.out.getvalue()
    assert world.state()["durable"]["git_ssh_key"]["kept"] == "retained"
    assert f"git-sync key secret {GIT_KEY} still in AWS" in world.report()["phases"]["destroy"]["detail"]


@pytest.mark.parametrize("phase", PHASES)
def test_an_interruption_in_any_phase_resumes_to_completion(world, monkeypatch, phase):
    from stacks.dr.rehearsal import Rehearsal

    real = getattr(Rehearsal, f"_phase_{phase}")
    interrupted = []

    def once(self):
        if not interrupted:
            interrupted.append(phase)
            world.clock.advance(60)  # the phase ran a while before Ctrl-C
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Rehearsal, f"_phase_{phase}", once)
    assert world.run() == 1
    state = world.state()
    assert state["status"] == "interrupted" and state["phases"][phase]["status"] == "interrupted"
    assert state["phases"][phase]["seconds"] == 60
    assert world.run("resume") == 0, world.out.getvalue()
    report = world.report()
    assert report["status"] == "succeeded" and all(c["passed"] for c in report["checks"])
    history = report["phases"][phase]["history"]
    assert [a["status"] for a in history] == ["interrupted", "skipped" if phase == "unprotect" else "done"]
    assert report["phases"][phase]["seconds"] == 60 + (history[1]["seconds"] or 0)
    assert world.snapshots() == [SNAPSHOT]
    assert {d: v["is_paused"] for d, v in world.airflow.state.dags.items()} == {"invoices_daily": False, "payroll_export": False, "retired_job": True}


def test_a_long_error_keeps_its_end(world):
    world.stack.fail_next["up"] = InjectedFailure("progress " * 1000 + "error: creating RDS DB Instance: DBInstanceAlreadyExists")
    assert world.run() == 1
    error = world.state()["phases"]["recreate"]["error"]
    assert error.endswith("DBInstanceAlreadyExists") and error.startswith("...") and len(error) == 2000

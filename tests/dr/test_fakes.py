"""The recording fake stack models Pulumi's protect and retain_on_delete the way the engine applies them.

The rehearsal's tests are only as good as this model, so it is tested on its own: what a destroy
leaves in the state and in AWS (moto), and what the next up adopts or creates.
"""

from __future__ import annotations

from tests.dr.conftest import make_world

FERNET = "batch-platform/dev/airflow/fernet-key"


def _roles(stack) -> set[str]:
    return set(stack.state)


def _bucket_in_aws(world) -> bool:
    return world.stack.bucket in {b["Name"] for b in world.session.client("s3").list_buckets()["Buckets"]}


def _secret_arn(world, name: str) -> str | None:
    found = [s for s in world.session.client("secretsmanager").list_secrets()["SecretList"] if s["Name"] == name]
    return found[0]["ARN"] if found else None


def test_the_default_stack_carries_the_real_programs_options(world):
    flags = {role: (r.protect, r.retain_on_delete) for role, r in world.stack.state.items()}
    assert flags["bucket"] == flags["bucket-versioning"] == (False, True)
    assert all(flags[f"{kind}:{key}"] == (False, True) for kind in ("secret", "version") for key in ("fernet-key", "admin-password"))
    assert flags["database"] == (False, False)  # dev: database.deletion_protection false
    assert flags["vpc"] == flags["cluster-key"] == (False, False)


def test_destroy_drops_retained_resources_from_the_state_and_leaves_them_in_aws(world):
    arn = _secret_arn(world, FERNET)
    world.stack.destroy(lambda line: None)
    assert world.stack.resources() == []
    assert _bucket_in_aws(world) and _secret_arn(world, FERNET) == arn
    assert world.instance() is None  # neither protected nor retained: deleted
    assert "batch-platform-dev-airflow-final-00000001" in world.all_snapshots()  # with its final snapshot


def test_up_after_a_destroy_adopts_what_was_retained_and_creates_the_rest(world):
    arn = _secret_arn(world, FERNET)
    before = _roles(world.stack)
    world.stack.destroy(lambda line: None)
    world.stack.up(lambda line: None)
    assert _roles(world.stack) == before
    assert world.stack.state["secret:fernet-key"].id == arn  # the same secret, not a new one
    assert world.session.client("s3").list_objects_v2(Bucket=world.stack.bucket)["KeyCount"] == 1  # the old log
    assert world.instance() is not None


def test_protected_resources_stay_in_the_state_and_in_aws(aws_env, clock, airflow, tmp_path):
    world = make_world(aws_env, clock, airflow, tmp_path, durability={"bucket": "protect"})
    world.stack.destroy(lambda line: None)
    kept = [r for r in world.stack.resources() if r.type == "aws:s3/bucket:Bucket"]
    assert len(kept) == 1 and kept[0].protect and _bucket_in_aws(world)
    assert "vpc" not in world.stack.state


def test_a_protected_database_is_skipped_by_the_destroy(prod_world):
    prod_world.stack.destroy(lambda line: None)
    assert prod_world.stack.state["database"].protect
    assert prod_world.instance() is not None


def test_resources_neither_protected_nor_retained_are_deleted_and_created_anew(aws_env, clock, airflow, tmp_path):
    world = make_world(
        aws_env, clock, airflow, tmp_path, durability={"bucket": "none", "secret:fernet-key": "none", "version:fernet-key": "none"}
    )
    arn = _secret_arn(world, FERNET)
    key = world.airflow.state.fernet_key
    world.stack.destroy(lambda line: None)
    assert not _bucket_in_aws(world) and _secret_arn(world, FERNET) is None
    world.stack.up(lambda line: None)
    assert _secret_arn(world, FERNET) not in (None, arn)
    assert world.airflow.state.fernet_key != key  # Airflow gets the new secret's value: a new key

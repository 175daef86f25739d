"""The rehearsal against the real program: every output, config key and resource it relies on exists.

The rehearsal runs against a deployed stack and the test fake is written from the same contract; a
rename in the program (an output, a config key, a secret name, a resource's options) must break
these tests, not the next rehearsal on a real account.
"""

from __future__ import annotations

import dataclasses

import pytest

from infra.airflow_secrets import ADMIN_PASSWORD, FERNET_KEY
from stacks.config import NAMESPACE
from stacks.dr.pulumi_ops import (
    ADMIN_USERNAME,
    CONFIG_KEYS,
    DELETION_PROTECTION,
    RESTORE_FROM_SNAPSHOT,
    StackResource,
    typed_config_value,
)
from stacks.dr.rehearsal import (
    AIRFLOW_OUTPUT,
    BUCKET_OUTPUT,
    DB_OUTPUT,
    FINAL_SNAPSHOT_OUTPUT,
    RDS_INSTANCE,
    RECORDED_OUTPUTS,
    S3_BUCKET_TYPES,
    SECRET,
    SECRET_VERSION,
    durable_data_problems,
    durable_secret_name,
    find_bucket,
    find_secret,
    find_secret_version,
    kept_across_destroy,
    port_forward_instruction,
)


def as_state(plan) -> list[StackResource]:
    """The plan's resources as ``pulumi stack export`` would show them once deployed: the mocks'
    IDs (``<name>-id``, which other resources' inputs refer to) and outputs that hold the inputs."""
    return [
        StackResource(
            urn=r.urn,
            type=r.type,
            protect=r.options["protect"],
            id=f"{r.name}-id",
            outputs=r.inputs,
            retain_on_delete=r.options["retainOnDelete"],
        )
        for r in plan.resources
        if r.custom
    ]


@pytest.fixture(scope="module")
def prod_state(prod_plan) -> list[StackResource]:
    return as_state(prod_plan)


def test_every_output_the_rehearsal_records_exists_and_is_not_secret(prod_plan):
    for key in RECORDED_OUTPUTS:
        assert prod_plan.outputs.get(key), f"the prod plan has no output {key}"
        assert key not in prod_plan.secret_outputs, f"{key} is secret: the rehearsal writes it to its state file"


def test_the_outputs_name_the_resources_the_rehearsal_looks_up(prod_plan, prod_state):
    instance = prod_plan.one(RDS_INSTANCE)
    assert prod_plan.outputs[DB_OUTPUT] == instance.input("identifier")
    assert prod_plan.outputs[FINAL_SNAPSHOT_OUTPUT] == instance.input("finalSnapshotIdentifier")
    bucket = find_bucket(prod_state, prod_plan.outputs[BUCKET_OUTPUT])
    assert bucket is not None and bucket.type in S3_BUCKET_TYPES
    assert prod_plan.outputs[AIRFLOW_OUTPUT].startswith("https://")


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_every_config_key_the_rehearsal_uses_is_in_the_typed_config(prod_plan, key):
    assert key.partition(":")[0] == NAMESPACE
    typed_config_value(prod_plan.config, key)  # raises when the model has no such field


def test_an_unknown_config_key_is_named(prod_plan):
    with pytest.raises(AttributeError, match="the stack config has no batch-platform:database.protection"):
        typed_config_value(prod_plan.config, "batch-platform:database.protection")


def test_deletion_protection_drives_the_rds_flag_and_protect(prod_plan):
    assert typed_config_value(prod_plan.config, DELETION_PROTECTION) is True
    assert typed_config_value(prod_plan.config, RESTORE_FROM_SNAPSHOT) is None
    instance = prod_plan.one(RDS_INSTANCE)
    assert instance.input("deletionProtection") is True and instance.options["protect"] is True


def test_the_real_program_passes_the_durability_preflight(prod_plan, prod_state):
    assert durable_data_problems(prod_state, stack="prod", bucket=prod_plan.outputs[BUCKET_OUTPUT]) == []
    fernet = find_secret(prod_state, durable_secret_name("prod", FERNET_KEY))
    assert fernet is not None and fernet.retain_on_delete and not fernet.protect
    version = find_secret_version(prod_state, fernet)
    assert version is not None and version.type == SECRET_VERSION and version.retain_on_delete
    protected, retained = kept_across_destroy(prod_state)
    assert {
        "aws:s3/bucket:Bucket::prod-task-logs-bucket",
        f"{SECRET}::prod-airflow-secrets-fernet-key",
        f"{SECRET_VERSION}::prod-airflow-secrets-fernet-key",
    } <= set(retained)
    assert not any(item.startswith(RDS_INSTANCE) for item in protected + retained)


def test_the_preflight_is_not_vacuous_on_the_real_program(prod_plan, prod_state):
    bucket = prod_plan.outputs[BUCKET_OUTPUT]
    weakened = [
        dataclasses.replace(r, retain_on_delete=False) if r.type in S3_BUCKET_TYPES or r.type == SECRET else r
        for r in prod_state
    ]
    problems = durable_data_problems(weakened, stack="prod", bucket=bucket)
    assert len(problems) == 2
    assert "task log bucket" in problems[0] and "fernet key secret (batch-platform/prod/airflow/fernet-key)" in problems[1]


def test_the_admin_password_the_login_defaults_to_is_a_durable_secret(prod_plan, prod_state):
    assert typed_config_value(prod_plan.config, ADMIN_USERNAME) == "admin"
    secret = find_secret(prod_state, durable_secret_name("prod", ADMIN_PASSWORD))
    assert secret is not None and secret.durable
    assert prod_plan.outputs["durable_secret_arns"][ADMIN_PASSWORD].endswith(":secret:batch-platform/prod/airflow/admin-password-offline")


def test_dev_has_an_in_cluster_url_and_gets_the_port_forward_instruction(dev_plan, prod_plan):
    instruction = port_forward_instruction(dev_plan.outputs[AIRFLOW_OUTPUT])
    assert instruction is not None
    assert "kubectl port-forward -n airflow svc/airflow-api-server 8080:8080" in instruction
    assert port_forward_instruction(prod_plan.outputs[AIRFLOW_OUTPUT]) is None


def test_the_fake_stack_is_the_real_program(prod_plan, prod_world):
    """The fake's resources carry the real program's URNs and options (prod: database protected)."""
    planned = {r.urn: (r.type, r.options["protect"], r.options["retainOnDelete"]) for r in prod_plan.resources}
    for resource in prod_world.stack.state.values():
        assert resource.urn in planned, f"the real program has no {resource.urn}"
        assert planned[resource.urn] == (resource.type, resource.protect, resource.retain_on_delete), resource.urn
    outputs = prod_world.stack.outputs()
    assert set(RECORDED_OUTPUTS) <= set(outputs) <= set(prod_plan.outputs)
    assert outputs[BUCKET_OUTPUT] == prod_plan.outputs[BUCKET_OUTPUT]
    assert outputs[DB_OUTPUT] == prod_plan.outputs[DB_OUTPUT]


def test_the_git_sync_key_the_rehearsal_checks_is_a_durable_secret_of_the_real_program(prod_plan, prod_state):
    from stacks.dr.rehearsal import GIT_KEY_OUTPUT

    name = prod_plan.outputs.get(GIT_KEY_OUTPUT)
    assert name == "batch-platform/prod/airflow/git-ssh-key", "prod's DAGs come over SSH: the output names the key"
    assert GIT_KEY_OUTPUT not in prod_plan.secret_outputs
    secret = find_secret(prod_state, name)
    assert secret is not None and secret.durable, f"{name} must be retained or protected"

"""The batch Jobs' secrets live in Secrets Manager and are copied into the batch namespace on every up.

Before: the migration guide had operators `kubectl create secret` in the batch namespace, which a
destroy deletes with the cluster; after a recreate every Job needing it failed.
"""

from __future__ import annotations

import json

import pytest

from infra import k8s_objects
from infra.batch_secrets import BatchSecretError, secret_data, secret_object
from stacks.airflow_wiring import batch_secrets_prefix
from stacks.environment import PROJECT
from stacks.offline import canned, run_plan

K8S_SECRET = "kubernetes:core/v1:Secret"
PREFIX = batch_secrets_prefix(PROJECT, "dev")


def with_values(values: dict[str, str | None]) -> dict:
    """An account holding the secrets ``values`` (name -> SecretString, None: no value yet)."""
    answers = canned.secrets_found(list(values), without_value=[n for n, v in values.items() if v is None])
    by_arn = {f"arn:aws:secretsmanager:eu-west-1:{canned.ACCOUNT_ID}:secret:{n}-offline": v for n, v in values.items()}
    default = canned.INVOKES["aws:secretsmanager/getSecretVersion:getSecretVersion"]

    def get_version(args, region):
        answer = default(args, region)
        if args.get("secretId") in by_arn:
            answer["secretString"] = by_arn[args["secretId"]]
        return answer

    return {**answers, "aws:secretsmanager/getSecretVersion:getSecretVersion": get_version}


def batch_secrets(plan) -> dict:
    return {
        r.input("metadata.name"): r
        for r in plan.of_type(K8S_SECRET)
        if r.input("metadata.namespace") == "batch-jobs"
    }


def test_each_secret_under_the_prefix_becomes_a_kubernetes_secret_of_the_batch_namespace():
    plan = run_plan(
        "dev",
        invokes=with_values(
            {
                f"{PREFIX}/ledger-export-params": json.dumps({"DB_PASSWORD": "s3cret", "DB_USER": "ledger"}),
                f"{PREFIX}/not-set-yet": None,
                # Not ours: another stack's, and one outside the prefix.
                "batch-platform/prod/batch/secrets/other": json.dumps({"A": "b"}),
            }
        ),
    )
    secrets = batch_secrets(plan)
    assert set(secrets) == {"ledger-export-params"}
    secret = secrets["ledger-export-params"]
    assert secret.inputs["stringData"] == "[secret]" and "stringData" in secret.secret_paths
    assert secret.raw_inputs["stringData"] == {"DB_PASSWORD": "s3cret", "DB_USER": "ledger"}
    namespace = plan.one("kubernetes:core/v1:Namespace", "dev-batch-namespace")
    assert namespace.urn in secret.options["dependsOn"]


def test_the_default_plans_have_none(dev_plan, prod_plan):
    assert batch_secrets(dev_plan) == {} and batch_secrets(prod_plan) == {}


@pytest.mark.parametrize(
    "value, message",
    [
        ("plain text", "the value must be a JSON object of strings"),
        ("{}", "the value must be a JSON object of strings"),
        ('{"PORT": 5432}', "key 'PORT' must be letters, digits, '-', '_' or '.', with a string value"),
        ('{"A B": "x"}', "key 'A B' must be letters"),
    ],
)
def test_a_malformed_value_names_the_secret(value, message):
    with pytest.raises(BatchSecretError) as excinfo:
        secret_data("batch-platform/dev/batch/secrets/x", value)
    assert str(excinfo.value).startswith("batch-platform/dev/batch/secrets/x: ") and message in str(excinfo.value)


def test_a_bad_secret_stops_the_run_before_anything_but_the_provider_and_image_repository_registers():
    recorded = {}

    def program():
        from stacks.config import load_from_pulumi
        from stacks.environment import build_environment

        try:
            return build_environment(load_from_pulumi(), "dev")
        except BatchSecretError as exc:
            recorded["error"] = str(exc)
            return {}

    from stacks.offline import record
    from stacks.offline.harness import _pulumi_config
    from stacks.config import stack_file

    plan = record(
        program,
        stack="dev",
        config_values=_pulumi_config(stack_file("dev")),
        invokes=with_values({f"{PREFIX}/Bad_Name": json.dumps({"A": "b"})}),
    )
    assert recorded["error"].startswith(f"{PREFIX}/Bad_Name: the part after the prefix is the Kubernetes Secret's name")
    assert {r.type for r in plan.resources} <= {
        "pulumi:providers:aws", "batch-platform:infra:ImageRepository", "aws:ecr/repository:Repository",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    }


def test_the_manifest_is_a_valid_secret_for_the_cluster_version():
    k8s_objects.validate(secret_object("ledger-export-params", "batch-jobs", ["DB_PASSWORD"]), "1.35")

"""AirflowSecrets: generated once, retained on destroy, adopted on recreate, never in clear.

The same program runs against three states of the account (canned invoke answers): fresh (first
creation), after a destroy (the secrets exist: adoption), and after a failed first run (the secrets
exist without a value).
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.fernet import Fernet

from infra.airflow_secrets import (
    API_SECRET_KEY,
    FERNET_KEY,
    JWT_SECRET,
    KEYS,
    AirflowSecrets,
    AirflowSecretsArgs,
    fernet_key_from_hex,
    generation_request,
)
from infra.durable import current_version_id, find_by_name
from stacks.offline import canned, record

PREFIX = "batch-platform/test/airflow"
NAMES = [f"{PREFIX}/{k}" for k in KEYS]
SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


def program():
    secrets = AirflowSecrets("airflow", AirflowSecretsArgs(name_prefix=PREFIX))
    return {
        "fernet_key": secrets.fernet_key,
        "api_secret_key": secrets.api_secret_key,
        "jwt_secret": secrets.jwt_secret,
        "admin_password": secrets.admin_password,
        "arns": secrets.arns,
        "adopted": secrets.adopted,
    }


@pytest.fixture(scope="module")
def created():
    return record(program)


@pytest.fixture(scope="module")
def adopted():
    return record(program, invokes=canned.secrets_found(NAMES))


@pytest.fixture(scope="module")
def half_made():
    return record(program, invokes=canned.secrets_found(NAMES, with_value=False))


# --- pure parts -----------------------------------------------------------------------------


def test_fernet_key_from_hex_is_a_working_fernet_key():
    key = fernet_key_from_hex("00" * 16 + "ff" * 16)
    assert base64.urlsafe_b64decode(key) == bytes(16) + b"\xff" * 16
    token = Fernet(key).encrypt(b"connection password")
    assert Fernet(key).decrypt(token) == b"connection password"
    with pytest.raises(ValueError):
        fernet_key_from_hex("xyz")


def test_fernet_key_is_asked_as_hex_and_the_others_as_letters_and_digits():
    fernet = generation_request(FERNET_KEY)
    assert fernet["password_length"] == 64 and fernet["exclude_uppercase"] and fernet["exclude_punctuation"]
    assert set(fernet["exclude_characters"]) == set("ghijklmnopqrstuvwxyz")
    for key in (API_SECRET_KEY, JWT_SECRET):
        request = generation_request(key)
        assert request["password_length"] == 64 and request["exclude_punctuation"]
        assert "exclude_uppercase" not in request and "exclude_characters" not in request


def test_lookups_match_exact_names_only():
    names = [f"{PREFIX}/fernet-key-old", f"{PREFIX}/fernet-key", f"{PREFIX.upper()}/jwt-secret"]
    arns = ["arn-old", "arn-fernet", "arn-upper"]
    assert find_by_name(names, arns, f"{PREFIX}/fernet-key") == "arn-fernet"
    assert find_by_name(names, arns, f"{PREFIX}/jwt-secret") is None
    assert current_version_id([{"version_id": "v1", "version_stages": ["AWSPREVIOUS"]}]) is None
    assert current_version_id([{"version_id": "v1", "version_stages": ["AWSPREVIOUS"]}, {"version_id": "v2", "version_stages": ["AWSCURRENT"]}]) == "v2"


# --- first creation -------------------------------------------------------------------------


def test_first_run_creates_the_named_secrets_with_generated_values(created):
    secrets = {r.input("name"): r for r in created.of_type(SECRET)}
    assert sorted(secrets) == sorted(NAMES)
    assert created.raw_outputs["adopted"] == {k: False for k in KEYS}
    for secret in secrets.values():
        assert secret.options["importId"] is None
        assert secret.input("recoveryWindowInDays") == 30
        # The AWS managed key aws/secretsmanager: it cannot be deleted with the stack.
        assert secret.input("kmsKeyId") is None
    generated = [i for i in created.invokes if i.token == "aws:secretsmanager/getRandomPassword:getRandomPassword"]
    assert len(generated) == len(KEYS)
    fernet = Fernet(created.raw_outputs["fernet_key"].encode())
    assert fernet.decrypt(fernet.encrypt(b"x")) == b"x"
    for key in ("api_secret_key", "jwt_secret", "admin_password"):
        value = created.raw_outputs[key]
        assert len(value) == 64 and value.isalnum()


def test_secrets_and_versions_are_retained_on_destroy(created, adopted):
    for plan in (created, adopted):
        for resource in plan.of_type(SECRET) + plan.of_type(VERSION):
            assert resource.options["retainOnDelete"] is True, resource.name
            # Retained already; protect would only make `pulumi destroy` of the stack fail.
            assert resource.options["protect"] is False


def test_values_live_in_secrets_manager_and_change_there(created):
    for version in created.of_type(VERSION):
        assert version.secret_paths == ["secretString"]
        assert version.options["ignoreChanges"] == ["secretString"]
    by_name = {r.name: r for r in created.of_type(VERSION)}
    assert created.raw_outputs["fernet_key"] == by_name["airflow-fernet-key"].raw_inputs["secretString"]


def test_values_are_secret_outputs_and_never_in_clear(created, adopted):
    for plan in (created, adopted):
        assert {"fernet_key", "api_secret_key", "jwt_secret"} <= set(plan.secret_outputs)
        values = [plan.raw_outputs[k] for k in ("fernet_key", "api_secret_key", "jwt_secret")]
        shown = json.dumps(
            [{"inputs": r.inputs, "options": r.options} for r in plan.resources]
            + [{"args": i.args, "result": i.result} for i in plan.invokes]
            + [plan.outputs],
            default=str,
        )
        for value in values:
            assert value and value not in shown


# --- adoption (after a destroy) -------------------------------------------------------------


def test_recreate_adopts_the_secrets_and_their_current_versions(adopted):
    assert adopted.raw_outputs["adopted"] == {k: True for k in KEYS}
    for secret in adopted.of_type(SECRET):
        arn = f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{secret.input('name')}-offline"
        assert secret.options["importId"] == arn
        version = adopted.one(VERSION, secret.name)
        assert version.options["importId"] == f"{arn}|{canned.OFFLINE_VERSION_ID}"
        assert version.options["ignoreChanges"] == ["secretString"]
    # Nothing is generated: the values are the ones already in Secrets Manager.
    tokens = [i.token for i in adopted.invokes]
    assert "aws:secretsmanager/getRandomPassword:getRandomPassword" not in tokens
    assert tokens.count("aws:secretsmanager/getSecretVersion:getSecretVersion") == len(KEYS)


def test_adopted_values_are_the_stored_ones(adopted):
    for key, output in (("fernet-key", "fernet_key"), ("api-secret-key", "api_secret_key"), ("jwt-secret", "jwt_secret")):
        arn = adopted.raw_outputs["arns"][key]
        stored = canned.INVOKES["aws:secretsmanager/getSecretVersion:getSecretVersion"]({"secretId": arn}, "eu-west-1")
        assert adopted.raw_outputs[output] == stored["secretString"]


def test_same_resources_on_both_paths(created, adopted):
    """No resource appears or disappears between first creation and later runs (no one-time churn)."""
    assert [(r.type, r.name) for r in created.resources] == [(r.type, r.name) for r in adopted.resources]
    assert {r.name: r.inputs for r in created.of_type(SECRET)} == {r.name: r.inputs for r in adopted.of_type(SECRET)}


def test_a_secret_without_a_value_gets_one_generated(half_made):
    assert half_made.raw_outputs["adopted"] == {k: True for k in KEYS}
    for secret in half_made.of_type(SECRET):
        assert secret.options["importId"] is not None
        assert half_made.one(VERSION, secret.name).options["importId"] is None
    assert Fernet(half_made.raw_outputs["fernet_key"].encode())


def test_a_prefix_match_is_not_adoption():
    plan = record(program, invokes=canned.secrets_found([f"{PREFIX}/fernet-key-previous"]))
    assert plan.raw_outputs["adopted"] == {k: False for k in KEYS}
    assert all(r.options["importId"] is None for r in plan.of_type(SECRET))

"""Finding 2 of issue 11: the git-sync deploy key is durable (Secrets Manager) and synced into the cluster by the stack."""

from __future__ import annotations

import pytest

from infra.git_ssh_key import GIT_SSH_KEY
from stacks.airflow_image import image_repository_name
from stacks.airflow_wiring import git_ssh_key_secret_name
from stacks.environment import PROJECT
from stacks.offline import canned, run_plan
from infra.airflow_image import checkout_tag

K8S_SECRET = "kubernetes:core/v1:Secret"
SM_SECRET = "aws:secretsmanager/secret:Secret"
RELEASE = "kubernetes:helm.sh/v3:Release"


def key_name(stack: str) -> str:
    return git_ssh_key_secret_name(PROJECT, stack)


def later_run(stack: str, *, key_has_value: bool = True) -> dict:
    """An account where the image is pushed and the deploy key secret exists (with or without a value)."""
    return {
        **canned.repositories_found({image_repository_name(PROJECT, stack): [checkout_tag()]}),
        **canned.secrets_found([key_name(stack)], with_value=key_has_value),
    }


def k8s_git_secret(plan):
    [secret] = [r for r in plan.of_type(K8S_SECRET) if r.input("metadata.name") == "airflow-git-ssh"]
    return secret


@pytest.fixture(params=["dev", "prod"])
def stack(request):
    return request.param


def test_the_name_is_the_durable_prefix_plus_git_ssh_key(stack):
    assert key_name(stack) == f"batch-platform/{stack}/airflow/{GIT_SSH_KEY}"


def test_both_plans_hold_the_git_sync_secret_from_a_durable_source(stack, dev_plan, prod_plan):
    """Before the fix the plans had no such Secret: an operator made it by hand inside the cluster."""
    plan = {"dev": dev_plan, "prod": prod_plan}[stack]
    secret = k8s_git_secret(plan)
    assert secret.input("metadata.namespace") == "airflow"
    assert "stringData" in secret.secret_paths  # the key is a Pulumi secret, never plain
    durable = plan.one(SM_SECRET, f"{stack}-git-ssh-key-secret")
    assert durable.input("name") == key_name(stack)
    assert durable.options["retainOnDelete"] is True and "secretString" not in durable.inputs
    # The chart mounts exactly this Secret, and the release waits for it.
    release = plan.one(RELEASE, f"{stack}-airflow-release")
    assert release.inputs["values"]["dags"]["gitSync"]["sshKeySecret"] == "airflow-git-ssh"
    assert secret.urn in release.options["dependsOn"]
    assert plan.outputs["git_ssh_key_secret_name"] == key_name(stack)
    assert plan.outputs["git_ssh_key_secret_arn"].startswith("arn:aws:secretsmanager:")


def test_first_up_without_a_value_installs_without_waiting_and_says_what_is_missing(stack, dev_plan, prod_plan):
    plan = run_plan(stack, invokes=later_run(stack, key_has_value=False))
    assert k8s_git_secret(plan).raw_inputs["stringData"] == {"gitSshKey": ""}
    assert plan.one(RELEASE, f"{stack}-airflow-release").input("skipAwait") is True
    assert any(
        f"put-secret-value --secret-id {key_name(stack)}" in message and "Still missing: the key" in message
        for message in plan.warnings  # the program's warnings, as pulumi up would print them
    )


def test_a_value_set_by_the_operator_reaches_the_cluster_and_the_release_waits(stack):
    plan = run_plan(stack, invokes=later_run(stack))
    durable = plan.one(SM_SECRET, f"{stack}-git-ssh-key-secret")
    arn = durable.options["importId"]
    assert arn == f"arn:aws:secretsmanager:eu-west-1:{canned.ACCOUNT_ID}:secret:{key_name(stack)}-offline"
    expected = canned.INVOKES["aws:secretsmanager/getSecretVersion:getSecretVersion"]({"secretId": arn}, "eu-west-1")
    assert k8s_git_secret(plan).raw_inputs["stringData"] == {"gitSshKey": expected["secretString"]}
    release = plan.one(RELEASE, f"{stack}-airflow-release")
    assert release.input("skipAwait") is False
    # The key's version is on every Airflow pod: a rotation (new version) restarts them with the new key.
    assert release.inputs["values"]["airflowPodAnnotations"] == {
        "batch-platform/git-ssh-key-version": canned.OFFLINE_VERSION_ID
    }


def test_a_rotated_key_rolls_the_airflow_pods(stack):
    """subPath mounts are never refreshed in a running container: only a new pod reads a new key."""
    rotated = {**later_run(stack)}
    found = rotated["aws:secretsmanager/getSecretVersions:getSecretVersions"]

    def new_version(args, region):
        answer = found(args, region)
        answer["versions"] = [{**v, "versionId": "rotated-version-2"} for v in answer["versions"]]
        return answer

    rotated["aws:secretsmanager/getSecretVersions:getSecretVersions"] = new_version
    plan = run_plan(stack, invokes=rotated)
    values = plan.one(RELEASE, f"{stack}-airflow-release").inputs["values"]
    assert values["airflowPodAnnotations"] == {"batch-platform/git-ssh-key-version": "rotated-version-2"}


def test_an_https_repository_needs_no_key(stack_copy):
    root = stack_copy(
        "dev",
        {
            "airflow.dags.git_sync.repo": "https://github.com/example-org/batch-dags.git",
            "airflow.dags.git_sync.ssh_key_secret": None,
            "airflow.dags.git_sync.known_hosts": None,
        },
    )
    plan = run_plan("dev", root)
    assert not [r for r in plan.of_type(SM_SECRET) if r.input("name") == key_name("dev")]
    assert not [r for r in plan.of_type(K8S_SECRET) if r.input("metadata.name") == "airflow-git-ssh"]
    assert "git_ssh_key_secret_name" not in plan.outputs

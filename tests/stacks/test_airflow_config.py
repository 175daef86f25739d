"""Config sections ``airflow`` and ``batch``: defaults, the stack files, and bad config with exact messages."""

from __future__ import annotations

import copy

import pytest
import yaml

from stacks.config import StackConfigError, load_stack_file, stack_file, validate

PREFIX = "batch-platform:"


def raw(stack: str) -> dict:
    return yaml.safe_load(stack_file(stack).read_text())["config"]


def problems_of(stack: str, edit) -> list[str]:
    config = copy.deepcopy(raw(stack))
    edit(config)
    source = f"Pulumi.{stack}.yaml"
    with pytest.raises(StackConfigError) as excinfo:
        validate(config, source)
    return [p.render(source) for p in excinfo.value.problems]


def airflow(config: dict) -> dict:
    return config[f"{PREFIX}airflow"]


def test_stack_files_are_valid():
    prod = load_stack_file(stack_file("prod"))
    dev = load_stack_file(stack_file("dev"))
    assert prod.airflow.replicas.scheduler == 2
    assert dev.airflow.replicas.scheduler == 1
    assert prod.airflow.dags.source == dev.airflow.dags.source == "git_sync"
    assert prod.airflow.ui.internet_facing is False
    assert dev.airflow.ui.certificate_arn is None
    assert prod.batch.namespace == "batch-jobs" and prod.batch.service_account == "batch-job-runner"


def test_defaults_are_production_shaped():
    from stacks.config.airflow import AirflowConfig
    from stacks.config.batch import BatchConfig

    a = AirflowConfig()
    assert (a.replicas.scheduler, a.replicas.api_server, a.replicas.triggerer, a.replicas.pgbouncer) == (2, 2, 2, 2)
    assert a.ui.internet_facing is False and a.ui.allowed_cidrs == []
    assert BatchConfig().iam_policy_arns == [] and BatchConfig().database_egress is False


def test_prod_with_one_scheduler():
    assert problems_of("prod", lambda c: airflow(c)["replicas"].update(scheduler=1)) == [
        "Pulumi.prod.yaml: airflow.replicas.scheduler = 1: prod runs at least 2 (active-active: one pod or node may fail)"
    ]


def test_prod_with_single_api_server_and_triggerer_reports_both():
    def edit(c):
        airflow(c)["replicas"].update(api_server=1, triggerer=1)

    assert problems_of("prod", edit) == [
        "Pulumi.prod.yaml: airflow.replicas.api_server = 1: prod runs at least 2 (active-active: one pod or node may fail)",
        "Pulumi.prod.yaml: airflow.replicas.triggerer = 1: prod runs at least 2 (active-active: one pod or node may fail)",
    ]


def test_dev_may_run_one_of_each():
    config = load_stack_file(stack_file("dev"))
    assert config.airflow.replicas.model_dump() == {
        "scheduler": 1, "api_server": 1, "triggerer": 1, "dag_processor": 1, "pgbouncer": 1,
    }


def test_internet_facing_ui_without_allowed_cidrs():
    assert problems_of("prod", lambda c: airflow(c)["ui"].update(internet_facing=True)) == [
        "Pulumi.prod.yaml: airflow.ui.allowed_cidrs = []: an internet-facing UI needs an explicit list of client ranges"
    ]


def test_internet_facing_ui_open_to_everyone():
    def edit(c):
        airflow(c)["ui"].update(internet_facing=True, allowed_cidrs=["0.0.0.0/0"])

    assert problems_of("prod", edit) == [
        'Pulumi.prod.yaml: airflow.ui.allowed_cidrs = "0.0.0.0/0": an internet-facing UI must not be open to everyone'
    ]


def test_public_client_range_without_the_explicit_flag():
    assert problems_of("prod", lambda c: airflow(c)["ui"].update(allowed_cidrs=["52.94.0.0/16"])) == [
        'Pulumi.prod.yaml: airflow.ui.allowed_cidrs = "52.94.0.0/16": a public range only makes sense with '
        "internet_facing: true (set it explicitly)"
    ]


def test_malformed_certificate_arn():
    assert problems_of("prod", lambda c: airflow(c)["ui"].update(certificate_arn="arn:aws:acm:eu-west-1:123:cert/x")) == [
        'Pulumi.prod.yaml: airflow.ui.certificate_arn = "arn:aws:acm:eu-west-1:123:cert/x": expected an ACM '
        "certificate ARN: arn:aws:acm:<region>:<account>:certificate/<uuid>"
    ]


def test_prod_without_certificate():
    assert problems_of("prod", lambda c: airflow(c)["ui"].pop("certificate_arn")) == [
        "Pulumi.prod.yaml: airflow.ui.certificate_arn = null: prod requires TLS: the ACM certificate of the UI's hostname"
    ]


def test_git_sync_without_repo():
    assert problems_of("dev", lambda c: airflow(c)["dags"]["git_sync"].pop("repo")) == [
        "Pulumi.dev.yaml: airflow.dags.git_sync.repo = null: required when dags.source is git_sync"
    ]


def test_ssh_repo_without_key_secret_or_known_hosts():
    def edit(c):
        git = airflow(c)["dags"]["git_sync"]
        git.pop("ssh_key_secret")
        git.pop("known_hosts")

    assert problems_of("dev", edit) == [
        "Pulumi.dev.yaml: airflow.dags.git_sync.ssh_key_secret = null: required for an SSH repository URL: the "
        "Kubernetes Secret the stack writes the deploy key into",
        "Pulumi.dev.yaml: airflow.dags.git_sync.known_hosts = null: required for an SSH repository URL: the git "
        "host's public keys (no trust on first use)",
    ]


def test_image_source_without_image():
    assert problems_of("dev", lambda c: airflow(c)["dags"].update(source="image")) == [
        "Pulumi.dev.yaml: airflow.dags.image.repository = null: required when dags.source is image",
        "Pulumi.dev.yaml: airflow.dags.image.tag = null: required when dags.source is image",
    ]


def test_unknown_key_in_airflow_section():
    assert problems_of("prod", lambda c: airflow(c).update(schedulers=3)) == [
        "Pulumi.prod.yaml: airflow.schedulers = 3: unknown key; expected one of: admin, api_workers_per_server, "
        "connections_prefix, dags, image, namespace, release_name, replicas, resources, task_log_prefix, ui"
    ]


def test_unknown_key_nested_with_a_suggestion():
    assert problems_of("prod", lambda c: airflow(c)["ui"].update(internetfacing=True)) == [
        "Pulumi.prod.yaml: airflow.ui.internetfacing = true: unknown key; did you mean internet_facing? expected one "
        "of: allowed_cidrs, certificate_arn, hostname, internet_facing"
    ]


def test_limit_below_request():
    def edit(c):
        airflow(c)["resources"] = {
            "scheduler": {"cpu_request": "2", "memory_request": "4Gi", "cpu_limit": "1", "memory_limit": "2Gi"}
        }

    assert problems_of("prod", edit) == [
        'Pulumi.prod.yaml: airflow.resources.scheduler.cpu_limit = "1": must be >= cpu_request (2)',
        'Pulumi.prod.yaml: airflow.resources.scheduler.memory_limit = "2Gi": must be >= memory_request (4Gi)',
    ]


def test_batch_namespace_must_differ_from_airflow():
    assert problems_of("prod", lambda c: c.setdefault(f"{PREFIX}batch", {}).update(namespace="airflow")) == [
        'Pulumi.prod.yaml: batch.namespace = "airflow": must differ from airflow.namespace (batch Jobs get their own '
        "guard rails)"
    ]


def test_batch_policy_arn_must_be_an_iam_policy():
    lines = problems_of("prod", lambda c: c[f"{PREFIX}batch"].update(iam_policy_arns=["s3-read-only"]))
    assert lines == [
        'Pulumi.prod.yaml: batch.iam_policy_arns = ["s3-read-only"]: expected IAM policy ARNs such as '
        "arn:aws:iam::123456789012:policy/name, got 's3-read-only' (Managed IAM policies of the batch Jobs' role "
        "(IRSA). Empty: no AWS permission.)"
    ]


def test_batch_https_egress_choice():
    lines = problems_of("prod", lambda c: c[f"{PREFIX}batch"].update(https_egress="everywhere"))
    assert len(lines) == 1
    assert lines[0].startswith("Pulumi.prod.yaml: batch.https_egress = \"everywhere\": expected 'internet' or 'vpc'")

"""scripts/checkov_chart.py: the values it renders with, how it reads checkov's report, the Pod Security
check of a render, and its refusals. checkov and the Helm SDK themselves run only in `make checkov`
(their own venv); the report fixture is checkov 3.3.30's JSON output (kubernetes framework, trimmed
to the fields the script reads) for a one-Deployment chart.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from tests.airflow_env import REPO_ROOT

_spec = importlib.util.spec_from_file_location("checkov_chart", REPO_ROOT / "scripts" / "checkov_chart.py")
checkov_chart = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checkov_chart)

REPORT = json.loads((Path(__file__).parent / "fixtures" / "checkov-3.3.30-kubernetes-report.json").read_text())


def test_rate_and_failed_checks_from_checkovs_report():
    failed, passed, rate = checkov_chart.rate(REPORT)
    assert (failed, passed) == (12, 77) and rate == pytest.approx(12 / 89)
    checks = checkov_chart.failed_checks(REPORT)
    assert len(checks) == 12 and ("CKV_K8S_12", "Memory requests should be set", "Deployment.airflow.airflow-web") in checks
    assert checkov_chart.rate({}) == (0, 0, 0.0)


@pytest.fixture(scope="module")
def prod_values():
    return checkov_chart.plan_values("prod")


def test_the_values_are_those_the_plan_gives_the_release(prod_values):
    values, namespace = prod_values
    assert namespace["metadata"]["name"] == "airflow"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert values["scheduler"]["securityContexts"]["pod"]["runAsNonRoot"] is True
    assert values["networkPolicies"] == {"enabled": True}


def test_pods_of_a_render_and_its_pod_template_are_checked(tmp_path, prod_values):
    _, namespace = prod_values
    good = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "worker-template"},
                "spec": {**good, "containers": [{"name": "base"}]}}
    documents = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ok"}, "spec": {"template": {"spec": good}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "root"},
         "spec": {"template": {"spec": {**good, "securityContext": {**good["securityContext"], "runAsUser": 0}}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pod-template"},
         "data": {"pod_template_file.yaml": yaml.safe_dump(template)}},
    ]
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(documents))
    found = checkov_chart.pod_violations(manifest, namespace)
    assert set(found) == {"Job/root", "Pod/worker-template"}
    assert any("Running as Non-root user" in v for v in found["Job/root"])


def test_refuses_a_directory_that_is_not_a_chart(tmp_path, capsys):
    assert checkov_chart.main([str(tmp_path)]) == 2
    assert "not a chart directory" in capsys.readouterr().err
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: x\nversion: 0.1.0\n")
    assert checkov_chart.main([str(tmp_path), "--checkov-venv", str(tmp_path / "none")]) == 2
    assert "make checkov" in capsys.readouterr().err


def test_the_values_are_those_of_a_steady_state_up(prod_values):
    """The image exists in the stack's repository (every up after the first): it runs by digest."""
    values, _ = prod_values
    assert values["defaultAirflowDigest"].startswith("sha256:")
    assert values["config"]["kubernetes_executor"]["worker_container_tag"].endswith("@" + values["defaultAirflowDigest"])


def test_root_file_system_check_of_a_render(tmp_path):
    read_only = {"readOnlyRootFilesystem": True}
    tmp = {"name": "tmp", "mountPath": "/tmp"}
    logs = {"name": "logs", "mountPath": "/opt/airflow/logs"}
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"},
                "spec": {"containers": [{"name": "base", "securityContext": read_only, "volumeMounts": [tmp]}]}}
    dags = {"name": "dags", "mountPath": "/git"}
    git_sync_tmp = {"name": "git-sync-tmp", "mountPath": "/tmp"}
    documents = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dag-processor"}, "spec": {"template": {"spec": {
            "containers": [
                {"name": "dag-processor", "securityContext": read_only,
                 "volumeMounts": [tmp, logs, {"name": "dags", "mountPath": "/opt/airflow/dags", "readOnly": True}]},
                {"name": "git-sync", "securityContext": read_only, "volumeMounts": [dags, git_sync_tmp]},
            ],
        }}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "triggerer"}, "spec": {"template": {"spec": {
            "containers": [
                {"name": "triggerer", "securityContext": read_only, "volumeMounts": [tmp, logs]},
                {"name": "git-sync", "securityContext": read_only, "volumeMounts": [dags, tmp]},
            ],
        }}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cleanup"}, "spec": {"jobTemplate": {"spec": {
            "template": {"spec": {"containers": [{"name": "airflow-cleanup-pods", "securityContext": {}}]}},
        }}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "scheduler"}, "spec": {"template": {"spec": {
            "initContainers": [{"name": "wait-for-airflow-migrations", "securityContext": read_only, "volumeMounts": [tmp]}],
            "containers": [{"name": "scheduler", "securityContext": read_only, "volumeMounts": [tmp, logs]},
                           {"name": "sidecar", "securityContext": {}}],
        }}}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "create-user"}, "spec": {"template": {"spec": {
            "containers": [{"name": "create-user", "securityContext": read_only,
                            "volumeMounts": [dict(tmp, readOnly=True)]}],
        }}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pod-template"},
         "data": {"pod_template_file.yaml": yaml.safe_dump(template)}},
    ]
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all(documents))
    assert checkov_chart.root_file_system_problems(manifest) == [
        # git-sync sharing the Airflow container's /tmp (its HOME), not the DAG checkout it writes.
        "Deployment/triggerer git-sync: shares its writable volume tmp with triggerer",
        "CronJob/cleanup airflow-cleanup-pods: root file system not read-only",
        "Deployment/scheduler sidecar: root file system not read-only",
        "Job/create-user create-user: no writable volume at /tmp",
        # The task pods write their logs before the upload: the template must mount the logs volume.
        "pod template base: no writable volume at /opt/airflow/logs",
    ]


def test_worker_account_check_of_a_render(tmp_path):
    values = {"workers": {"kubernetes": {"serviceAccount": {
        "name": "airflow-worker", "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/w"}}}}}
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "airflow-worker", "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/w"}}}
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"},
                "spec": {"serviceAccountName": "airflow-worker", "containers": [{"name": "base"}]}}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b"},
               "roleRef": {"kind": "Role", "name": "airflow-job-launcher-role"},
               "subjects": [{"kind": "ServiceAccount", "name": "airflow-worker"}]}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pod-template"},
                  "data": {"pod_template_file.yaml": yaml.safe_dump(template)}}
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(yaml.safe_dump_all([account, config_map, binding]))
    assert checkov_chart.worker_account_problems(manifest, values) == []
    # A chart that renders no such account (apache/airflow#66598 describes one), a template naming
    # another account, nothing bound.
    template["spec"]["serviceAccountName"] = "airflow-worker-default"
    config_map["data"]["pod_template_file.yaml"] = yaml.safe_dump(template)
    manifest.write_text(yaml.safe_dump_all([config_map]))
    assert checkov_chart.worker_account_problems(manifest, values) == [
        "ServiceAccount/airflow-worker: rendered 0 times, expected once",
        "pod template: serviceAccountName 'airflow-worker-default', expected 'airflow-worker'",
        "ServiceAccount/airflow-worker: not bound to the job launcher role (task pods launch Jobs)",
    ]

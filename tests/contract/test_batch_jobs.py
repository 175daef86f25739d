"""The contract between the DAG library and the cluster: every batch Job we submit is admitted and can run.

For every job spec in the repository (dags/jobs), every spec the converter writes from its test
fixtures and the library's own security variants, the exact Job the KubernetesJobOperator submits is
built offline with the provider's request-building code (tests/job_render.py) and checked, per
environment, against what that environment's stack deploys (its offline plan):

* the Pod Security Standard the batch Namespace enforces, read from the Namespace object the stack
  registers (level and version labels), with every control of the official table (infra/pod_security);
* the OpenAPI schema of the Kubernetes version the stack's EKS cluster runs, strictly
  (kubernetes-validate: unknown fields are errors);
* the namespace's LimitRange and ResourceQuota, applied the way the LimitRanger admission plugin
  defaults a container and then checked: requests and limits present, within the bounds, request <=
  limit, one pod within the namespace totals;
* scheduling: the pod's nodeSelector and tolerations against the labels and taints of the batch node
  group the cluster component registers;
* identity: the service account exists in the namespace (created by the stack) and every Secret
  the pod references is created by the stack or documented as created by an operator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes.utils import parse_quantity

from infra import k8s_objects
from infra import pod_security as pss
from infra.scheduling import BATCH, KUBERNETES_TAINT_EFFECTS
from tests.airflow_env import DAGS_FOLDER, REPO_ROOT
from tests.job_render import offline_kubernetes_connection, render_job

MIGRATION_FIXTURES = REPO_ROOT / "tests" / "migration" / "fixtures"
DOCS = REPO_ROOT / "docs"
TIERS = ("dev", "prod")

# The library's variants beyond the defaults: a fixed UID/GID with extra writable paths, a root
# file system left writable with the API token mounted.
VARIANTS = {
    "variant.fixed-uid": {
        "name": "variant.fixed-uid", "image": "registry.internal/batch/spring:1.0", "command": ["java", "-jar", "/app.jar"],
        "security": {"run_as_user": 1000, "run_as_group": 1000, "fs_group": 2000,
                     "writable_paths": ["/app/logs", "/app_logs", "/home/app", "/tmp"]},
    },
    "variant.writable-root": {
        "name": "variant.writable-root", "image": "registry.internal/batch/legacy:3", "command": ["/run.sh"],
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "security": {"read_only_root_filesystem": False, "service_account_token": True},
    },
}


# --- the jobs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, str]:
    """Run the converter on its test fixtures, as tests/migration does: (spec folder, report text)."""
    from migration.cli import main

    tmp = tmp_path_factory.mktemp("converted")
    inputs = [MIGRATION_FIXTURES / "jenkins_home", MIGRATION_FIXTURES / "jenkinsfiles"]
    main(["jenkins", *map(str, inputs), "--out", str(tmp / "jobs"), "--report-dir", str(tmp / "report")])
    return tmp / "jobs", (tmp / "report" / "migration-report.json").read_text()


@pytest.fixture(scope="module")
def jobs(converted, tmp_path_factory) -> dict[str, dict]:
    """spec name -> (origin, the Job object as the API server receives it)."""
    from batch_platform import settings as platform_settings
    from batch_platform.factory import build_dag
    from batch_platform.spec import load_spec, parse_spec_data

    mp = offline_kubernetes_connection(tmp_path_factory.mktemp("kube"))
    try:
        specs = [("repository", load_spec(p)) for p in sorted((DAGS_FOLDER / "jobs").glob("*.yaml"))]
        specs += [("converter", load_spec(p)) for p in sorted(converted[0].glob("*.yaml"))]
        specs += [("variant", parse_spec_data(data, f"{name}.yaml")) for name, data in VARIANTS.items()]
        platform = platform_settings.load({})
        # A spec without a container (it only starts other DAGs) submits no Job: nothing to admit.
        return {
            spec.name: {"origin": origin, "spec": spec, "job": render_job(build_dag(spec, platform))}
            for origin, spec in specs
            if spec.command is not None
        }
    finally:
        mp.undo()


def test_the_contract_covers_every_spec_in_the_repository_and_from_the_converter(jobs, converted):
    repository = {p.stem for p in (DAGS_FOLDER / "jobs").glob("*.yaml")}
    from_converter = {p.stem for p in converted[0].glob("*.yaml")}
    assert len(repository) >= 3 and len(from_converter) >= 5
    from batch_platform.spec import load_spec

    no_job = {p.stem for p in [*(DAGS_FOLDER / "jobs").glob("*.yaml"), *converted[0].glob("*.yaml")] if load_spec(p).command is None}
    assert set(jobs) == (repository | from_converter | set(VARIANTS)) - no_job
    print(f"\n{len(jobs)} job objects checked per environment, {len(jobs) * len(TIERS)} in all")


@pytest.fixture(scope="module", params=TIERS)
def stack(request) -> dict:
    """What one environment's stack deploys for batch Jobs, from its offline plan."""
    plan = request.getfixturevalue(f"{request.param}_plan")
    kube = [r for r in plan.resources if r.type.startswith("kubernetes:")]
    namespace = next(r.inputs for r in kube if r.type == "kubernetes:core/v1:Namespace" and r.inputs["metadata"]["name"] == "batch-jobs")

    def in_namespace(kind: str) -> list[dict]:
        return [r.inputs for r in kube if r.type.endswith(f":{kind}") and r.inputs["metadata"].get("namespace") == "batch-jobs"]

    (group,) = [r for r in plan.of_type("aws:eks/nodeGroup:NodeGroup") if r.name.endswith(f"-{BATCH}")]
    return {
        "tier": request.param,
        "namespace": namespace,
        "kubernetes_version": plan.one("eks:index:Cluster").inputs["version"],
        "limit_range": in_namespace("LimitRange"),
        "quota": in_namespace("ResourceQuota"),
        "service_accounts": in_namespace("ServiceAccount"),
        "secrets": in_namespace("Secret"),
        "node_labels": group.inputs.get("labels") or {},
        "node_taints": group.inputs.get("taints") or [],
    }


def pod_of(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


def each_job(jobs):
    return sorted(jobs.items())


# --- Pod Security ------------------------------------------------------------------------------------


def test_every_job_pod_passes_the_level_the_namespace_enforces(jobs, stack):
    level, version = pss.enforced(stack["namespace"])
    assert (level, version) == ("restricted", pss.parse_version(f"v{stack['kubernetes_version']}"))
    found = {name: [str(v) for v in pss.check_object(entry["job"], level, version)] for name, entry in each_job(jobs)}
    assert {name: v for name, v in found.items() if v} == {}


def test_job_pods_get_the_documented_security_context(jobs):
    for name, entry in each_job(jobs):
        pod, security = pod_of(entry["job"]), entry["spec"].security
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": security.run_as_user,
            "runAsGroup": security.run_as_group,
            "fsGroup": security.effective_fs_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        }, name
        assert pod.get("automountServiceAccountToken") is security.service_account_token, name
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["readOnlyRootFilesystem"] is security.read_only_root_filesystem, name
            writable = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/tmp", "/workspace", *security.writable_paths} <= writable, name
        assert all("emptyDir" in v for v in pod["volumes"]), name
    assert jobs["variant.fixed-uid"]["job"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 1000


def test_volumes_and_mounts_pass_the_api_servers_own_checks(jobs):
    """What the schema cannot say and the API server refuses: duplicate volume names or mount paths, a
    mount of a volume that does not exist, a name that is not a DNS-1123 label."""
    import re

    for name, entry in each_job(jobs):
        pod = pod_of(entry["job"])
        volumes = [v["name"] for v in pod["volumes"]]
        assert len(volumes) == len(set(volumes)), name
        assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", v) for v in volumes), volumes
        for container in pod["containers"]:
            paths = [m["mountPath"] for m in container["volumeMounts"]]
            assert len(paths) == len(set(paths)), name
            assert {m["name"] for m in container["volumeMounts"]} <= set(volumes), name


# --- OpenAPI ------------------------------------------------------------------------------------------


def test_every_job_matches_the_strict_openapi_schema_of_the_deployed_kubernetes(jobs, stack):
    for name, entry in each_job(jobs):
        k8s_objects.validate(entry["job"], stack["kubernetes_version"])


# --- LimitRange and ResourceQuota -------------------------------------------------------------------


def admitted_resources(container: dict, limit_ranges: list[dict]) -> dict[str, dict[str, str]]:
    """The container's resources after API defaulting (request = limit when only a limit is set)
    and the LimitRanger admission plugin (defaultRequest / default fill what is unset)."""
    resources = container.get("resources") or {}
    requests, limits = dict(resources.get("requests") or {}), dict(resources.get("limits") or {})
    for name, value in limits.items():
        requests.setdefault(name, value)
    for limit_range in limit_ranges:
        for item in limit_range["spec"]["limits"]:
            if item["type"] != "Container":
                continue
            for name, value in (item.get("default") or {}).items():
                limits.setdefault(name, value)
            for name, value in (item.get("defaultRequest") or {}).items():
                requests.setdefault(name, value)
    return {"requests": requests, "limits": limits}


def resource_problems(pod: dict, limit_ranges: list[dict], quotas: list[dict]) -> list[str]:
    problems = []
    totals: dict[str, float] = {}
    for container in pod["containers"] + pod.get("initContainers", []):
        admitted = admitted_resources(container, limit_ranges)
        where = f"container {container['name']!r}"
        for name, request in admitted["requests"].items():
            limit = admitted["limits"].get(name)
            if limit is not None and parse_quantity(request) > parse_quantity(limit):
                problems.append(f"{where}: request {name}={request} above its limit {limit} (the API refuses the pod)")
        for limit_range in limit_ranges:
            for item in limit_range["spec"]["limits"]:
                if item["type"] != "Container":
                    continue
                for name, ceiling in (item.get("max") or {}).items():
                    for kind in ("requests", "limits"):
                        value = admitted[kind].get(name)
                        if value is None:
                            problems.append(f"{where}: no {kind}.{name} although the LimitRange sets a max")
                        elif parse_quantity(value) > parse_quantity(ceiling):
                            problems.append(f"{where}: {kind}.{name}={value} above the LimitRange max {ceiling}")
                for name, floor in (item.get("min") or {}).items():
                    value = admitted["requests"].get(name)
                    if value is None or parse_quantity(value) < parse_quantity(floor):
                        problems.append(f"{where}: requests.{name}={value} below the LimitRange min {floor}")
        for kind in ("requests", "limits"):
            for name, value in admitted[kind].items():
                totals[f"{kind}.{name}"] = totals.get(f"{kind}.{name}", 0) + parse_quantity(value)
    for quota in quotas:
        for name, hard in quota["spec"]["hard"].items():
            if name.startswith(("requests.", "limits.")):
                if name not in totals:
                    problems.append(f"pod sets no {name}, which the ResourceQuota tracks (the API refuses it)")
                elif totals[name] > parse_quantity(hard):
                    problems.append(f"pod needs {name}={totals[name]}, more than the whole namespace quota {hard}")
    return problems


def test_every_job_fits_the_namespace_limit_range_and_quota(jobs, stack):
    assert stack["limit_range"] and stack["quota"]
    found = {name: resource_problems(pod_of(e["job"]), stack["limit_range"], stack["quota"]) for name, e in each_job(jobs)}
    assert {name: p for name, p in found.items() if p} == {}


def test_the_resource_check_fails_on_a_pod_the_namespace_refuses(stack):
    def pod(resources):
        return {"containers": [{"name": "main", "resources": resources}]}

    ranges, quotas = stack["limit_range"], stack["quota"]
    assert resource_problems(pod({"requests": {"cpu": "100", "memory": "1Gi"}}), ranges, quotas)
    assert resource_problems(pod({"requests": {"cpu": "4"}}), ranges, quotas)  # above the default limit 2
    assert resource_problems(pod({"limits": {"memory": "1Ti"}}), ranges, quotas)
    assert resource_problems(pod({"requests": {"cpu": "1", "memory": "1Gi"}}), [], quotas)  # quota needs limits
    assert resource_problems(pod({}), ranges, quotas) == []


# --- scheduling ---------------------------------------------------------------------------------------


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Kubernetes' matching: same key (or an empty key with Exists), Equal value or Exists, same effect
    (or an empty effect)."""
    for t in tolerations:
        key_ok = t.get("key") == taint["key"] or (not t.get("key") and t.get("operator") == "Exists")
        value_ok = t.get("operator") == "Exists" or t.get("value", "") == taint.get("value", "")
        effect_ok = not t.get("effect") or t["effect"] == taint["effect"]
        if key_ok and value_ok and effect_ok:
            return True
    return False


def test_every_job_lands_on_the_batch_node_group_as_the_cluster_builds_it(jobs, stack):
    labels = stack["node_labels"]
    taints = [{**t, "effect": KUBERNETES_TAINT_EFFECTS[t["effect"]]} for t in stack["node_taints"]]
    assert labels and taints
    for name, entry in each_job(jobs):
        pod = pod_of(entry["job"])
        selector = pod.get("nodeSelector") or {}
        assert selector and all(labels.get(k) == v for k, v in selector.items()), (name, selector, labels)
        for taint in taints:
            if taint["effect"] in ("NoSchedule", "NoExecute"):
                assert tolerates(pod.get("tolerations") or [], taint), (name, taint)


def test_the_scheduling_check_fails_on_a_pod_the_batch_nodes_refuse(stack):
    taint = {**stack["node_taints"][0], "effect": KUBERNETES_TAINT_EFFECTS[stack["node_taints"][0]["effect"]]}
    assert not tolerates([{"key": taint["key"], "operator": "Equal", "value": "system", "effect": "NoSchedule"}], taint)
    assert not tolerates([], taint)
    assert tolerates([{"key": taint["key"], "operator": "Exists"}], taint)


# --- identity: service account and Secrets ------------------------------------------------------------


def referenced_secrets(pod: dict) -> set[str]:
    names = {s["name"] for s in pod.get("imagePullSecrets") or ()}
    for container in pod["containers"] + pod.get("initContainers", []):
        names |= {e["secretRef"]["name"] for e in container.get("envFrom") or () if "secretRef" in e}
        names |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env") or ()
                  if "secretKeyRef" in (e.get("valueFrom") or {})}
    for volume in pod.get("volumes") or ():
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or ():
            if "secret" in source:
                names.add(source["secret"]["name"])
    return names


def operator_secrets_documented() -> str:
    return (DOCS / "airflow.md").read_text() + (DOCS / "migrating-from-jenkins.md").read_text()


def test_every_job_runs_as_the_stacks_service_account(jobs, stack):
    (account,) = [a for a in stack["service_accounts"] if a["metadata"]["name"] == "batch-job-runner"]
    assert account["automountServiceAccountToken"] is False
    for name, entry in each_job(jobs):
        assert pod_of(entry["job"])["serviceAccountName"] == account["metadata"]["name"], name


def test_every_secret_a_job_reads_is_created_by_the_stack_or_documented(jobs, stack, converted):
    by_stack = {s["metadata"]["name"] for s in stack["secrets"]}
    documented = operator_secrets_documented()
    report = json.loads(converted[1])
    undocumented = {}
    for name, entry in each_job(jobs):
        for secret in sorted(referenced_secrets(pod_of(entry["job"])) - by_stack):
            if entry["origin"] == "repository":
                ok = f"`{secret}`" in documented  # the example jobs' Secrets are listed in the docs
            elif entry["origin"] == "converter":
                # The migration report tells the operator which Secret to create, job by job.
                ok = any(secret in item for job in report["jobs"] if job.get("dag_id") == name for item in job["mapped"])
            else:
                ok = False
            if not ok:
                undocumented.setdefault(name, []).append(secret)
    assert undocumented == {}
    assert "kubectl -n batch-jobs create secret generic" in documented  # how an operator creates them


# --- the check fails where admission would refuse ---------------------------------------------------


def test_the_operators_defaults_alone_are_refused(jobs, stack, tmp_path):
    """Without the library's security settings (the factory before this contract), every pod breaks
    four controls of ``restricted``: the check sees what admission refuses."""
    from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
    from airflow.sdk import DAG

    from batch_platform import settings as platform_settings
    from batch_platform.factory import dag_kwargs, job_operator_kwargs
    from batch_platform.security import operator_security_kwargs

    spec = jobs["finance.ledger-export"]["spec"]
    platform = platform_settings.load({})
    kwargs = job_operator_kwargs(spec, platform)
    for key in operator_security_kwargs(spec, "/workspace"):
        kwargs.pop(key)
    mp = offline_kubernetes_connection(tmp_path)
    try:
        with DAG(**dag_kwargs(spec, platform)) as dag:
            KubernetesJobOperator(**kwargs)
        job = render_job(dag)
    finally:
        mp.undo()
    level, version = pss.enforced(stack["namespace"])
    assert {v.control.name for v in pss.check_object(job, level, version)} == {
        "Privilege Escalation", "Running as Non-root", "Seccomp", "Capabilities",
    }


def _breakable(job: dict) -> dict:
    """The job's pod with an init container like its main one and a port: every control can be broken."""
    import copy

    pod = copy.deepcopy(pod_of(job))
    main = pod["containers"][0]
    # The library sets runAsNonRoot on the pod and on the container; the pod-level cases break the pod's.
    main["securityContext"].pop("runAsNonRoot")
    main["ports"] = [{"containerPort": 8080}]
    pod["initContainers"] = [{**copy.deepcopy(main), "name": "init", "ports": []}]
    return pod


def test_each_pod_security_control_fails_the_contract_on_a_job_that_breaks_it(jobs, stack):
    """Every control of the table, broken in the real Job of a spec, fails the contract's check."""
    import copy

    from tests.infra.test_pod_security import BREAKS

    level, version = pss.enforced(stack["namespace"])
    job = jobs["variant.fixed-uid"]["job"]
    failing = set()
    for control, breaking in BREAKS:
        pod = _breakable(job)
        breaking(pod)
        meta = copy.deepcopy(job["spec"]["template"]["metadata"])
        meta.setdefault("annotations", {}).update((pod.pop("_meta", {}) or {}).get("annotations", {}))
        broken = copy.deepcopy(job)
        broken["spec"]["template"] = {"metadata": meta, "spec": pod}
        found = {v.control.id for v in pss.check_object(broken, level, version)}
        assert found == {control}, (control, found)
        failing.add(control)
    assert failing == {c.id for c in pss.controls_for(level, version)}

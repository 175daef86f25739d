"""Measure the Airflow chart the way users measure Helm output: checkov on the chart rendered with our
values and with the chart's defaults, and the Pod Security check on every pod we would deploy.

    make checkov CHART=/path/to/airflow [STACK=prod]
    python scripts/checkov_chart.py CHART_DIR [--stack prod] [--checkov-venv build/checkov-venv]

CHART_DIR is what ``helm pull apache-airflow/airflow --version 1.22.0 --untar`` gives (the version in
infra/versions.py). Our values are exactly those the stack's offline plan hands to the Helm release
(placeholder ARNs and image); the render uses the Helm SDK (helm-python-sdk) and checkov both from
their own venv (scripts/checkov/requirements.txt). Prints, for both renders, checkov's failed and
passed counts and the failure rate (failed / (passed + failed)), then every check that still fails
with our values, then the Pod Security violations of our render at the level the airflow namespace
enforces, then any container whose root file system is writable or that lacks a writable volume
where tests/e2e lets its component write. Exit status 1 when our rate is above half the defaults',
any pod breaks the standard, a container fails the root file system check, or the task pods'
service account is not rendered as the values ask (once, IRSA-annotated, bound to launch Jobs).
Writes its files under build/checkov/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RENDER = ROOT / "scripts" / "checkov" / "render_chart.py"


def plan_values(stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the values of the Airflow release, the airflow Namespace object) in the stack's offline plan of
    a steady-state ``up``: the stack's repository holds this checkout's image (so it runs by digest)
    and the git-sync key exists, as on every ``up`` after the first."""
    from infra.airflow_image import checkout_tag
    from stacks.airflow_image import image_repository_name
    from stacks.environment import PROJECT
    from stacks.offline import canned, run_plan

    steady = {
        **canned.repositories_found({image_repository_name(PROJECT, stack): [checkout_tag()]}),
        **canned.secrets_found([f"batch-platform/{stack}/airflow/git-ssh-key"]),
    }
    plan = run_plan(stack, invokes=steady)
    release = plan.one("kubernetes:helm.sh/v3:Release", f"{stack}-airflow-release")
    namespace = next(
        r for r in plan.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == release.inputs["namespace"]
    )
    return release.raw_inputs["values"], namespace.inputs


def render(venv: Path, chart: Path, out: Path, values: Path | None, namespace: str) -> None:
    command = [str(venv / "bin" / "python"), str(RENDER), str(chart), str(out), "--namespace", namespace]
    if values is not None:
        command += ["--values", str(values)]
    subprocess.run(command, check=True)


def run_checkov(venv: Path, manifest: Path) -> dict[str, Any]:
    """checkov's JSON report of one multi-document manifest (kubernetes framework)."""
    result = subprocess.run(
        [str(venv / "bin" / "checkov"), "--framework", "kubernetes", "-f", str(manifest), "-o", "json", "--quiet",
         "--compact", "--skip-download"],
        capture_output=True, text=True,
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"checkov failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    report = json.loads(result.stdout or "{}")
    if isinstance(report, list):  # one entry per framework
        report = next((r for r in report if r.get("check_type") == "kubernetes"), report[0] if report else {})
    return report


def rate(report: dict[str, Any]) -> tuple[int, int, float]:
    summary = report.get("summary") or {}
    failed, passed = int(summary.get("failed", 0)), int(summary.get("passed", 0))
    return failed, passed, failed / (failed + passed) if failed + passed else 0.0


def failed_checks(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(check id, check name, resource) of every failed check."""
    failed = (report.get("results") or {}).get("failed_checks") or []
    return sorted((c.get("check_id", "?"), c.get("check_name", "?"), c.get("resource", "?")) for c in failed)


def pod_violations(manifest: Path, namespace: dict[str, Any]) -> dict[str, list[str]]:
    import yaml

    from infra import pod_security as pss

    level, version = pss.enforced(namespace)
    objects = [doc for doc in yaml.safe_load_all(manifest.read_text()) if isinstance(doc, dict)]
    templates = [
        yaml.safe_load(doc["data"]["pod_template_file.yaml"])
        for doc in objects
        if doc.get("kind") == "ConfigMap" and "pod_template_file.yaml" in (doc.get("data") or {})
    ]
    found = pss.check_objects(objects + [t for t in templates if isinstance(t, dict)], level, version)
    return {name: [str(v) for v in violations] for name, violations in found.items()}


def rendered_pods(manifest: Path) -> list[tuple[str, dict[str, Any]]]:
    """(owner, pod spec) of every Deployment, StatefulSet and Job, and of the executor's pod template."""
    import yaml

    pods = []
    for doc in yaml.safe_load_all(manifest.read_text()):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") in ("Deployment", "StatefulSet", "Job"):
            pods.append((f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]))
        elif doc.get("kind") == "CronJob":
            pods.append((f"CronJob/{doc['metadata']['name']}", doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif doc.get("kind") == "ConfigMap" and "pod_template_file.yaml" in (doc.get("data") or {}):
            pods.append(("pod template", yaml.safe_load(doc["data"]["pod_template_file.yaml"])["spec"]))
    return pods


def root_file_system_problems(manifest: Path) -> list[str]:
    """Containers with a writable root; Airflow and git-sync containers without the writable paths
    infra.airflow_security.WRITABLE_PATHS gives them (the e2e write check allows those); and a writable
    volume git-sync shares with another container (its HOME holds its git config)."""
    from infra.airflow_security import CHART_CONTAINERS, WRITABLE_PATHS

    problems = []
    for owner, spec in rendered_pods(manifest):
        containers = spec.get("initContainers", []) + spec.get("containers", [])

        def writable_volumes(container: dict[str, Any]) -> set[str]:
            return {m["name"] for m in container.get("volumeMounts", []) if not m.get("readOnly")}

        for git_sync in (c for c in containers if CHART_CONTAINERS.get(c["name"]) == "gitSync"):
            for other in containers:
                shared = writable_volumes(git_sync) & writable_volumes(other)
                if CHART_CONTAINERS.get(other["name"]) != "gitSync" and shared:
                    problems.append(f"{owner} {git_sync['name']}: shares its writable volume {', '.join(sorted(shared))} with {other['name']}")
        for container in containers:
            where = f"{owner} {container['name']}"
            if not (container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
                problems.append(f"{where}: root file system not read-only")
            component = CHART_CONTAINERS.get(container["name"])
            if component is None:
                continue
            writable = {m["mountPath"] for m in container.get("volumeMounts", []) if not m.get("readOnly")}
            missing = sorted(set(WRITABLE_PATHS[component]) - writable)
            if missing:
                problems.append(f"{where}: no writable volume at {', '.join(missing)}")
    return problems


def worker_account_problems(manifest: Path, values: dict[str, Any]) -> list[str]:
    """The task pods' service account as the values ask for it (docs/known-limitations.md): rendered
    once, with the IRSA annotation, named by the pod template, and allowed to launch the batch Jobs."""
    import yaml

    account = values["workers"]["kubernetes"]["serviceAccount"]
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if isinstance(d, dict)]
    problems = []
    accounts = [d for d in docs if d.get("kind") == "ServiceAccount" and d["metadata"]["name"] == account["name"]]
    if len(accounts) != 1:
        problems.append(f"ServiceAccount/{account['name']}: rendered {len(accounts)} times, expected once")
    for found in accounts:
        annotations = found["metadata"].get("annotations") or {}
        for key, value in (account.get("annotations") or {}).items():
            if annotations.get(key) != value:
                problems.append(f"ServiceAccount/{account['name']}: annotation {key} is {annotations.get(key)!r}, expected {value!r}")
    templates = [name_and_spec for name_and_spec in rendered_pods(manifest) if name_and_spec[0] == "pod template"]
    for _, spec in templates:
        if spec.get("serviceAccountName") != account["name"]:
            problems.append(f"pod template: serviceAccountName {spec.get('serviceAccountName')!r}, expected {account['name']!r}")
    if not templates:
        problems.append("no KubernetesExecutor pod template rendered")
    launchers = [d for d in docs if d.get("kind") == "RoleBinding" and d["roleRef"]["name"].endswith("job-launcher-role")]
    if not any(s.get("name") == account["name"] for d in launchers for s in d.get("subjects") or []):
        problems.append(f"ServiceAccount/{account['name']}: not bound to the job launcher role (task pods launch Jobs)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="checkov on the Airflow chart: our values against the defaults")
    parser.add_argument("chart", type=Path, help="chart directory (helm pull ... --untar)")
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--checkov-venv", type=Path, default=ROOT / "build" / "checkov-venv")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "checkov")
    args = parser.parse_args(argv)
    if not (args.chart / "Chart.yaml").is_file():
        print(f"error: {args.chart} is not a chart directory (no Chart.yaml); get one with "
              "helm pull apache-airflow/airflow --version <infra/versions.py AIRFLOW_CHART_VERSION> --untar", file=sys.stderr)
        return 2
    if not (args.checkov_venv / "bin" / "checkov").exists():
        print(f"error: no checkov in {args.checkov_venv}; run make checkov, which builds it", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    values, namespace = plan_values(args.stack)
    values_file = args.out / f"values-{args.stack}.json"
    values_file.write_text(json.dumps(values, indent=2, sort_keys=True))
    ours, defaults = args.out / f"rendered-{args.stack}.yaml", args.out / "rendered-defaults.yaml"
    render(args.checkov_venv, args.chart, ours, values_file, namespace["metadata"]["name"])
    render(args.checkov_venv, args.chart, defaults, None, namespace["metadata"]["name"])

    our_report, default_report = run_checkov(args.checkov_venv, ours), run_checkov(args.checkov_venv, defaults)
    of, op, our_rate = rate(our_report)
    df, dp, default_rate = rate(default_report)
    print(f"chart defaults: {df} failed, {dp} passed: failure rate {default_rate:.1%}")
    print(f"our values ({args.stack}): {of} failed, {op} passed: failure rate {our_rate:.1%}")
    checks = failed_checks(our_report)
    print(f"\nchecks failing with our values ({len(checks)}), by check:")
    for (check_id, name), count in sorted(Counter((c[0], c[1]) for c in checks).items()):
        resources = ", ".join(sorted({c[2] for c in checks if c[0] == check_id}))
        print(f"  {check_id} x{count} {name}: {resources}")

    violations = pod_violations(ours, namespace)
    level = namespace["metadata"]["labels"].get("pod-security.kubernetes.io/enforce")
    print(f"\nPod Security ({level}) violations of the pods we deploy: {sum(map(len, violations.values()))}")
    for name, items in sorted(violations.items()):
        for item in items:
            print(f"  {name}: {item}")
    root_problems = root_file_system_problems(ours)
    print(f"\nRead-only root file systems and writable volumes of the pods we deploy: {len(root_problems)} problems")
    for problem in root_problems:
        print(f"  {problem}")
    account_problems = worker_account_problems(ours, values)
    print(f"\nThe task pods' service account: {len(account_problems)} problems")
    for problem in account_problems:
        print(f"  {problem}")
    if violations or root_problems or account_problems or (default_rate and our_rate > default_rate / 2):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

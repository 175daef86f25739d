"""Airflow's own pods pass the ``restricted`` standard the airflow namespace enforces, from our values.

The chart cannot be vendored here, so these tests take the security settings each chart component
gets from our values (pod context, main container, its init containers and sidecars: the
containers chart 1.22.0 renders for our configuration) and check each pod with the Pod Security
controls at the level and version the airflow Namespace object enforces. scripts/checkov_chart.py
renders the real chart from a chart directory and applies the same check to every pod it renders.
"""

from __future__ import annotations

import copy

import pytest

from infra import airflow_security as sec
from infra import pod_security as pss
from infra.airflow import airflow_namespace_object
from infra.airflow_values import ChartValues
from stacks.airflow_wiring import airflow_settings
from stacks.config import load_stack_file, stack_file
from tests.infra.test_airflow_values import values_for

# chart component -> (containers, init containers, sidecars), each naming where its security
# context comes from in the values (a dotted path under the component, or a top-level path).
COMPONENT_CONTAINERS = {
    "scheduler": ["scheduler", "waitForMigrations"],
    "apiServer": ["apiServer", "waitForMigrations"],
    "dagProcessor": ["dagProcessor", "waitForMigrations", "gitSync"],
    "triggerer": ["triggerer", "waitForMigrations", "gitSync"],
    "workers": ["workers", "gitSync"],  # the KubernetesExecutor's pod template (git-sync init container)
    "migrateDatabaseJob": ["migrateDatabaseJob"],
    "createUserJob": ["createUserJob"],
    "pgbouncer": ["pgbouncer", "metricsExporterSidecar"],
    "statsd": ["statsd"],
}


def container_context(values: dict, component: str, container: str) -> dict:
    if container == "gitSync":
        return values["dags"]["gitSync"]["securityContexts"]["container"]
    if container == component:
        return values[component]["securityContexts"]["container"]
    return values[component][container]["securityContexts"]["container"]


def pod_for(values: dict, component: str) -> dict:
    containers = [{"name": c, "securityContext": container_context(values, component, c)} for c in COMPONENT_CONTAINERS[component]]
    return {
        "securityContext": values[component]["securityContexts"]["pod"],
        "containers": containers[:1],
        "initContainers": containers[1:],
        "volumes": [{"name": "config", "configMap": {"name": "airflow-config"}}, {"name": "logs", "emptyDir": {}}],
    }


@pytest.fixture(scope="module", params=["dev", "prod"])
def tier(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def values(tier) -> dict:
    return values_for(tier, "db.t4g.medium" if tier == "dev" else "db.m7g.large")


@pytest.fixture(scope="module")
def enforced() -> tuple[str, tuple[int, int]]:
    settings = airflow_settings(load_stack_file(stack_file("prod")))
    return pss.enforced(airflow_namespace_object(settings.namespace, settings.kubernetes_version))


def test_the_airflow_namespace_enforces_restricted(enforced):
    assert enforced == ("restricted", (1, 35))


@pytest.mark.parametrize("component", sorted(COMPONENT_CONTAINERS))
def test_every_component_pod_passes_the_namespace_level(values, enforced, component):
    level, version = enforced
    assert [str(v) for v in pss.check_pod({}, pod_for(values, component), level, version)] == []


def test_every_component_of_the_chart_we_run_is_covered(values):
    """A component enabled in our values without security settings here would go unchecked."""
    enabled = {"scheduler", "apiServer", "dagProcessor", "triggerer", "workers", "migrateDatabaseJob", "createUserJob",
               "pgbouncer", "statsd"}
    assert set(COMPONENT_CONTAINERS) == enabled
    for component in enabled:
        assert values[component]["securityContexts"]["pod"]["runAsNonRoot"] is True


def test_the_check_fails_when_a_value_is_dropped(values, enforced):
    broken = copy.deepcopy(values)
    del broken["pgbouncer"]["metricsExporterSidecar"]["securityContexts"]["container"]["capabilities"]
    found = pss.check_pod({}, pod_for(broken, "pgbouncer"), *enforced)
    assert [v.control.id for v in found] == ["capabilities_restricted"]
    broken["scheduler"]["securityContexts"]["pod"]["runAsUser"] = 0
    assert "runAsUser" in {v.control.id for v in pss.check_pod({}, pod_for(broken, "scheduler"), *enforced)}


def test_users_match_the_images(values):
    assert (values["uid"], values["gid"]) == (50000, 0)  # the official Airflow image's airflow user
    assert values["scheduler"]["securityContexts"]["pod"]["runAsUser"] == 50000
    assert values["pgbouncer"]["securityContexts"]["pod"]["runAsUser"] == values["pgbouncer"]["uid"] == 65534
    assert values["statsd"]["securityContexts"]["pod"]["runAsUser"] == 65534
    assert values["dags"]["gitSync"]["securityContexts"]["container"]["runAsUser"] == values["dags"]["gitSync"]["uid"] == 65533
    assert values["statsd"]["securityContexts"]["container"]["readOnlyRootFilesystem"] is True


def test_only_components_that_call_the_kubernetes_api_mount_its_token(values):
    for component in ("dagProcessor", "migrateDatabaseJob", "createUserJob", "pgbouncer", "statsd"):
        assert values[component]["serviceAccount"]["automountServiceAccountToken"] is False, component
    for component in ("apiServer", "triggerer"):
        assert "automountServiceAccountToken" not in values[component]["serviceAccount"], component
    assert "automountServiceAccountToken" not in values["workers"]["kubernetes"]["serviceAccount"]
    # The scheduler keeps its token, as a volume its pod declares (chart: serviceAccountTokenVolume).
    scheduler = values["scheduler"]["serviceAccount"]
    assert scheduler["automountServiceAccountToken"] is False
    assert scheduler["serviceAccountTokenVolume"] == {"enabled": True, "expirationSeconds": 3600}


def test_every_container_has_a_read_only_root_and_a_writable_tmp(values):
    for component, containers in COMPONENT_CONTAINERS.items():
        for container in containers:
            assert container_context(values, component, container)["readOnlyRootFilesystem"] is True, (component, container)
    assert values["securityContexts"]["containers"]["readOnlyRootFilesystem"] is True
    # The chart gives every Airflow container the top-level volumes and mounts; git-sync its own.
    assert values["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    assert values["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    # git-sync gets a /tmp of its own in each pod it runs in (its HOME: no Airflow container shares it).
    assert values["dags"]["gitSync"]["extraVolumeMounts"] == [{"name": "git-sync-tmp", "mountPath": "/tmp"}]
    own = [{"name": "git-sync-tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    assert values["dagProcessor"]["extraVolumes"] == values["triggerer"]["extraVolumes"] == own
    assert values["workers"]["kubernetes"]["extraVolumes"] == own


def test_a_writable_root_or_a_tmp_elsewhere_is_refused_by_the_model():
    good = sec.security_values("airflow")
    for path, value in ((("volumeMounts", 0, "mountPath"), "/var/tmp"), (("volumes", 0, "name"), "scratch")):
        broken = copy.deepcopy(good)
        broken[path[0]][path[1]][path[2]] = value
        with pytest.raises(ValueError):
            sec.SecurityValues.model_validate(broken)
    broken = copy.deepcopy(good)
    broken["scheduler"]["serviceAccount"]["serviceAccountTokenVolume"]["expirationSeconds"] = 60
    with pytest.raises(ValueError):
        sec.SecurityValues.model_validate(broken)


def test_network_policies_are_on_and_the_api_server_admits_airflow_pods_and_the_vpc(values, tier):
    assert values["networkPolicies"] == {"enabled": True}
    ingress = values["apiServer"]["networkPolicy"]["ingress"]
    assert ingress["ports"] == [{"port": 8080}]
    assert {"podSelector": {"matchLabels": {"tier": "airflow", "release": "airflow"}}} in ingress["from"]
    vpc = str(load_stack_file(stack_file(tier)).network.vpc_cidr)
    assert [s["ipBlock"] for s in ingress["from"] if "ipBlock" in s] == [{"cidr": vpc}]


def test_security_values_are_validated_and_merged_without_overwriting():
    with pytest.raises(ValueError, match="set twice"):
        sec.merge({"uid": 1}, {"uid": 2})
    values = sec.security_values("airflow", ("10.0.0.0/16",))
    assert sec.merge({"scheduler": {"replicas": 2}}, values)["scheduler"]["replicas"] == 2
    broken = copy.deepcopy(values)
    broken["scheduler"]["securityContexts"]["container"]["allowPrivilegeEscalation"] = True
    with pytest.raises(Exception, match="allowPrivilegeEscalation"):
        sec.SecurityValues.model_validate(broken)


def test_the_chart_values_model_still_checks_the_rest(values):
    """The security values are merged after ChartValues validated everything else."""
    rest = {k: v for k, v in values.items()
            if k not in ("uid", "gid", "securityContexts", "networkPolicies", "volumes", "volumeMounts")}
    for key in list(rest):
        if isinstance(rest[key], dict):
            rest[key] = {k: v for k, v in rest[key].items()
                         if k not in ("securityContexts", "waitForMigrations", "networkPolicy", "uid", "extraVolumes")}
            if isinstance(rest[key].get("serviceAccount"), dict):
                rest[key]["serviceAccount"] = {
                    k: v for k, v in rest[key]["serviceAccount"].items()
                    if k not in ("automountServiceAccountToken", "serviceAccountTokenVolume")
                }
    rest["pgbouncer"]["metricsExporterSidecar"] = {
        k: v for k, v in rest["pgbouncer"]["metricsExporterSidecar"].items() if k != "securityContexts"
    }
    rest["dags"]["gitSync"] = {k: v for k, v in rest["dags"]["gitSync"].items() if k not in ("securityContexts", "uid", "extraVolumeMounts")}
    rest["workers"]["kubernetes"] = {k: v for k, v in rest["workers"]["kubernetes"].items() if k != "extraVolumes"}
    for key in ("workers", "migrateDatabaseJob", "createUserJob", "statsd"):
        assert "securityContexts" not in rest[key]
    ChartValues.model_validate(rest)


# --- egress NetworkPolicies (ours; the chart's cover ingress) ---------------------------------------


def test_egress_policies_match_the_schema_and_give_pgbouncer_alone_the_database(prod_plan):
    from infra import k8s_objects
    from infra.cidr import plan_subnets

    config = load_stack_file(stack_file("prod"))
    policies = {
        r.inputs["metadata"]["name"]: r.inputs
        for r in prod_plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["namespace"] == "airflow"
    }
    assert {"airflow-default-deny-egress", "airflow-allow-dns", "airflow-allow-in-namespace", "airflow-allow-https-egress",
            "airflow-allow-smtp-egress", "airflow-pgbouncer-database-egress"} <= set(policies)
    for policy in policies.values():
        k8s_objects.validate(policy, config.cluster.kubernetes_version)
        assert policy["spec"]["policyTypes"] == ["Egress"]
    database = policies["airflow-pgbouncer-database-egress"]["spec"]
    assert database["podSelector"] == {"matchLabels": {"tier": "airflow", "component": "pgbouncer", "release": "airflow"}}
    (rule,) = database["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert [t["ipBlock"]["cidr"] for t in rule["to"]] == [
        str(c) for c in plan_subnets(config.network.vpc_cidr, config.network.az_count).database
    ]
    https = policies["airflow-allow-https-egress"]["spec"]["egress"][0]
    assert https["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]
    # Nothing else reaches the database port: every other rule names its ports.
    for name, policy in policies.items():
        for rule in policy["spec"].get("egress", []):
            if name not in ("airflow-pgbouncer-database-egress", "airflow-allow-in-namespace"):
                assert 5432 not in {p["port"] for p in rule["ports"]}, name


def test_git_over_ssh_opens_port_22_and_a_missing_database_is_an_error():
    kwargs = dict(namespace="airflow", release_name="airflow", database_cidrs=("10.0.8.0/24",), database_port=5432)
    names = lambda objects: {o["metadata"]["name"] for o in objects}  # noqa: E731
    assert "airflow-allow-git-ssh-egress" in names(sec.egress_policy_objects(**kwargs, git_over_ssh=True))
    assert "airflow-allow-git-ssh-egress" not in names(sec.egress_policy_objects(**kwargs, git_over_ssh=False))
    with pytest.raises(ValueError, match="database subnets"):
        sec.egress_policy_objects(**{**kwargs, "database_cidrs": ()}, git_over_ssh=False)

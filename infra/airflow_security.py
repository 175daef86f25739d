"""The security posture of Airflow's own pods: chart security contexts that pass ``restricted``, and
the chart's NetworkPolicies.

The ``airflow`` namespace enforces the ``restricted`` Pod Security Standard like ``batch-jobs``.
Every pod the chart (1.22.0) renders gets its pod and container security context from the values
below, so that nothing depends on a chart default:

* Airflow containers (scheduler, API server, DAG processor, triggerer, migration and create-user
  jobs, the KubernetesExecutor's task pods through ``workers``, every ``wait-for-airflow-migrations``
  init container) run as the official image's ``airflow`` user (UID 50000, GID 0: the image's files
  belong to group 0 so that any UID in it can run them);
* PgBouncer and its exporter, and StatsD, run as ``nobody`` (65534), the chart's defaults for
  those images; git-sync runs as 65533, the git-sync image's user;
* every pod: ``runAsNonRoot``, seccomp ``RuntimeDefault``; every container: no privilege
  escalation, every capability dropped.

* every container, init containers and task pods included, has a read-only root file system. What
  the processes write goes to volumes: ``/tmp`` is an ``emptyDir`` (``TMP_VOLUME``) in every Airflow
  pod and in git-sync (whose ``HOME`` and gitconfig live there), Airflow's logs go to the chart's
  ``logs`` volume, git-sync's checkout to the ``dags`` volume; PgBouncer opens no Unix socket
  (``infra.pgbouncer``). ``tests/e2e`` records every file the real Airflow components write and
  checks it against these volumes.

Kubernetes API tokens: the service accounts of components that never call the API mount none
(``NO_API_TOKEN``). The scheduler (it launches the task pods) gets its token as the explicit projected
volume the chart offers for it alone (``serviceAccountTokenVolume``: token, CA, namespace, one-hour
expiry refreshed by the kubelet) with the pod's automount off; the API server (pod logs), the
triggerer (it watches the batch Jobs) and the task pods keep the automatic mount.

``security_values`` returns the chart values; ``SecurityValues`` is their strict model (the chart's key
names, ``extra="forbid"``), validated before the values are merged into the rest.

The chart's NetworkPolicies (``networkPolicies.enabled``) restrict ingress only, component by
component. ``egress_policy_objects`` adds the egress side as our own objects: nothing leaves an
Airflow pod but DNS, traffic to the other Airflow pods, HTTPS (AWS APIs through IRSA, the
Kubernetes API, Slack, git over HTTPS) anywhere but the instance metadata service, SMTP submission
(the mail relay of the ``smtp_notifications`` connection), SSH for git-sync when DAGs come over SSH,
and, for PgBouncer alone, the database port towards the database subnets.
"""

from __future__ import annotations

import copy
from typing import Any, Literal, Mapping, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

AIRFLOW_UID = 50000
AIRFLOW_GID = 0
NOBODY_UID = 65534
GIT_SYNC_UID = 65533
API_SERVER_PORT = 8080
IMDS_CIDR = "169.254.169.254/32"
SMTP_PORTS = (587, 465)  # submission with STARTTLS, and over TLS
GIT_SSH_PORT = 22

# Chart components whose pod runs the Airflow image, by values key.
AIRFLOW_COMPONENTS = ("scheduler", "apiServer", "dagProcessor", "triggerer", "workers", "migrateDatabaseJob", "createUserJob")
# Components with the chart's ``wait-for-airflow-migrations`` init container.
WAITING_COMPONENTS = ("scheduler", "apiServer", "dagProcessor", "triggerer")
# Components that never call the Kubernetes API: their service account mounts no API token. (The
# scheduler launches task pods, task pods launch Jobs, the triggerer watches them, the API server
# reads pod logs; IRSA's own projected token does not depend on this setting.)
NO_API_TOKEN = ("dagProcessor", "migrateDatabaseJob", "createUserJob", "pgbouncer", "statsd")


def pod_context(uid: int, gid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


TMP_VOLUME = "tmp"
TMP_SIZE_LIMIT = "1Gi"
"""Room for temporary files in each pod (counted against the node's ephemeral storage)."""


CHART_LOGS_PATH = "/opt/airflow/logs"
"""The chart's ``logs`` volume (an emptyDir without log persistence)."""

# Where each Airflow container can write with our values: the /tmp volume, plus the chart's logs
# volume in the components chart 1.22.0 mounts it in. tests/e2e records what the real components
# write and checks it against this; make checkov checks the real chart's render provides it.
WRITABLE_PATHS: dict[str, tuple[str, ...]] = {
    "scheduler": ("/tmp", CHART_LOGS_PATH),
    "dagProcessor": ("/tmp", CHART_LOGS_PATH),
    "triggerer": ("/tmp", CHART_LOGS_PATH),
    "workers": ("/tmp", CHART_LOGS_PATH),
    "apiServer": ("/tmp",),
    "migrateDatabaseJob": ("/tmp",),
    "createUserJob": ("/tmp",),
    "waitForMigrations": ("/tmp",),
    "gitSync": ("/tmp", "/git"),
}
# The container names chart 1.22.0 gives them (the pod template's task container is "base").
CHART_CONTAINERS = {
    "scheduler": "scheduler",
    "dag-processor": "dagProcessor",
    "triggerer": "triggerer",
    "base": "workers",
    "api-server": "apiServer",
    "run-airflow-migrations": "migrateDatabaseJob",
    "create-user": "createUserJob",
    "wait-for-airflow-migrations": "waitForMigrations",
    "git-sync": "gitSync",
    "git-sync-init": "gitSync",
}


GIT_SYNC_TMP_VOLUME = "git-sync-tmp"
"""git-sync's own /tmp: its HOME, where its gitconfig lives. Not shared with the Airflow containers of
the pod (an emptyDir is world-writable): DAG code must not be able to change git-sync's git config."""
# The pods with a git-sync container (its init container in the task pods' template).
GIT_SYNC_PODS = ("dagProcessor", "triggerer")


def tmp_volumes(name: str = TMP_VOLUME) -> list[dict[str, Any]]:
    return [{"name": name, "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}}]


def tmp_mounts(name: str = TMP_VOLUME) -> list[dict[str, Any]]:
    return [{"name": name, "mountPath": "/tmp"}]


def container_context(*, read_only_root: bool = True, uid: Optional[int] = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
    }
    if uid is not None:
        context["runAsUser"] = uid
    return context


def _contexts(uid: int, gid: int, *, read_only_root: bool = True) -> dict[str, Any]:
    return {"pod": pod_context(uid, gid), "container": container_context(read_only_root=read_only_root)}


def api_server_ingress(release_name: str, ui_source_cidrs: Sequence[str]) -> dict[str, Any]:
    """Who may reach the API server: Airflow's own pods (task pods call its execution API, the
    components its REST API) and the UI's clients (the internal NLB forwards through the nodes'
    NodePorts, so the source is a VPC address)."""
    sources: list[dict[str, Any]] = [{"podSelector": {"matchLabels": {"tier": "airflow", "release": release_name}}}]
    sources += [{"ipBlock": {"cidr": cidr}} for cidr in ui_source_cidrs]
    return {"ingress": {"from": sources, "ports": [{"port": API_SERVER_PORT}]}}


def security_values(release_name: str, ui_source_cidrs: Sequence[str] = (), *, git_sync: bool = True) -> dict[str, Any]:
    """The chart values that make every Airflow pod pass ``restricted`` and turn NetworkPolicies on
    (git-sync's only when DAGs come from git)."""
    airflow = _contexts(AIRFLOW_UID, AIRFLOW_GID)
    wait = {"securityContexts": {"container": container_context()}}
    values: dict[str, Any] = {
        "uid": AIRFLOW_UID,
        "gid": AIRFLOW_GID,
        # Defaults for any Airflow pod the chart adds that has no section of its own here.
        "securityContexts": {"pod": pod_context(AIRFLOW_UID, AIRFLOW_GID), "containers": container_context()},
        # The chart adds these to every Airflow container (init containers, PgBouncer and the task
        # pods' template included): the one writable place besides the chart's own volumes.
        "volumes": tmp_volumes(),
        "volumeMounts": tmp_mounts(),
        "networkPolicies": {"enabled": True},
    }
    for component in AIRFLOW_COMPONENTS:
        values[component] = {"securityContexts": copy.deepcopy(airflow)}
    for component in WAITING_COMPONENTS:
        values[component]["waitForMigrations"] = copy.deepcopy(wait)
    values["apiServer"]["networkPolicy"] = api_server_ingress(release_name, ui_source_cidrs)
    values["pgbouncer"] = {
        "uid": NOBODY_UID,
        "securityContexts": _contexts(NOBODY_UID, NOBODY_UID),
        "metricsExporterSidecar": {"securityContexts": {"container": container_context(read_only_root=True)}},
    }
    values["statsd"] = {"uid": NOBODY_UID, "securityContexts": _contexts(NOBODY_UID, NOBODY_UID, read_only_root=True)}
    if git_sync:
        values["dags"] = {
            "gitSync": {
                "uid": GIT_SYNC_UID,
                "securityContexts": {"container": container_context(uid=GIT_SYNC_UID)},
                # git-sync writes its gitconfig under HOME, which is /tmp in its image: its own volume.
                "extraVolumeMounts": tmp_mounts(GIT_SYNC_TMP_VOLUME),
            }
        }
        for component in GIT_SYNC_PODS:
            values[component]["extraVolumes"] = tmp_volumes(GIT_SYNC_TMP_VOLUME)
        values["workers"]["kubernetes"] = {"extraVolumes": tmp_volumes(GIT_SYNC_TMP_VOLUME)}
    for component in NO_API_TOKEN:
        values[component]["serviceAccount"] = {"automountServiceAccountToken": False}
    # The scheduler needs the API: the same token, CA and namespace as the automatic mount, as a
    # volume the pod spec declares (automountServiceAccountToken: false on the pod itself).
    values["scheduler"]["serviceAccount"] = {
        "automountServiceAccountToken": False,
        "serviceAccountTokenVolume": {"enabled": True, "expirationSeconds": 3600},
    }
    SecurityValues.model_validate(values)
    return values


def _policy(namespace: str, name: str, selector: dict[str, Any], egress: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": selector, "policyTypes": ["Egress"]}
    if egress:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "batch-platform"},
        },
        "spec": spec,
    }


def egress_policy_objects(
    *,
    namespace: str,
    release_name: str,
    database_cidrs: Sequence[str],
    database_port: Optional[int],
    git_over_ssh: bool,
    statsd_cidrs: Sequence[str] = (),
    statsd_port: Optional[int] = None,
) -> list[dict[str, Any]]:
    """The egress NetworkPolicies of the Airflow namespace (they add up: a flow passes if one allows it).

    ``statsd_cidrs``/``statsd_port``: where Airflow's StatsD metrics go (the CloudWatch agent runs on
    the nodes' host network, so its addresses are the nodes'; ``infra.observability``)."""
    if not database_cidrs or database_port is None:
        raise ValueError("PgBouncer's egress needs the database subnets and port")

    def tcp(*ports: int) -> list[dict[str, Any]]:
        return [{"protocol": "TCP", "port": port} for port in ports]

    anywhere_but_imds = [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [IMDS_CIDR]}}]
    policies = [
        _policy(namespace, "airflow-default-deny-egress", {}, []),
        _policy(namespace, "airflow-allow-dns", {}, [{
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }]),
        # PgBouncer, the API server (execution API), StatsD and the log servers: the chart's ingress
        # policies say which of them accepts what.
        _policy(namespace, "airflow-allow-in-namespace", {}, [{"to": [{"podSelector": {}}]}]),
        _policy(namespace, "airflow-allow-https-egress", {}, [{"to": anywhere_but_imds, "ports": tcp(443)}]),
        _policy(namespace, "airflow-allow-smtp-egress", {}, [{"to": anywhere_but_imds, "ports": tcp(*SMTP_PORTS)}]),
        _policy(
            namespace,
            "airflow-pgbouncer-database-egress",
            {"matchLabels": {"tier": "airflow", "component": "pgbouncer", "release": release_name}},
            [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in database_cidrs], "ports": tcp(database_port)}],
        ),
    ]
    if statsd_cidrs and statsd_port is not None:
        policies.append(
            _policy(
                namespace,
                "airflow-allow-statsd-egress",
                {},
                [{"to": [{"ipBlock": {"cidr": c}} for c in statsd_cidrs], "ports": [{"protocol": "UDP", "port": statsd_port}]}],
            )
        )
    if git_over_ssh:
        policies.append(
            _policy(namespace, "airflow-allow-git-ssh-egress", {}, [{"to": anywhere_but_imds, "ports": tcp(GIT_SSH_PORT)}])
        )
    return policies


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, dict by dict; a key both set to a non-dict is a bug."""
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        elif key in out:
            raise ValueError(f"chart value {key!r} is set twice")
        else:
            out[key] = copy.deepcopy(value)
    return out


# --- the strict model of these values (chart 1.22.0 key names) -------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Seccomp(_Strict):
    type: Literal["RuntimeDefault"]


class _PodContext(_Strict):
    runAsNonRoot: Literal[True]
    runAsUser: int = Field(ge=1)
    runAsGroup: int = Field(ge=0)
    fsGroup: int = Field(ge=0)
    seccompProfile: _Seccomp


class _Capabilities(_Strict):
    drop: list[Literal["ALL"]] = Field(min_length=1)


class _ContainerContext(_Strict):
    allowPrivilegeEscalation: Literal[False]
    capabilities: _Capabilities
    readOnlyRootFilesystem: bool
    runAsNonRoot: Literal[True]
    runAsUser: Optional[int] = Field(default=None, ge=1)


class _ContainerOnly(_Strict):
    container: _ContainerContext


class _Contexts(_ContainerOnly):
    pod: _PodContext


class _GlobalContexts(_Strict):
    pod: _PodContext
    containers: _ContainerContext


class _WithContainer(_Strict):
    securityContexts: _ContainerOnly


class _NoToken(_Strict):
    automountServiceAccountToken: Literal[False]


class _TokenVolume(_Strict):
    enabled: Literal[True]
    expirationSeconds: int = Field(ge=600, le=86400)


class _ProjectedToken(_NoToken):
    serviceAccountTokenVolume: _TokenVolume


class _Component(_Strict):
    securityContexts: _Contexts
    serviceAccount: Optional[_NoToken] = None
    extraVolumes: Optional[list[_GitSyncVolume]] = None


class _Workers(_Component):
    kubernetes: Optional[_GitSyncVolumes] = None


class _Waiting(_Component):
    waitForMigrations: _WithContainer


class _Port(_Strict):
    port: int


class _Ingress(_Strict):
    from_: list[dict[str, Any]] = Field(alias="from", min_length=1)
    ports: list[_Port] = Field(min_length=1)


class _NetworkPolicy(_Strict):
    ingress: _Ingress


class _Scheduler(_Waiting):
    serviceAccount: Optional[_ProjectedToken] = None  # type: ignore[assignment]


class _ApiServer(_Waiting):
    networkPolicy: _NetworkPolicy


class _Pgbouncer(_Component):
    uid: int
    metricsExporterSidecar: _WithContainer


class _Statsd(_Component):
    uid: int


class _EmptyDir(_Strict):
    sizeLimit: str


class _Volume(_Strict):
    name: Literal["tmp"]
    emptyDir: _EmptyDir


class _Mount(_Strict):
    name: Literal["tmp"]
    mountPath: Literal["/tmp"]


class _GitSyncVolume(_Strict):
    name: Literal["git-sync-tmp"]
    emptyDir: _EmptyDir


class _GitSyncMount(_Strict):
    name: Literal["git-sync-tmp"]
    mountPath: Literal["/tmp"]


class _GitSyncVolumes(_Strict):
    extraVolumes: list[_GitSyncVolume] = Field(min_length=1)


class _GitSync(_WithContainer):
    uid: int
    extraVolumeMounts: list[_GitSyncMount] = Field(min_length=1)


class _Dags(_Strict):
    gitSync: _GitSync


class _Enabled(_Strict):
    enabled: Literal[True]


class SecurityValues(_Strict):
    """The security values of the chart (1.22.0) this project sets."""

    uid: int
    gid: int
    securityContexts: _GlobalContexts
    volumes: list[_Volume] = Field(min_length=1)
    volumeMounts: list[_Mount] = Field(min_length=1)
    networkPolicies: _Enabled
    scheduler: _Scheduler
    apiServer: _ApiServer
    dagProcessor: _Waiting
    triggerer: _Waiting
    workers: _Workers
    migrateDatabaseJob: _Component
    createUserJob: _Component
    pgbouncer: _Pgbouncer
    statsd: _Statsd
    dags: Optional[_Dags] = None

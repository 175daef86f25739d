"""The Pod Security Standards as data: every control of the official table, checked on pod specs offline.

Source: kubernetes.io, "Pod Security Standards" (concepts/security/pod-security-standards), the table
that Pod Security admission enforces for a namespace labelled ``pod-security.kubernetes.io/enforce``.
Each control below carries the table's name, its level, the Kubernetes version it applies from and
the fields it restricts; its semantics follow the reference implementation the API server runs
(k8s.io/pod-security-admission, package ``policy``: versioned checks, ``restricted`` checks that
replace their ``baseline`` counterpart, Windows pods exempt from the Linux-only restricted checks
since 1.25, pods in a user namespace (``hostUsers: false``) relaxed for the non-root checks and the
baseline ``/proc`` check since 1.35).

No maintained implementation of these rules installs from PyPI, npm or Debian (the reference one is
Go; Kyverno's and the like are Go binaries), so the table is encoded here and every control has a
test that fails on a pod that breaks it (tests/infra/test_pod_security.py). When the table changes
(a new Kubernetes minor), add the control or the version step here with its source.

Objects are plain dicts in the API's JSON shape (what ``kubectl get -o json`` or the chart render
gives). ``check_object`` finds the pod template of a Pod, Job, CronJob, Deployment, StatefulSet,
DaemonSet, ReplicaSet, ReplicationController or PodTemplate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

LEVELS = ("privileged", "baseline", "restricted")
LABEL_PREFIX = "pod-security.kubernetes.io/"

Version = tuple[int, int]
LATEST: Version = (999, 0)

# --- helpers -----------------------------------------------------------------------------------


def parse_version(text: str) -> Version:
    """``v1.35`` / ``1.35`` / ``latest`` -> (1, 35)."""
    if text in ("", "latest"):
        return LATEST
    major, _, minor = text.removeprefix("v").partition(".")
    try:
        return int(major), int(minor.split(".")[0])
    except ValueError:
        raise ValueError(f"expected a Pod Security version such as v1.35 or latest, got {text!r}") from None


def containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Init containers, containers and ephemeral containers: every control applies to all three."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod.get(key) or ()


def _sc(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("securityContext") or {}


def _windows(pod: Mapping[str, Any]) -> bool:
    return (pod.get("os") or {}).get("name") == "windows"


def _user_namespace(pod: Mapping[str, Any]) -> bool:
    return pod.get("hostUsers") is False


def _name(container: Mapping[str, Any]) -> str:
    return str(container.get("name", "?"))


# --- the controls -------------------------------------------------------------------------------

Check = Callable[[Mapping[str, Any], Mapping[str, Any], Version], list[str]]


@dataclass(frozen=True)
class Control:
    """One row of the official table."""

    id: str
    name: str
    """The control's name in the kubernetes.io table."""
    level: str
    since: Version
    fields: str
    """The restricted fields, as the table lists them."""
    check: Check
    """(pod metadata, pod spec, version) -> one message per violation."""
    replaces: Optional[str] = None
    """The baseline control this restricted control supersedes (the stricter check wins)."""


def _host_process(meta, pod, version) -> list[str]:
    bad = []
    if (_sc(pod).get("windowsOptions") or {}).get("hostProcess") is True:
        bad.append("pod sets securityContext.windowsOptions.hostProcess=true")
    for c in containers(pod):
        if (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True:
            bad.append(f"container {_name(c)!r} sets securityContext.windowsOptions.hostProcess=true")
    return bad


def _host_namespaces(meta, pod, version) -> list[str]:
    return [f"pod sets {key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key) is True]


def _privileged(meta, pod, version) -> list[str]:
    return [f"container {_name(c)!r} sets securityContext.privileged=true" for c in containers(pod) if _sc(c).get("privileged") is True]


BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
     "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)


def _capabilities_baseline(meta, pod, version) -> list[str]:
    bad = []
    for c in containers(pod):
        added = [cap for cap in (_sc(c).get("capabilities") or {}).get("add") or () if cap not in BASELINE_CAPABILITIES]
        if added:
            bad.append(f"container {_name(c)!r} adds capabilities {sorted(added)} beyond the baseline set")
    return bad


def _host_path(meta, pod, version) -> list[str]:
    return [f"volume {v.get('name')!r} is a hostPath volume" for v in pod.get("volumes") or () if "hostPath" in v]


def _host_ports(meta, pod, version) -> list[str]:
    bad = []
    for c in containers(pod):
        ports = [p["hostPort"] for p in c.get("ports") or () if p.get("hostPort")]
        if ports:
            bad.append(f"container {_name(c)!r} uses hostPort {ports}")
    return bad


def _host_probes(meta, pod, version) -> list[str]:
    bad = []
    for c in containers(pod):
        handlers = [c.get(k) for k in ("livenessProbe", "readinessProbe", "startupProbe")]
        lifecycle = c.get("lifecycle") or {}
        handlers += [lifecycle.get("postStart"), lifecycle.get("preStop")]
        for handler in handlers:
            for kind in ("httpGet", "tcpSocket"):
                host = ((handler or {}).get(kind) or {}).get("host")
                if host:
                    bad.append(f"container {_name(c)!r} has a probe or lifecycle {kind} host {host!r}")
    return bad


APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _profiles_outside(pod, field: str, allowed: tuple[str, ...]) -> list[str]:
    """Pod and container security-context profiles (seccomp, AppArmor) whose type is not allowed."""
    bad = []
    profile = _sc(pod).get(field)
    if profile is not None and profile.get("type") not in allowed:
        bad.append(f"pod sets {field}.type {profile.get('type')!r}")
    for c in containers(pod):
        profile = _sc(c).get(field)
        if profile is not None and profile.get("type") not in allowed:
            bad.append(f"container {_name(c)!r} sets {field}.type {profile.get('type')!r}")
    return bad


def _apparmor(meta, pod, version) -> list[str]:
    bad = _profiles_outside(pod, "appArmorProfile", APPARMOR_TYPES)
    for key, value in ((meta or {}).get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and value and value != "runtime/default" and not value.startswith("localhost/"):
            bad.append(f"annotation {key}={value!r}")
    return bad


def _selinux_types(version: Version) -> frozenset[str]:
    types = {"", "container_t", "container_init_t", "container_kvm_t"}
    if version >= (1, 31):
        types.add("container_engine_t")
    return frozenset(types)


def _selinux(meta, pod, version) -> list[str]:
    allowed = _selinux_types(version)

    def problems(options: Mapping[str, Any]) -> list[str]:
        out = []
        if options.get("type", "") not in allowed:
            out.append(f"type {options.get('type')!r}")
        for key in ("user", "role"):
            if options.get(key):
                out.append(f"{key} {options[key]!r}")
        return out

    bad = []
    options = _sc(pod).get("seLinuxOptions")
    if options is not None and problems(options):
        bad.append(f"pod sets seLinuxOptions {', '.join(problems(options))}")
    for c in containers(pod):
        options = _sc(c).get("seLinuxOptions")
        if options is not None and problems(options):
            bad.append(f"container {_name(c)!r} sets seLinuxOptions {', '.join(problems(options))}")
    return bad


def _proc_mount_any(pod) -> list[str]:
    return [
        f"container {_name(c)!r} sets securityContext.procMount {_sc(c)['procMount']!r}"
        for c in containers(pod)
        if _sc(c).get("procMount") not in (None, "Default")
    ]


def _proc_mount_baseline(meta, pod, version) -> list[str]:
    if version >= (1, 35) and _user_namespace(pod):
        return []
    return _proc_mount_any(pod)


def _proc_mount_restricted(meta, pod, version) -> list[str]:
    return _proc_mount_any(pod)


SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"


def _seccomp_baseline(meta, pod, version) -> list[str]:
    if version < (1, 19):  # before 1.19 the profile lived in annotations only
        bad = []
        for key, value in ((meta or {}).get("annotations") or {}).items():
            if key == SECCOMP_POD_ANNOTATION or key.startswith(SECCOMP_CONTAINER_ANNOTATION):
                if value not in ("runtime/default", "docker/default") and not value.startswith("localhost/"):
                    bad.append(f"annotation {key}={value!r}")
        return bad
    bad = _profiles_outside(pod, "seccompProfile", SECCOMP_TYPES)
    return bad


def _seccomp_restricted(meta, pod, version) -> list[str]:
    if version >= (1, 25) and _windows(pod):
        return []
    bad = _seccomp_baseline(meta, pod, max(version, (1, 19)))
    pod_set = (_sc(pod).get("seccompProfile") or {}).get("type") in SECCOMP_TYPES
    for c in containers(pod):
        if _sc(c).get("seccompProfile") is None and not pod_set:
            bad.append(f"pod or container {_name(c)!r} must set seccompProfile.type to RuntimeDefault or Localhost")
    return bad


def safe_sysctls(version: Version) -> frozenset[str]:
    names = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
             "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"}
    if version >= (1, 27):
        names.add("net.ipv4.ip_local_reserved_ports")
    if version >= (1, 29):
        names |= {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                  "net.ipv4.tcp_keepalive_probes"}
    if version >= (1, 32):
        names |= {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
    if version >= (1, 37):
        names |= {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}
    return frozenset(names)


def _sysctls(meta, pod, version) -> list[str]:
    allowed = safe_sysctls(version)
    return [f"pod sets sysctl {s.get('name')!r}" for s in _sc(pod).get("sysctls") or () if s.get("name") not in allowed]


RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected", "secret"}
)


def _volume_types(meta, pod, version) -> list[str]:
    bad = []
    for volume in pod.get("volumes") or ():
        kinds = set(volume) - {"name"}
        if not kinds & RESTRICTED_VOLUME_TYPES:
            bad.append(f"volume {volume.get('name')!r} has type {sorted(kinds) or ['unknown']}")
    return bad


def _privilege_escalation(meta, pod, version) -> list[str]:
    if version >= (1, 25) and _windows(pod):
        return []
    return [
        f"container {_name(c)!r} must set securityContext.allowPrivilegeEscalation=false"
        for c in containers(pod)
        if _sc(c).get("allowPrivilegeEscalation") is not False
    ]


def _run_as_non_root(meta, pod, version) -> list[str]:
    if version >= (1, 35) and _user_namespace(pod):
        return []
    bad = []
    pod_value = _sc(pod).get("runAsNonRoot")
    if pod_value is False:
        bad.append("pod sets securityContext.runAsNonRoot=false")
    for c in containers(pod):
        value = _sc(c).get("runAsNonRoot")
        if value is False:
            bad.append(f"container {_name(c)!r} sets securityContext.runAsNonRoot=false")
        elif value is None and pod_value is not True:
            bad.append(f"pod or container {_name(c)!r} must set securityContext.runAsNonRoot=true")
    return bad


def _run_as_user(meta, pod, version) -> list[str]:
    if version >= (1, 35) and _user_namespace(pod):
        return []
    bad = ["pod sets securityContext.runAsUser=0"] if _sc(pod).get("runAsUser") == 0 else []
    bad += [f"container {_name(c)!r} sets securityContext.runAsUser=0" for c in containers(pod) if _sc(c).get("runAsUser") == 0]
    return bad


def _capabilities_restricted(meta, pod, version) -> list[str]:
    if version >= (1, 25) and _windows(pod):
        return []
    bad = []
    for c in containers(pod):
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or ()):
            bad.append(f'container {_name(c)!r} must set securityContext.capabilities.drop=["ALL"]')
        added = [cap for cap in caps.get("add") or () if cap != "NET_BIND_SERVICE"]
        if added:
            bad.append(f"container {_name(c)!r} adds capabilities {sorted(added)} (only NET_BIND_SERVICE is allowed)")
    return bad


CONTROLS: tuple[Control, ...] = (
    # Baseline
    Control("hostProcess", "HostProcess", "baseline", (1, 0),
            "spec.securityContext.windowsOptions.hostProcess, spec.containers[*].securityContext.windowsOptions.hostProcess",
            _host_process),
    Control("hostNamespaces", "Host Namespaces", "baseline", (1, 0), "spec.hostNetwork, spec.hostPID, spec.hostIPC",
            _host_namespaces),
    Control("privileged", "Privileged Containers", "baseline", (1, 0), "spec.containers[*].securityContext.privileged",
            _privileged),
    Control("capabilities_baseline", "Capabilities", "baseline", (1, 0), "spec.containers[*].securityContext.capabilities.add",
            _capabilities_baseline),
    Control("hostPathVolumes", "HostPath Volumes", "baseline", (1, 0), "spec.volumes[*].hostPath", _host_path),
    Control("hostPorts", "Host Ports", "baseline", (1, 0), "spec.containers[*].ports[*].hostPort", _host_ports),
    Control("hostProbesAndHostLifecycle", "Host Probes / Lifecycle Hooks", "baseline", (1, 34),
            "spec.containers[*].{liveness,readiness,startup}Probe.{httpGet,tcpSocket}.host, "
            "spec.containers[*].lifecycle.{postStart,preStop}.{httpGet,tcpSocket}.host", _host_probes),
    Control("appArmorProfile", "AppArmor", "baseline", (1, 0),
            "spec.securityContext.appArmorProfile.type, spec.containers[*].securityContext.appArmorProfile.type, "
            "metadata.annotations['container.apparmor.security.beta.kubernetes.io/*']", _apparmor),
    Control("seLinuxOptions", "SELinux", "baseline", (1, 0),
            "spec.securityContext.seLinuxOptions.{type,user,role}, spec.containers[*].securityContext.seLinuxOptions.*",
            _selinux),
    Control("procMount", "/proc Mount Type", "baseline", (1, 0), "spec.containers[*].securityContext.procMount",
            _proc_mount_baseline),
    Control("seccompProfile_baseline", "Seccomp", "baseline", (1, 0),
            "spec.securityContext.seccompProfile.type, spec.containers[*].securityContext.seccompProfile.type",
            _seccomp_baseline),
    Control("sysctls", "Sysctls", "baseline", (1, 0), "spec.securityContext.sysctls[*].name", _sysctls),
    # Restricted
    Control("restrictedVolumes", "Volume Types", "restricted", (1, 0), "spec.volumes[*]", _volume_types,
            replaces="hostPathVolumes"),
    Control("allowPrivilegeEscalation", "Privilege Escalation", "restricted", (1, 8),
            "spec.containers[*].securityContext.allowPrivilegeEscalation", _privilege_escalation),
    Control("runAsNonRoot", "Running as Non-root", "restricted", (1, 0),
            "spec.securityContext.runAsNonRoot, spec.containers[*].securityContext.runAsNonRoot", _run_as_non_root),
    Control("runAsUser", "Running as Non-root user", "restricted", (1, 23),
            "spec.securityContext.runAsUser, spec.containers[*].securityContext.runAsUser", _run_as_user),
    Control("seccompProfile_restricted", "Seccomp", "restricted", (1, 19),
            "spec.securityContext.seccompProfile.type, spec.containers[*].securityContext.seccompProfile.type",
            _seccomp_restricted, replaces="seccompProfile_baseline"),
    Control("capabilities_restricted", "Capabilities", "restricted", (1, 22),
            "spec.containers[*].securityContext.capabilities.{drop,add}", _capabilities_restricted,
            replaces="capabilities_baseline"),
    Control("procMount_restricted", "/proc Mount Type", "restricted", (1, 35),
            "spec.containers[*].securityContext.procMount", _proc_mount_restricted, replaces="procMount"),
)


def controls_for(level: str, version: Version) -> list[Control]:
    """The controls a namespace at ``level`` / ``version`` enforces (restricted includes baseline)."""
    if level not in LEVELS:
        raise ValueError(f"expected a Pod Security level {LEVELS}, got {level!r}")
    wanted = LEVELS[1 : LEVELS.index(level) + 1]
    active = [c for c in CONTROLS if c.level in wanted and c.since <= version]
    replaced = {c.replaces for c in active if c.replaces}
    return [c for c in active if c.id not in replaced]


@dataclass(frozen=True)
class Violation:
    control: Control
    message: str

    def __str__(self) -> str:
        return f"{self.control.name} ({self.control.level}): {self.message}"


def check_pod(meta: Mapping[str, Any], pod: Mapping[str, Any], level: str, version: Version) -> list[Violation]:
    """Every violation of ``level`` (at ``version``) by one pod spec and its metadata."""
    return [Violation(c, m) for c in controls_for(level, version) for m in c.check(meta or {}, pod, version)]


def pod_templates(obj: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(metadata, pod spec) of the pods an object runs; nothing for kinds that run no pod."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        yield obj.get("metadata") or {}, spec
    elif kind == "PodTemplate":
        template = obj.get("template") or {}
        yield template.get("metadata") or {}, template.get("spec") or {}
    elif kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        yield template.get("metadata") or {}, template.get("spec") or {}
    elif kind in ("Job", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"):
        template = spec.get("template") or {}
        yield template.get("metadata") or {}, template.get("spec") or {}


def check_object(obj: Mapping[str, Any], level: str, version: Version) -> list[Violation]:
    """Every violation by the pods of one object (empty for objects that run no pod)."""
    return [v for meta, pod in pod_templates(obj) for v in check_pod(meta, pod, level, version)]


def enforced(namespace: Mapping[str, Any]) -> tuple[str, Version]:
    """The level and version a Namespace object enforces (admission's defaults when unlabelled)."""
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    level = labels.get(LABEL_PREFIX + "enforce", "privileged")
    return level, parse_version(labels.get(LABEL_PREFIX + "enforce-version", "latest"))


def check_objects(objects: Sequence[Mapping[str, Any]], level: str, version: Version) -> dict[str, list[Violation]]:
    """``kind/name`` -> violations, for every object in ``objects`` that has any."""
    found: dict[str, list[Violation]] = {}
    for obj in objects:
        violations = check_object(obj, level, version)
        if violations:
            found[f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"] = violations
    return found

"""Every control of the Pod Security Standards table fails on a pod that breaks it, and only that one."""

from __future__ import annotations

import copy

import pytest

from infra import pod_security as pss

V = (1, 35)


def good_pod() -> dict:
    """A pod that passes ``restricted``: the shape the batch Jobs and the Airflow pods get."""
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{"name": "init", "securityContext": _good_container_context()}],
        "containers": [
            {"name": "main", "securityContext": _good_container_context(), "ports": [{"containerPort": 8080}]}
        ],
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
            {"name": "conf", "configMap": {"name": "c"}},
            {"name": "key", "secret": {"secretName": "k"}},
        ],
    }


def _good_container_context() -> dict:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def main(pod):
    return pod["containers"][0]


def init(pod):
    return pod["initContainers"][0]


# (control id, how to break it): one case per control of the table, at least.
BREAKS = [
    ("hostProcess", lambda p: p["securityContext"].update(windowsOptions={"hostProcess": True})),
    ("hostProcess", lambda p: main(p)["securityContext"].update(windowsOptions={"hostProcess": True})),
    ("hostNamespaces", lambda p: p.update(hostNetwork=True)),
    ("hostNamespaces", lambda p: p.update(hostPID=True)),
    ("hostNamespaces", lambda p: p.update(hostIPC=True)),
    ("privileged", lambda p: init(p)["securityContext"].update(privileged=True)),
    ("capabilities_restricted", lambda p: main(p)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"])),
    ("capabilities_restricted", lambda p: main(p)["securityContext"]["capabilities"].update(add=["CHOWN"])),
    ("capabilities_restricted", lambda p: main(p)["securityContext"]["capabilities"].update(drop=["NET_RAW"])),
    ("capabilities_restricted", lambda p: init(p)["securityContext"].pop("capabilities")),
    ("restrictedVolumes", lambda p: p["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})),
    ("restrictedVolumes", lambda p: p["volumes"].append({"name": "nfs", "nfs": {"server": "s", "path": "/"}})),
    ("hostPorts", lambda p: main(p)["ports"][0].update(hostPort=8080)),
    ("hostProbesAndHostLifecycle", lambda p: main(p).update(livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}})),
    ("hostProbesAndHostLifecycle", lambda p: main(p).update(lifecycle={"preStop": {"tcpSocket": {"host": "x", "port": 1}}})),
    ("appArmorProfile", lambda p: p["securityContext"].update(appArmorProfile={"type": "Unconfined"})),
    ("appArmorProfile", lambda p: main(p)["securityContext"].update(appArmorProfile={"type": "Unconfined"})),
    ("appArmorProfile", lambda p: p.setdefault("_meta", {}).update(
        annotations={"container.apparmor.security.beta.kubernetes.io/main": "unconfined"})),
    ("seLinuxOptions", lambda p: p["securityContext"].update(seLinuxOptions={"type": "spc_t"})),
    ("seLinuxOptions", lambda p: main(p)["securityContext"].update(seLinuxOptions={"user": "system_u"})),
    ("seLinuxOptions", lambda p: main(p)["securityContext"].update(seLinuxOptions={"role": "sysadm_r"})),
    ("procMount_restricted", lambda p: main(p)["securityContext"].update(procMount="Unmasked")),
    ("seccompProfile_restricted", lambda p: p["securityContext"].update(seccompProfile={"type": "Unconfined"})),
    ("seccompProfile_restricted", lambda p: p["securityContext"].pop("seccompProfile")),
    ("seccompProfile_restricted", lambda p: init(p)["securityContext"].update(seccompProfile={"type": "Unconfined"})),
    ("sysctls", lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}])),
    ("allowPrivilegeEscalation", lambda p: main(p)["securityContext"].pop("allowPrivilegeEscalation")),
    ("allowPrivilegeEscalation", lambda p: init(p)["securityContext"].update(allowPrivilegeEscalation=True)),
    ("runAsNonRoot", lambda p: p["securityContext"].pop("runAsNonRoot")),
    ("runAsNonRoot", lambda p: main(p)["securityContext"].update(runAsNonRoot=False)),
    ("runAsUser", lambda p: p["securityContext"].update(runAsUser=0)),
    ("runAsUser", lambda p: init(p)["securityContext"].update(runAsUser=0)),
]


def violations(pod, level="restricted", version=V):
    pod = copy.deepcopy(pod)
    meta = pod.pop("_meta", {})
    return pss.check_pod(meta, pod, level, version)


def test_the_compliant_pod_passes_every_level():
    for level in pss.LEVELS:
        assert violations(good_pod(), level) == []


@pytest.mark.parametrize(("control", "breaking"), BREAKS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(BREAKS)])
def test_each_control_fails_on_a_pod_that_breaks_it(control, breaking):
    pod = good_pod()
    breaking(pod)
    found = violations(pod)
    assert {v.control.id for v in found} == {control}, [str(v) for v in found]


def test_every_control_of_the_table_has_a_breaking_case():
    """A control added to the table without a failing case would go untested."""
    active = {c.id for c in pss.controls_for("restricted", V)}
    assert active == {control for control, _ in BREAKS}
    names = {c.name for c in pss.CONTROLS}
    assert names == {
        "HostProcess", "Host Namespaces", "Privileged Containers", "Capabilities", "HostPath Volumes", "Host Ports",
        "Host Probes / Lifecycle Hooks", "AppArmor", "SELinux", "/proc Mount Type", "Seccomp", "Sysctls",
        "Volume Types", "Privilege Escalation", "Running as Non-root", "Running as Non-root user",
    }


@pytest.mark.parametrize(
    ("breaking", "baseline_id"),
    [
        (lambda p: p["volumes"].append({"name": "host", "hostPath": {"path": "/"}}), "hostPathVolumes"),
        (lambda p: main(p)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]), "capabilities_baseline"),
        (lambda p: p["securityContext"].update(seccompProfile={"type": "Unconfined"}), "seccompProfile_baseline"),
        (lambda p: main(p)["securityContext"].update(procMount="Unmasked"), "procMount"),
    ],
)
def test_baseline_checks_the_baseline_form_of_a_control(breaking, baseline_id):
    pod = good_pod()
    breaking(pod)
    assert {v.control.id for v in violations(pod, "baseline")} == {baseline_id}


def test_baseline_allows_what_only_restricted_forbids():
    pod = good_pod()
    pod["securityContext"] = {}
    main(pod)["securityContext"] = {"capabilities": {"add": ["CHOWN"]}}
    pod["volumes"].append({"name": "nfs", "nfs": {"server": "s", "path": "/"}})
    assert violations(pod, "baseline") == []
    assert {v.control.id for v in violations(pod, "restricted")} >= {
        "runAsNonRoot", "seccompProfile_restricted", "allowPrivilegeEscalation", "capabilities_restricted",
        "restrictedVolumes",
    }
    assert violations(pod, "privileged") == []


def test_versions_follow_the_table():
    pod = good_pod()
    pod["securityContext"]["sysctls"] = [{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]
    assert violations(pod, version=(1, 28)) and not violations(pod, version=(1, 29))
    pod = good_pod()
    main(pod)["livenessProbe"] = {"httpGet": {"host": "example.com", "port": 80}}
    assert not violations(pod, version=(1, 33)) and violations(pod, version=(1, 34))
    pod = good_pod()
    pod["securityContext"]["seLinuxOptions"] = {"type": "container_engine_t"}
    assert violations(pod, version=(1, 30)) and not violations(pod, version=(1, 31))


def test_windows_pods_and_user_namespaces_are_relaxed_as_admission_does():
    pod = good_pod()
    pod["os"] = {"name": "windows"}
    for c in pod["containers"] + pod["initContainers"]:
        c["securityContext"] = {}
    pod["securityContext"].pop("seccompProfile")
    assert violations(pod) == []
    pod = good_pod()
    pod["hostUsers"] = False
    pod["securityContext"].update(runAsNonRoot=False, runAsUser=0)
    assert violations(pod) == []
    assert violations(pod, version=(1, 34))


def test_objects_namespaces_and_versions():
    job = {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"metadata": {}, "spec": good_pod()}}}
    assert pss.check_object(job, "restricted", V) == []
    job["spec"]["template"]["spec"]["hostPID"] = True
    assert [v.control.id for v in pss.check_object(job, "restricted", V)] == ["hostNamespaces"]
    assert list(pss.check_objects([job, {"kind": "Service", "metadata": {"name": "s"}}], "restricted", V)) == ["Job/j"]
    namespace = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                          "pod-security.kubernetes.io/enforce-version": "v1.35"}}}
    assert pss.enforced(namespace) == ("restricted", (1, 35))
    assert pss.enforced({"metadata": {}}) == ("privileged", pss.LATEST)
    with pytest.raises(ValueError, match="v1.35"):
        pss.parse_version("one.two")
    with pytest.raises(ValueError, match="level"):
        pss.controls_for("strict", V)

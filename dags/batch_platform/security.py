"""How every batch Job's pod runs: its security contexts, its writable paths and its tokens.

The ``batch-jobs`` namespace enforces the ``restricted`` Pod Security Standard (kubernetes.io, "Pod
Security Standards"), and Pod Security admission judges the pods the Job controller creates, not the
Job: a pod that misses one control is refused (FailedCreate) and the run hangs until its deadline. So
every pod this library submits gets, whatever its spec says:

* pod ``securityContext``: ``runAsNonRoot: true``, ``runAsUser`` / ``runAsGroup`` / ``fsGroup`` from
  the spec's ``security`` section (default 65532, the conventional unprivileged "nonroot" user of
  distroless images; a spec may pick another non-zero UID/GID, never 0), ``seccompProfile:
  RuntimeDefault``;
* every container: ``allowPrivilegeEscalation: false``, ``capabilities.drop: [ALL]``, ``privileged:
  false``, ``readOnlyRootFilesystem: true`` (unless the spec turns it off);
* writable ``emptyDir`` volumes where jobs write: the workspace, ``/tmp`` (JVMs, Python and most
  tools put temporary files there) and any ``security.writable_paths`` of the spec;
* no Kubernetes API token unless the spec asks for one (``security.service_account_token``). AWS
  access through IRSA does not need it: the EKS Pod Identity webhook adds its own projected token
  (volume ``aws-iam-token``, audience ``sts.amazonaws.com``) and ``AWS_ROLE_ARN`` /
  ``AWS_WEB_IDENTITY_TOKEN_FILE`` to every pod of an annotated service account, whatever
  ``automountServiceAccountToken`` says; that field governs only the API token.

Pure: plain functions from a spec to the Kubernetes models the operator takes.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from batch_platform.spec import JobSpec

WORKSPACE_VOLUME = "workspace"
TMP_VOLUME = "tmp"
TMP_PATH = "/tmp"  # noqa: S108 - an emptyDir of the pod, not the node's /tmp
SECCOMP_PROFILE = "RuntimeDefault"


@functools.cache
def _cfg() -> dict[str, Any]:
    # Without an explicit configuration every k8s model copies the client's default one (slow).
    from kubernetes.client import Configuration

    return {"local_vars_configuration": Configuration()}


def pod_security_context(spec: JobSpec):
    """The pod-level security context of a spec's Job pod."""
    from kubernetes.client import models as k8s

    s = spec.security
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=s.run_as_user,
        run_as_group=s.run_as_group,
        fs_group=s.effective_fs_group,
        seccomp_profile=k8s.V1SeccompProfile(type=SECCOMP_PROFILE, **_cfg()),
        **_cfg(),
    )


def container_security_context(spec: JobSpec):
    """The security context of every container of a spec's Job pod."""
    from kubernetes.client import models as k8s

    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.V1Capabilities(drop=["ALL"], **_cfg()),
        read_only_root_filesystem=spec.security.read_only_root_filesystem,
        run_as_non_root=True,
        **_cfg(),
    )


def _volume_name(index: int, path: str) -> str:
    # The index keeps names unique (/app/logs and /app_logs read alike); 63 characters at most.
    return f"writable-{index}-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:40]


def writable_mounts(spec: JobSpec, workspace_path: str) -> list[tuple[str, str]]:
    """(volume name, mount path) of every writable emptyDir: workspace, /tmp, then the spec's paths."""
    mounts = [(WORKSPACE_VOLUME, workspace_path), (TMP_VOLUME, TMP_PATH)]
    taken = {path for _, path in mounts}
    for index, path in enumerate(spec.security.writable_paths):
        if path not in taken:
            mounts.append((_volume_name(index, path), path))
            taken.add(path)
    return mounts


def volumes_and_mounts(spec: JobSpec, workspace_path: str):
    """The emptyDir volumes and their mounts (lists of k8s models) for a spec's Job pod."""
    from kubernetes.client import models as k8s

    mounts = writable_mounts(spec, workspace_path)
    volumes = [k8s.V1Volume(name=name, empty_dir=k8s.V1EmptyDirVolumeSource(**_cfg()), **_cfg()) for name, _ in mounts]
    volume_mounts = [k8s.V1VolumeMount(name=name, mount_path=path, **_cfg()) for name, path in mounts]
    return volumes, volume_mounts


def operator_security_kwargs(spec: JobSpec, workspace_path: str) -> dict[str, Any]:
    """The KubernetesJobOperator arguments that make a spec's pod pass ``restricted``."""
    volumes, volume_mounts = volumes_and_mounts(spec, workspace_path)
    return {
        "security_context": pod_security_context(spec),
        "container_security_context": container_security_context(spec),
        "automount_service_account_token": spec.security.service_account_token,
        "volumes": volumes,
        "volume_mounts": volume_mounts,
        # The XCom sidecar would be a second container (and a second image); batch Jobs return
        # nothing through XCom, so it is never added.
        "do_xcom_push": False,
    }

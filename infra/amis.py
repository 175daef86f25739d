"""Which AMI a managed node group runs: AMI types, where AWS publishes the current release, pin formats.

Managed node groups do not follow AMI releases by themselves: without ``release_version`` EKS picks
the latest release when the group is created and the state keeps it, so later ``pulumi up`` runs
change nothing. We therefore read the release AWS recommends from its public SSM parameter on every
run and pass it as ``release_version``, unless the group's node-patching record (written by
``python -m stacks patch-nodes``, docs/nodes-and-patching.md) names the release the procedure decided:
then that one, so a plain ``pulumi up`` keeps it. A pin (``ami_release_version``) set by hand wins
over both.

Everything here is pure so the config model and the component share one definition.
"""

from __future__ import annotations

import json
import re
from typing import Literal, Optional

AmiFamily = Literal["AL2023", "BOTTLEROCKET"]
AMI_FAMILIES: tuple[str, ...] = ("AL2023", "BOTTLEROCKET")

# x86_64 only: the instance families we run (m6i, t3, c6i...) are Intel/AMD. Graviton would need
# the *_ARM_64 AMI types and arm64 images of every workload.
EKS_AMI_TYPES: dict[str, str] = {
    "AL2023": "AL2023_x86_64_STANDARD",
    "BOTTLEROCKET": "BOTTLEROCKET_x86_64",
}

# AL2023 releases look like 1.35.3-20260801 (kubelet version, then the build date).
_AL2023_RELEASE = re.compile(r"^(?P<minor>\d+\.\d+)\.\d+-\d{8}$")
# Bottlerocket releases are the OS version with an optional commit, e.g. 1.45.0 or 1.45.0-5cd5ff76.
_BOTTLEROCKET_RELEASE = re.compile(r"^\d+\.\d+\.\d+(-[0-9a-f]{8})?$")


def release_parameter(ami_family: str, kubernetes_version: str) -> str:
    """The public SSM parameter holding the release AWS recommends for this AMI family and Kubernetes version."""
    if ami_family == "AL2023":
        return (
            f"/aws/service/eks/optimized-ami/{kubernetes_version}/amazon-linux-2023/x86_64/standard/"
            "recommended/release_version"
        )
    if ami_family == "BOTTLEROCKET":
        return f"/aws/service/bottlerocket/aws-k8s-{kubernetes_version}/x86_64/latest/image_version"
    raise ValueError(f"unknown AMI family {ami_family!r}: expected one of {', '.join(AMI_FAMILIES)}")


def release_version_problem(ami_family: str, kubernetes_version: str, release: str) -> str | None:
    """Why ``release`` cannot be pinned for this AMI family and Kubernetes version, or None when it can."""
    if ami_family == "AL2023":
        match = _AL2023_RELEASE.match(release)
        if not match:
            return (
                "expected an Amazon Linux 2023 EKS AMI release such as "
                f"{kubernetes_version}.3-20260801 (<kubelet version>-<YYYYMMDD>), as in the stack "
                "output node_group_release_versions of the environment that proved it"
            )
        if match.group("minor") != kubernetes_version:
            return (
                f"this release is for Kubernetes {match.group('minor')} but cluster.kubernetes_version is "
                f"{kubernetes_version}: pin a release of {kubernetes_version} (or remove the pin)"
            )
        return None
    if ami_family == "BOTTLEROCKET":
        # An AL2023 release (dated suffix) would also pass as "<version>-<8 hex digits>".
        if not _BOTTLEROCKET_RELEASE.match(release) or re.search(r"-20\d{6}$", release):
            return (
                "expected a Bottlerocket release such as 1.45.0 or 1.45.0-5cd5ff76 "
                "(<os version>[-<commit>]), as in the stack output node_group_release_versions"
            )
        return None
    raise ValueError(f"unknown AMI family {ami_family!r}")


RECORD_TARGET = "target"
"""Key of the release a node-patching record (``python -m stacks patch-nodes``) says its group runs."""


def release_from_record(text: Optional[str], ami_family: str, kubernetes_version: str) -> Optional[str]:
    """The release a node-patching record decided for its group, or None when there is none to use.

    None as well when the record names a release of another Kubernetes version (after a control-plane
    upgrade the group moves to the new version's recommended release) or is not a record: the group
    then follows the release AWS recommends, as without a record.
    """
    if not text:
        return None
    try:
        target = json.loads(text).get(RECORD_TARGET)
    except (ValueError, AttributeError):
        return None
    if not isinstance(target, str) or release_version_problem(ami_family, kubernetes_version, target):
        return None
    return target


def root_volumes(ami_family: str, disk_size_gib: int) -> list[dict[str, object]]:
    """Launch template block devices: encrypted gp3, deleted with the instance.

    AL2023 keeps everything (OS, images, emptyDir) on /dev/xvda. Bottlerocket has a small OS volume
    (/dev/xvda, size from the AMI) and a data volume (/dev/xvdb) for images and pods, which is the
    one that gets ``disk_size_gib``; both are encrypted.
    """

    def ebs(size: int | None) -> dict[str, object]:
        spec: dict[str, object] = {"volume_type": "gp3", "encrypted": "true", "delete_on_termination": "true"}
        if size is not None:
            spec["volume_size"] = size
        return spec

    if ami_family == "AL2023":
        return [{"device_name": "/dev/xvda", "ebs": ebs(disk_size_gib)}]
    if ami_family == "BOTTLEROCKET":
        return [
            {"device_name": "/dev/xvda", "ebs": ebs(None)},
            {"device_name": "/dev/xvdb", "ebs": ebs(disk_size_gib)},
        ]
    raise ValueError(f"unknown AMI family {ami_family!r}")

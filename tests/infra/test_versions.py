"""Every supported Kubernetes version has its add-ons and autoscaler pinned, in the formats AWS publishes."""

import re

from infra.versions import (
    CLUSTER_AUTOSCALER_IMAGE_TAGS,
    DEFAULT_KUBERNETES_VERSION,
    EKS_ADDON_VERSIONS,
    STANDARD_SUPPORT_ENDS,
    SUPPORTED_KUBERNETES_VERSIONS,
)

EKS_BUILD = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")


def test_default_version_is_supported():
    assert DEFAULT_KUBERNETES_VERSION in SUPPORTED_KUBERNETES_VERSIONS


def test_each_supported_version_pins_every_addon_in_eks_build_format():
    for version in SUPPORTED_KUBERNETES_VERSIONS:
        pins = EKS_ADDON_VERSIONS[version]
        for addon in ("vpc_cni", "coredns", "kube_proxy", "aws_ebs_csi_driver"):
            assert EKS_BUILD.match(getattr(pins, addon)), (version, addon)


def test_kube_proxy_matches_the_kubernetes_minor():
    for version in SUPPORTED_KUBERNETES_VERSIONS:
        assert EKS_ADDON_VERSIONS[version].kube_proxy.startswith(f"v{version}.")


def test_autoscaler_image_matches_the_kubernetes_minor_and_support_dates_are_known():
    for version in SUPPORTED_KUBERNETES_VERSIONS:
        assert CLUSTER_AUTOSCALER_IMAGE_TAGS[version].startswith(f"v{version}.")
        assert re.match(r"^\d{4}-\d{2}-\d{2}$", STANDARD_SUPPORT_ENDS[version])

"""Every pinned version of the platform, one constant per thing, each with why it is that version.

Changing a version here is the whole upgrade: nothing else in the code names a version. Read the
upstream release notes named in the comment, run the tests (they compare some of these pins with
what the test environment runs) and roll dev before prod.

Sources (checked when the pins were chosen; verify again before changing a pin):

* EKS version calendar: docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html (standard
  support is 14 months from the EKS release). 1.34 reached EKS on 2025-10-06 (standard support
  until 2026-12-02); 1.35 on 2026-01-28 (standard support until 2027-03-27).
* EKS add-on versions: the "latest version" tables of managing-kube-proxy, managing-coredns and
  managing-vpc-cni in the EKS user guide, and ``aws eks describe-addon-versions --kubernetes-version
  <v> --addon-name <name>``. Each pin below was published for that Kubernetes version.
* Cluster Autoscaler: github.com/kubernetes/autoscaler tags ``cluster-autoscaler-chart-<v>`` and
  ``cluster-autoscaler-<v>``; the autoscaler's minor must match the cluster's Kubernetes minor.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- EKS (issue 3) -----------------------------------------------------------------------------

DEFAULT_KUBERNETES_VERSION = "1.35"
"""In EKS standard support until 2027-03-27, i.e. through all of late 2026 without extended-support fees."""

STANDARD_SUPPORT_ENDS = {
    "1.34": "2026-12-02",
    "1.35": "2027-03-27",
}
"""End of EKS standard support per version we support; after it a cluster costs extended-support fees."""


@dataclass(frozen=True)
class EksAddonVersions:
    """Versions of the EKS add-ons for one Kubernetes minor version."""

    vpc_cni: str
    coredns: str
    kube_proxy: str
    aws_ebs_csi_driver: str


EKS_ADDON_VERSIONS: dict[str, EksAddonVersions] = {
    # 1.34 stays supported so a cluster created on it can be upgraded one minor at a time (EKS
    # only upgrades minor by minor): bump kubernetes_version 1.34 -> 1.35 and every pin follows.
    "1.34": EksAddonVersions(
        vpc_cni="v1.21.1-eksbuild.7",
        coredns="v1.13.2-eksbuild.4",  # EKS user guide, managing-coredns, 1.34 row
        kube_proxy="v1.34.6-eksbuild.2",  # EKS user guide, managing-kube-proxy, 1.34 row
        aws_ebs_csi_driver="v1.57.1-eksbuild.1",
    ),
    "1.35": EksAddonVersions(
        vpc_cni="v1.21.1-eksbuild.7",  # the VPC CNI add-on ships one build for every supported minor
        coredns="v1.13.2-eksbuild.4",  # EKS user guide, managing-coredns, 1.35 row
        kube_proxy="v1.35.3-eksbuild.2",  # EKS user guide, managing-kube-proxy, 1.35 row
        aws_ebs_csi_driver="v1.57.1-eksbuild.1",
    ),
}
"""EKS add-on versions per Kubernetes version: vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver."""

SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = tuple(sorted(EKS_ADDON_VERSIONS))
"""The versions the config accepts: exactly those whose add-ons are pinned above."""

CLUSTER_AUTOSCALER_CHART_REPOSITORY = "https://kubernetes.github.io/autoscaler"
CLUSTER_AUTOSCALER_CHART = "cluster-autoscaler"
CLUSTER_AUTOSCALER_CHART_VERSION = "9.59.0"
"""Chart of 2026-07 (appVersion 1.35.0); its values (autoDiscovery, rbac.serviceAccount) are the ones we set."""

CLUSTER_AUTOSCALER_IMAGE_TAGS: dict[str, str] = {
    "1.34": "v1.34.2",  # last 1.34 patch release (2025-11)
    "1.35": "v1.35.2",  # 1.35 patch release of 2026-07 (newer than the chart's default v1.35.0)
}
"""Cluster Autoscaler image per Kubernetes minor: the autoscaler supports only its own minor."""

# --- Apache Airflow -----------------------------------------------------------------------------

# The official chart (https://airflow.apache.org). 1.22.0 (June 2026) is the newest release: the
# 1.23.0 / 2.0.0 announced for mid-June 2026 had not been published. It is the first chart whose
# RBAC binds the dedicated KubernetesExecutor worker service account (workers.kubernetes.*).
AIRFLOW_CHART_REPOSITORY = "https://airflow.apache.org"
AIRFLOW_CHART_NAME = "airflow"
AIRFLOW_CHART_VERSION = "1.22.0"

# The Airflow version the chart deploys: chart 1.22.0's default, and the version pinned in
# requirements.in, so the DAG library's tests run against exactly what runs on the cluster.
AIRFLOW_VERSION = "3.2.2"

# The base of the platform's image (images/airflow/Dockerfile): the official image of that Airflow
# version, which ships the fab auth manager and the statsd support the values rely on. The platform
# image installs on top of it exactly the apache-airflow* pins of requirements.txt, so the providers
# that deploy are the ones the tests ran (infra/airflow_image.py). The Python minor is the one the
# tests run on (the Makefile's Python 3.11).
AIRFLOW_BASE_IMAGE_REPOSITORY = "apache/airflow"
AIRFLOW_PYTHON_VERSION = "3.11"
AIRFLOW_BASE_IMAGE_TAG = f"{AIRFLOW_VERSION}-python{AIRFLOW_PYTHON_VERSION}"

# --- Airflow metadata database (RDS for PostgreSQL) -------------------------------------------

# PostgreSQL major versions we accept: the intersection of what Airflow 3.2 is tested with
# (14-18, apache-airflow 3.2.2 "Requirements" table) and what RDS keeps in standard support well past
# 2026 (14 leaves standard support on 2027-02-28 and would then be billed as Extended Support).
# 18 is left out until our parameter group is checked against it (PG 18 changed log_connections
# from a boolean to a list of aspects).
SUPPORTED_POSTGRES_MAJOR_VERSIONS = ("15", "16", "17")

# The major version we deploy. Only the major is pinned: minor versions are applied by RDS in the
# maintenance window (auto_minor_version_upgrade), and the provider accepts a major-only
# engine_version without showing the applied minor (e.g. 17.7) as drift. 17 has been on RDS since
# November 2024 and stays in standard support until 2030.
POSTGRES_MAJOR_VERSION = "17"

# The CA that signs the instance's server certificate; clients verifying the server (sslmode
# verify-full) need its bundle. rds-ca-rsa2048-g1 is the RDS default for new instances, valid to 2061.
RDS_CA_CERT_IDENTIFIER = "rds-ca-rsa2048-g1"

"""Every version the platform deploys, pinned in one place (one constant per thing, with the reason).

Changing a version here is a deliberate upgrade: read the upstream release notes named in the
comment, run the tests (they compare some of these pins with what the test environment runs) and
roll dev before prod.
"""

# Kubernetes minor version of the EKS control plane. The Kubernetes objects this project creates
# directly are validated offline against the OpenAPI schemas of exactly this version
# (kubernetes-validate ships schemas for 1.25 to 1.37). The cluster component owns the upgrade.
KUBERNETES_VERSION = "1.34"

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

# The official image of that version (it ships the fab, amazon, cncf.kubernetes, slack, smtp and
# statsd providers the values rely on). Teams needing extra Python packages build FROM this tag.
AIRFLOW_IMAGE_REPOSITORY = "apache/airflow"
AIRFLOW_IMAGE_TAG = AIRFLOW_VERSION

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

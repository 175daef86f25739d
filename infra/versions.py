"""Pinned versions: one constant per thing, each with the reason for its value.

Other components append their own sections here (EKS, add-ons, charts, images); keep one place per
version so an upgrade is a one-line, reviewable change.
"""

from __future__ import annotations

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

"""The Database component and its pure parts: windows, snapshot references, parameters, URI, final snapshot."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from infra.database import (
    Database,
    DatabaseArgs,
    WindowError,
    connection_uri,
    daily_window,
    final_snapshot_identifier,
    final_snapshot_keepers,
    is_valid_identifier,
    parameter_group_family,
    postgres_parameters,
    snapshot_reference_problem,
    weekly_window,
    windows_overlap,
)
from infra.versions import POSTGRES_MAJOR_VERSION, SUPPORTED_POSTGRES_MAJOR_VERSIONS
from stacks.offline import record

INSTANCE = "aws:rds/instance:Instance"
CLIENTS = ["sg-clients", "sg-nodes"]


def _program(**overrides):
    def program():
        args = dict(
            identifier="bp-test-airflow",
            vpc_id="vpc-test",
            db_subnet_group_name="test-db-subnets",
            client_security_group_ids=CLIENTS,
        )
        args.update(overrides)
        db = Database("db", DatabaseArgs(**args))
        return {
            "uri": db.metadata_connection_uri,
            "password": db.master_password,
            "final": db.final_snapshot_identifier,
            "address": db.address,
            "port": db.port,
        }

    return program


@pytest.fixture(scope="module")
def prod_like():
    return record(_program())


@pytest.fixture(scope="module")
def dev_like():
    return record(
        _program(
            instance_class="db.t4g.small",
            allocated_storage=20,
            max_allocated_storage=50,
            multi_az=False,
            backup_retention_days=7,
            deletion_protection=False,
            apply_immediately=True,
        )
    )


@pytest.fixture(scope="module")
def restored():
    return record(_program(restore_from_snapshot="batch-platform-prod-airflow-final-1a2b3c4d"))


# --- pure functions ---------------------------------------------------------------------------


def test_windows_parse_to_minutes():
    assert daily_window("02:00-03:00") == (120, 60)
    assert daily_window("23:30-00:30") == (23 * 60 + 30, 60)
    assert weekly_window("sun:03:30-sun:04:30") == (6 * 1440 + 210, 60)
    assert weekly_window("Sun:23:30-Mon:00:30") == (6 * 1440 + 1410, 60)


@pytest.mark.parametrize("text", ["2:00-3:00", "02:00-03:60", "02:00", "02:00-02:29"])
def test_bad_daily_windows_are_refused(text):
    with pytest.raises(WindowError):
        daily_window(text)


@pytest.mark.parametrize("text", ["sun:03:30", "sunday:03:30-sunday:04:30", "sun:03:30-sun:03:45", "xyz:01:00-xyz:02:00"])
def test_bad_weekly_windows_are_refused(text):
    with pytest.raises(WindowError):
        weekly_window(text)


@pytest.mark.parametrize(
    "backup, maintenance, overlap",
    [
        ("02:00-03:00", "sun:03:30-sun:04:30", False),
        ("02:00-03:00", "sun:02:30-sun:03:30", True),
        ("03:00-04:00", "wed:03:59-wed:04:30", True),
        ("03:00-04:00", "wed:04:00-wed:04:30", False),
        # Across midnight: the backup of Sunday night runs into Monday 00:15.
        ("23:30-00:30", "mon:00:00-mon:00:45", True),
        # Across the end of the week: Sunday 23:45 to Monday 00:30.
        ("00:00-00:30", "sun:23:45-mon:00:15", True),
    ],
)
def test_windows_overlap(backup, maintenance, overlap):
    assert windows_overlap(backup, maintenance) is overlap


@pytest.mark.parametrize(
    "reference",
    [
        "batch-platform-prod-airflow-final-1a2b3c4d",
        "rds:batch-platform-prod-airflow-2026-11-20-02-05",
        "arn:aws:rds:eu-west-1:123456789012:snapshot:batch-platform-prod-airflow-final-1a2b3c4d",
        "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:batch-platform-prod-airflow-2026-11-20-02-05",
    ],
)
def test_valid_snapshot_references(reference):
    assert snapshot_reference_problem(reference, "eu-west-1") is None


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("arn:aws:rds:eu-west-1:1234:snapshot:x", "expected a snapshot ARN of the form"),
        ("arn:aws:rds:eu-west-1:123456789012:cluster-snapshot:x", "expected a snapshot ARN of the form"),
        ("arn:aws:rds:eu-west-1:123456789012:snapshot:9lives", "the snapshot identifier in the ARN"),
        ("arn:aws:rds:us-east-1:123456789012:snapshot:final-1", "the snapshot is in us-east-1 but the stack is in eu-west-1"),
        ("final--1", "expected a snapshot identifier"),
        ("final-1-", "expected a snapshot identifier"),
        ("1final", "expected a snapshot identifier"),
        ("final_1", "expected a snapshot identifier"),
    ],
)
def test_invalid_snapshot_references(reference, expected):
    problem = snapshot_reference_problem(reference, "eu-west-1")
    assert problem is not None and problem.startswith(expected), problem


def test_parameters_force_tls_and_log_what_on_call_needs():
    params = {p["name"]: p for p in postgres_parameters(750)}
    assert params["rds.force_ssl"]["value"] == "1"
    assert params["log_min_duration_statement"]["value"] == "750"
    assert params["log_connections"]["value"] == params["log_disconnections"]["value"] == "1"
    assert params["log_lock_waits"]["value"] == "1"
    assert {p["apply_method"] for p in params.values()} == {"immediate"}
    assert parameter_group_family("17") == "postgres17"


def test_connection_uri_requires_tls_and_quotes_credentials():
    uri = connection_uri("airflow", "p@ss/w:rd", "db.example", 5432, "airflow")
    parts = urlsplit(uri)
    assert parts.scheme == "postgresql"
    assert parts.password == "p%40ss%2Fw%3Ard"
    assert (parts.hostname, parts.port, parts.path) == ("db.example", 5432, "/airflow")
    assert parse_qs(parts.query) == {"sslmode": ["require"]}


def test_connection_uri_verifies_the_server_with_a_ca_bundle():
    uri = connection_uri("airflow", "pw", "db.example", 5432, "airflow", ssl_root_cert="/opt/rds/global-bundle.pem")
    assert parse_qs(urlsplit(uri).query) == {"sslmode": ["verify-full"], "sslrootcert": ["/opt/rds/global-bundle.pem"]}


def test_final_snapshot_identifier_is_a_valid_rds_identifier():
    assert final_snapshot_identifier("batch-platform-prod-airflow", "0a1b2c3d") == "batch-platform-prod-airflow-final-0a1b2c3d"
    assert is_valid_identifier(final_snapshot_identifier("a", "00"))
    with pytest.raises(ValueError):
        final_snapshot_identifier("bad--name", "00")


def test_keepers_are_the_create_only_inputs():
    keepers = final_snapshot_keepers("bp-airflow", "airflow", "airflow")
    assert keepers == {"engine": "postgres", "identifier": "bp-airflow", "username": "airflow", "database": "airflow"}


def test_pinned_version_is_supported():
    assert POSTGRES_MAJOR_VERSION in SUPPORTED_POSTGRES_MAJOR_VERSIONS
    assert all(v.isdigit() for v in SUPPORTED_POSTGRES_MAJOR_VERSIONS)


# --- the component --------------------------------------------------------------------------


def test_instance_is_production_shaped_by_default(prod_like):
    db = prod_like.one(INSTANCE)
    expected = {
        "engine": "postgres",
        "engineVersion": POSTGRES_MAJOR_VERSION,
        "autoMinorVersionUpgrade": True,
        "allowMajorVersionUpgrade": False,
        "instanceClass": "db.m7g.large",
        "storageType": "gp3",
        "allocatedStorage": 100,
        "maxAllocatedStorage": 500,
        "storageEncrypted": True,
        "multiAz": True,
        "publiclyAccessible": False,
        "dbSubnetGroupName": "test-db-subnets",
        "backupRetentionPeriod": 14,
        "backupWindow": "02:00-03:00",
        "maintenanceWindow": "sun:03:30-sun:04:30",
        "deleteAutomatedBackups": False,
        "copyTagsToSnapshot": True,
        "skipFinalSnapshot": False,
        "deletionProtection": True,
        "applyImmediately": False,
        "performanceInsightsEnabled": True,
        "performanceInsightsRetentionPeriod": 7,
        "monitoringInterval": 60,
        "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
        "caCertIdentifier": "rds-ca-rsa2048-g1",
        "port": 5432,
    }
    assert {k: db.input(k) for k in expected} == expected
    assert db.input("snapshotIdentifier") is None
    # Encrypted with the AWS managed key aws/rds, looked up (not a key owned by the stack).
    assert db.input("kmsKeyId").startswith("arn:aws:kms:")
    assert [i.args for i in prod_like.invokes if i.token == "aws:kms/getKey:getKey"] == [{"keyId": "alias/aws/rds"}]
    assert not prod_like.of_type("aws:kms/key:Key")


def test_instance_options_protect_and_ignore_restore_attributes(prod_like, dev_like):
    prod, dev = prod_like.one(INSTANCE).options, dev_like.one(INSTANCE).options
    assert prod["protect"] is True and dev["protect"] is False
    for options in (prod, dev):
        assert options["ignoreChanges"] == ["snapshotIdentifier", "kmsKeyId"]
        assert options["retainOnDelete"] is False  # deletion goes through the final snapshot
        assert options["customTimeouts"]["create"] == "120m"
    # The log groups exist before RDS would create them without a retention.
    log_groups = {r.urn for r in prod_like.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert log_groups <= set(prod["dependsOn"]) and len(log_groups) == 2


def test_dev_loosens_only_what_it_asks_for(prod_like, dev_like):
    prod, dev = prod_like.one(INSTANCE), dev_like.one(INSTANCE)
    differing = {k for k in prod.inputs if prod.inputs[k] != dev.inputs.get(k)}
    assert differing == {
        "instanceClass", "allocatedStorage", "maxAllocatedStorage", "multiAz", "backupRetentionPeriod",
        "deletionProtection", "applyImmediately",
    }


def test_security_group_admits_postgres_only_from_client_groups(prod_like):
    sg = prod_like.one("aws:ec2/securityGroup:SecurityGroup")
    assert "ingress" not in sg.inputs and "egress" not in sg.inputs
    rules = prod_like.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert sorted(r.input("referencedSecurityGroupId") for r in rules) == sorted(CLIENTS)
    for rule in rules:
        assert (rule.input("ipProtocol"), rule.input("fromPort"), rule.input("toPort")) == ("tcp", 5432, 5432)
        assert rule.input("cidrIpv4") is None and rule.input("cidrIpv6") is None and rule.input("prefixListId") is None
    assert not prod_like.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert prod_like.one(INSTANCE).input("vpcSecurityGroupIds") == [f"{sg.name}-id"]


def test_parameter_group_matches_the_engine_and_forces_tls(prod_like):
    group = prod_like.one("aws:rds/parameterGroup:ParameterGroup")
    assert group.input("family") == f"postgres{POSTGRES_MAJOR_VERSION}"
    assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"} in group.input("parameters")
    assert prod_like.one(INSTANCE).input("parameterGroupName") == group.name


def test_enhanced_monitoring_role_is_assumable_by_rds_monitoring_only(prod_like):
    role = prod_like.one("aws:iam/role:Role")
    trust = json.loads(role.input("assumeRolePolicy"))
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "monitoring.rds.amazonaws.com"}]
    attachment = prod_like.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.input("policyArn") == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    assert prod_like.one(INSTANCE).input("monitoringRoleArn") == f"arn:aws:iam::123456789012:role/{role.name}"


def test_log_groups_have_a_retention(prod_like):
    groups = {g.input("name"): g.input("retentionInDays") for g in prod_like.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert groups == {
        "/aws/rds/instance/bp-test-airflow/postgresql": 365,
        "/aws/rds/instance/bp-test-airflow/upgrade": 365,
    }


def test_password_and_connection_string_are_secrets(prod_like):
    db = prod_like.one(INSTANCE)
    assert db.secret_paths == ["password"]
    assert set(prod_like.secret_outputs) == {"uri", "password"}
    password = prod_like.raw_outputs["password"]
    uri = prod_like.raw_outputs["uri"]
    assert db.raw_inputs["password"] == password and len(password) == 40 and password.isalnum()
    parts = urlsplit(uri)
    assert (parts.username, parts.password) == ("airflow", password)
    assert parts.hostname == prod_like.raw_outputs["address"] and parts.port == 5432 and parts.path == "/airflow"
    assert parse_qs(parts.query) == {"sslmode": ["require"]}
    # Nowhere in clear: not in the plan, not in any input that is not marked secret.
    document = json.dumps([r.inputs for r in prod_like.resources]) + json.dumps(prod_like.outputs)
    assert password not in document and uri not in document


def test_final_snapshot_identifier_comes_from_a_random_suffix_renewed_per_instance(prod_like):
    suffix = prod_like.one("random:index/randomId:RandomId")
    assert suffix.input("byteLength") == 4
    assert suffix.input("keepers") == final_snapshot_keepers("bp-test-airflow", "airflow", "airflow")
    # Not retained and not imported: a recreated stack draws a new suffix.
    assert suffix.options["retainOnDelete"] is False and suffix.options["importId"] is None
    final = prod_like.one(INSTANCE).input("finalSnapshotIdentifier")
    assert final == prod_like.raw_outputs["final"]
    assert final.startswith("bp-test-airflow-final-") and len(final.rsplit("-", 1)[1]) == 8
    assert is_valid_identifier(final)


def test_a_new_instance_gets_a_new_final_snapshot_identifier(prod_like):
    """Unique per deletion: an instance is deleted once, and every new instance gets a new suffix."""
    renamed = record(_program(identifier="bp-test-airflow-2"))
    other_user = record(_program(master_username="airflow_owner"))
    finals = {
        plan.one(INSTANCE).input("finalSnapshotIdentifier").rsplit("-", 1)[1]
        for plan in (prod_like, renamed, other_user)
    }
    assert len(finals) == 3
    # ...while the same instance keeps its identifier from one `pulumi up` to the next (no diff).
    again = record(_program())
    assert again.one(INSTANCE).input("finalSnapshotIdentifier") == prod_like.one(INSTANCE).input("finalSnapshotIdentifier")


def test_restore_creates_the_instance_from_the_snapshot(restored, prod_like):
    db = restored.one(INSTANCE)
    assert db.input("snapshotIdentifier") == "batch-platform-prod-airflow-final-1a2b3c4d"
    assert "snapshotIdentifier" in db.options["ignoreChanges"]
    # The size comes from the snapshot (autoscaling may have grown it past the configured size, and
    # RDS refuses a restore into less storage); the autoscaling ceiling stays.
    assert db.input("allocatedStorage") is None
    assert db.input("maxAllocatedStorage") == prod_like.one(INSTANCE).input("maxAllocatedStorage")
    # Everything else is what a fresh instance gets.
    fresh = prod_like.one(INSTANCE)
    ignored = ("snapshotIdentifier", "allocatedStorage")
    assert {k: v for k, v in db.inputs.items() if k not in ignored} == {
        k: v for k, v in fresh.inputs.items() if k not in ignored
    }


def test_the_instance_waits_for_its_monitoring_permissions(prod_like):
    db = prod_like.one(INSTANCE)
    attachment = prod_like.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.urn in db.options["dependsOn"]


def test_verify_full_when_a_ca_bundle_path_is_given():
    plan = record(_program(ssl_root_cert="/opt/airflow/rds-ca/global-bundle.pem"))
    query = parse_qs(urlsplit(plan.raw_outputs["uri"]).query)
    assert query == {"sslmode": ["verify-full"], "sslrootcert": ["/opt/airflow/rds-ca/global-bundle.pem"]}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"client_security_group_ids": []}, "at least one client security group"),
        ({"engine_version": "14"}, "PostgreSQL '14' is not supported"),
        ({"engine_version": "17.4"}, "PostgreSQL '17.4' is not supported"),
        ({"max_allocated_storage": 50}, "max_allocated_storage must be at least allocated_storage"),
        ({"restore_from_snapshot": "arn:aws:rds:x"}, "restore_from_snapshot 'arn:aws:rds:x'"),
        ({"monitoring_interval_seconds": 0}, "monitoring_interval_seconds must be one of"),
        ({"performance_insights_retention_days": 30}, "performance_insights_retention_days must be"),
    ],
)
def test_invalid_arguments_fail_before_registering(overrides, message):
    with pytest.raises(Exception, match=message):
        record(_program(**overrides))

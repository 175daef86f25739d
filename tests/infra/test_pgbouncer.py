"""PgBouncer pool arithmetic and configuration (pure functions)."""

from __future__ import annotations

import pytest

from infra import pgbouncer
from infra.pgbouncer import AirflowDatabaseClients, PoolPlanError, plan_pools, rds_max_connections

PROD_CLIENTS = AirflowDatabaseClients(schedulers=2, api_servers=2, api_workers_per_server=2, triggerers=2, dag_processors=2)
DEV_CLIENTS = AirflowDatabaseClients(schedulers=1, api_servers=1, api_workers_per_server=1, triggerers=1, dag_processors=1)


@pytest.mark.parametrize(
    ("instance_class", "expected"),
    [
        # floor(GiB * 2**30 * 0.75 / 9531392)
        ("db.t4g.micro", 84),
        ("db.t4g.medium", 337),
        ("db.m7g.large", 675),
        ("db.r7g.xlarge", 2703),
        # The 5000 cap of RDS's LEAST(...).
        ("db.r7g.4xlarge", 5000),
    ],
)
def test_rds_max_connections_follows_the_rds_formula(instance_class, expected):
    assert rds_max_connections(instance_class) == expected


def test_memory_table_covers_common_classes():
    for cls in ("db.t3.micro", "db.t4g.large", "db.m6g.large", "db.m7g.2xlarge", "db.r6g.large", "db.r7g.16xlarge"):
        assert cls in pgbouncer.RDS_INSTANCE_MEMORY_GIB
    assert pgbouncer.RDS_INSTANCE_MEMORY_GIB["db.r7g.large"] == 2 * pgbouncer.RDS_INSTANCE_MEMORY_GIB["db.m7g.large"] == 16


def test_unknown_instance_class_is_a_clear_error():
    with pytest.raises(PoolPlanError, match=r"unknown RDS instance class 'db\.x9.large'.*RDS_INSTANCE_MEMORY_GIB"):
        rds_max_connections("db.x9.large")


def test_client_count_sums_every_database_process():
    # 2 schedulers + 2 API servers x 2 workers + 2 triggerers + 2 DAG processors + 2 bootstrap jobs
    assert PROD_CLIENTS.processes == 12
    assert DEV_CLIENTS.processes == 6


def test_prod_plan_on_m7g_large():
    plan = plan_pools("db.m7g.large", replicas=2, clients=PROD_CLIENTS)
    # 675 - 5 reserved - 68 headroom (10%, rounded up) = 602 for PgBouncer, 301 per replica
    assert plan.rds_max_connections == 675
    assert plan.server_budget == 602
    assert plan.max_client_conn == 12 * 15 == 180
    # Transaction pooling never needs more server connections than there are clients.
    assert plan.metadata_pool_size == 180
    assert plan.result_backend_pool_size == 0


def test_small_instance_splits_the_budget_between_replicas():
    plan = plan_pools("db.t4g.micro", replicas=2, clients=PROD_CLIENTS)
    # 84 - 5 - 10 (minimum headroom) = 69; 34 per replica
    assert plan.server_budget == 69
    assert plan.metadata_pool_size == 34
    assert plan.metadata_pool_size * plan.replicas <= plan.server_budget


def test_pools_never_exceed_the_database_limit():
    for cls in pgbouncer.RDS_INSTANCE_MEMORY_GIB:
        for replicas in (1, 2, 3):
            try:
                plan = plan_pools(cls, replicas=replicas, clients=PROD_CLIENTS)
            except PoolPlanError:
                continue
            total = plan.metadata_pool_size * replicas + pgbouncer.RESERVED_CONNECTIONS
            assert total <= plan.rds_max_connections - pgbouncer.MIN_HEADROOM, (cls, replicas)


def test_too_many_replicas_for_a_tiny_class_is_an_error():
    with pytest.raises(PoolPlanError, match=r"db\.t4g\.micro allows about 84 connections.*fewer than 10 per replica for 7"):
        plan_pools("db.t4g.micro", replicas=7, clients=PROD_CLIENTS)


def test_zero_replicas_is_an_error():
    with pytest.raises(PoolPlanError, match="at least 1 replica"):
        plan_pools("db.m7g.large", replicas=0, clients=PROD_CLIENTS)


def test_parse_connection_uri_decodes_and_hides_the_password():
    login = pgbouncer.parse_connection_uri("postgresql://air%40flow:p%2Fss%22w@db.internal:5433/airflow?sslmode=require")
    assert (login.user, login.password, login.host, login.port, login.dbname) == (
        "air@flow", 'p/ss"w', "db.internal", 5433, "airflow",
    )
    assert "p/ss" not in repr(login)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("mysql://u:p@h/db?sslmode=require", "expected a postgresql:// connection URI"),
        ("postgresql://u@h/db?sslmode=require", "a part is missing"),
        ("postgresql://u:p@h/db", "require TLS"),
        ("postgresql://u:p@h/db?sslmode=prefer", "require TLS"),
    ],
)
def test_parse_connection_uri_rejects_without_echoing_it(uri, message):
    with pytest.raises(ValueError, match=message) as excinfo:
        pgbouncer.parse_connection_uri(uri)
    assert "u:p" not in str(excinfo.value)


def test_ini_pools_the_rds_database_over_tls():
    login = pgbouncer.DatabaseLogin("airflow", "pw", "db.internal", 5432, "airflow")
    plan = plan_pools("db.m7g.large", replicas=2, clients=PROD_CLIENTS)
    ini = pgbouncer.pgbouncer_ini(login, plan)
    assert "airflow-metadata = host=db.internal port=5432 dbname=airflow pool_size=180" in ini
    assert "server_tls_sslmode = require" in ini
    assert "pool_mode = transaction" in ini
    assert "max_client_conn = 180" in ini
    assert "listen_port = 6543" in ini
    assert "pw" not in ini


def test_ini_opens_no_unix_socket_so_the_root_file_system_can_be_read_only():
    """PgBouncer's default unix_socket_dir is /tmp; empty disables the socket (the exporter uses TCP)."""
    import configparser

    login = pgbouncer.DatabaseLogin("airflow", "pw", "db.internal", 5432, "airflow")
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(pgbouncer.pgbouncer_ini(login, plan_pools("db.m7g.large", replicas=2, clients=PROD_CLIENTS)))
    assert parser["pgbouncer"]["unix_socket_dir"] == ""
    assert "@127.0.0.1:" in pgbouncer.stats_connection(login)


def test_users_file_escapes_quotes():
    login = pgbouncer.DatabaseLogin('ai"r', 'p"w', "h", 5432, "d")
    assert pgbouncer.pgbouncer_users(login) == '"ai""r" "p""w"\n'


def test_airflow_goes_through_pgbouncer():
    login = pgbouncer.DatabaseLogin("airflow", "p@ss/word", "db.internal", 5432, "airflow")
    uri = pgbouncer.airflow_connection_via_pgbouncer(login, "airflow-pgbouncer.airflow.svc.cluster.local")
    assert uri == (
        "postgresql://airflow:p%40ss%2Fword@airflow-pgbouncer.airflow.svc.cluster.local:6543/airflow-metadata"
    )
    assert pgbouncer.stats_connection(login).endswith("@127.0.0.1:6543/pgbouncer?sslmode=disable")

"""PgBouncer in front of the RDS metadata database: pool arithmetic and configuration, as pure functions.

Why we write PgBouncer's configuration ourselves: the chart renders ``pgbouncer.ini`` and
``users.txt`` from ``data.metadataConnection`` (user, password, host in Helm values). We never put
the database password in Helm values, so the chart's own rendering would point PgBouncer at a
non-existent in-cluster database. Instead the Airflow component creates the Secret named by
``pgbouncer.configSecretName`` from these functions, and the chart only runs PgBouncer.

Pool arithmetic (``plan_pools``), all numbers per PgBouncer replica unless said otherwise:

1. ``rds_max_connections`` = LEAST(DBInstanceClassMemory / 9531392, 5000), RDS PostgreSQL's
   default ``max_connections``. DBInstanceClassMemory is the class memory minus what the OS and
   RDS processes keep; AWS does not publish it, so we count only ``USABLE_MEMORY_FRACTION`` of the
   class memory (conservative: RDS reports ~81 on a 1 GiB class where the formula on the full
   memory gives 112).
2. ``server_budget`` = max_connections - ``RESERVED_CONNECTIONS`` (superuser_reserved_connections
   3 + rds.rds_superuser_reserved_connections 2) - headroom (10%, at least 10) kept free for
   connections that bypass PgBouncer: an operator's psql, RDS monitoring, a manual migration.
3. ``metadata_pool_size`` = server_budget // replicas (every replica opens its own pool; together
   they never exceed the budget), capped at ``max_client_conn`` (in transaction mode a pool never
   needs more server connections than there are clients).
4. ``max_client_conn`` = the sum, over the Airflow processes that open a metadata database
   connection, of SQLAlchemy's pool_size + max_overflow, plus the two bootstrap jobs. Clients are
   spread over the replicas by the Service but not evenly, so each replica accepts them all.
5. ``result_backend_pool_size`` = 0: only the Celery executor has a result backend; with the
   KubernetesExecutor our ``pgbouncer.ini`` has no result-backend database at all.

A class that cannot give every replica ``MIN_POOL_SIZE`` server connections is an error, as is a
class missing from ``RDS_INSTANCE_MEMORY_GIB``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, parse_qs

# Memory of the RDS instance classes we accept, in GiB. One place: add a class here to use it.
_BURSTABLE_SIZES = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_GENERAL_PURPOSE_SIZES = {
    "large": 8, "xlarge": 16, "2xlarge": 32, "4xlarge": 64, "8xlarge": 128, "12xlarge": 192,
    "16xlarge": 256, "24xlarge": 384,
}
_MEMORY_OPTIMISED_SIZES = {size: gib * 2 for size, gib in _GENERAL_PURPOSE_SIZES.items()}
RDS_INSTANCE_MEMORY_GIB: dict[str, int] = {
    **{f"db.{family}.{size}": gib for family in ("t3", "t4g") for size, gib in _BURSTABLE_SIZES.items()},
    **{
        f"db.{family}.{size}": gib
        for family in ("m5", "m6g", "m6i", "m7g", "m7i", "m8g")
        for size, gib in _GENERAL_PURPOSE_SIZES.items()
    },
    **{
        f"db.{family}.{size}": gib
        for family in ("r5", "r6g", "r6i", "r7g", "r7i", "r8g")
        for size, gib in _MEMORY_OPTIMISED_SIZES.items()
    },
}

BYTES_PER_CONNECTION = 9_531_392
RDS_MAX_CONNECTIONS_CAP = 5000
USABLE_MEMORY_FRACTION = 0.75
RESERVED_CONNECTIONS = 5
HEADROOM_FRACTION = 0.10
MIN_HEADROOM = 10
MIN_POOL_SIZE = 10

# SQLAlchemy pool of every Airflow process; set explicitly in the Airflow config so the
# arithmetic below matches what runs.
SQLALCHEMY_POOL_SIZE = 5
SQLALCHEMY_MAX_OVERFLOW = 10
CONNECTIONS_PER_PROCESS = SQLALCHEMY_POOL_SIZE + SQLALCHEMY_MAX_OVERFLOW
# migrate-database and create-user jobs.
BOOTSTRAP_JOB_PROCESSES = 2

LISTEN_PORT = 6543
MAX_PREPARED_STATEMENTS = 200
# The [databases] entry Airflow connects to; PgBouncer maps it to the RDS database.
METADATA_DATABASE_ALIAS = "airflow-metadata"


class PoolPlanError(ValueError):
    """The database instance class cannot carry the pools asked for. The message says what to change."""


@dataclass(frozen=True)
class AirflowDatabaseClients:
    """The Airflow processes that hold metadata database connections (Airflow 3: task pods do not)."""

    schedulers: int
    api_servers: int
    api_workers_per_server: int
    triggerers: int
    dag_processors: int

    @property
    def processes(self) -> int:
        return (
            self.schedulers
            + self.api_servers * self.api_workers_per_server
            + self.triggerers
            + self.dag_processors
            + BOOTSTRAP_JOB_PROCESSES
        )


@dataclass(frozen=True)
class PoolPlan:
    instance_class: str
    rds_max_connections: int
    server_budget: int
    replicas: int
    metadata_pool_size: int
    result_backend_pool_size: int
    max_client_conn: int


def rds_max_connections(instance_class: str) -> int:
    """RDS PostgreSQL's default max_connections for ``instance_class`` (see the module docstring)."""
    try:
        gib = RDS_INSTANCE_MEMORY_GIB[instance_class]
    except KeyError:
        raise PoolPlanError(
            f"unknown RDS instance class {instance_class!r}: its memory (and so its connection limit) "
            "is not in infra/pgbouncer.py RDS_INSTANCE_MEMORY_GIB; add it there"
        ) from None
    usable_bytes = gib * 2**30 * USABLE_MEMORY_FRACTION
    return min(math.floor(usable_bytes / BYTES_PER_CONNECTION), RDS_MAX_CONNECTIONS_CAP)


def plan_pools(instance_class: str, replicas: int, clients: AirflowDatabaseClients) -> PoolPlan:
    """Pool sizes for ``replicas`` PgBouncer replicas in front of one RDS instance of ``instance_class``."""
    if replicas < 1:
        raise PoolPlanError(f"PgBouncer needs at least 1 replica, got {replicas}")
    max_connections = rds_max_connections(instance_class)
    headroom = max(MIN_HEADROOM, math.ceil(max_connections * HEADROOM_FRACTION))
    budget = max_connections - RESERVED_CONNECTIONS - headroom
    per_replica = budget // replicas
    if per_replica < MIN_POOL_SIZE:
        raise PoolPlanError(
            f"{instance_class} allows about {max_connections} connections, leaving {max(budget, 0)} for "
            f"PgBouncer: fewer than {MIN_POOL_SIZE} per replica for {replicas} replicas; "
            "use a larger instance class or fewer PgBouncer replicas"
        )
    max_client_conn = clients.processes * CONNECTIONS_PER_PROCESS
    return PoolPlan(
        instance_class=instance_class,
        rds_max_connections=max_connections,
        server_budget=budget,
        replicas=replicas,
        metadata_pool_size=min(per_replica, max_client_conn),
        result_backend_pool_size=0,
        max_client_conn=max_client_conn,
    )


@dataclass(frozen=True)
class DatabaseLogin:
    """The parts of the metadata connection URI PgBouncer needs. Holds a password: never log it."""

    user: str
    password: str
    host: str
    port: int
    dbname: str

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return f"DatabaseLogin(user={self.user!r}, password='***', host={self.host!r}, port={self.port}, dbname={self.dbname!r})"


def parse_connection_uri(uri: str) -> DatabaseLogin:
    """Split ``postgresql://user:password@host:port/dbname?sslmode=...`` (percent-encoded parts decoded).

    The error messages never include the URI: it holds the password.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise ValueError(f"expected a postgresql:// connection URI, got scheme {parts.scheme!r}")
    if not (parts.username and parts.password and parts.hostname and parts.path.strip("/")):
        raise ValueError("expected postgresql://user:password@host:port/dbname (a part is missing)")
    sslmode = parse_qs(parts.query).get("sslmode", [""])[0]
    if sslmode not in ("require", "verify-ca", "verify-full"):
        raise ValueError(f"expected the metadata connection to require TLS (sslmode=require or stricter), got {sslmode!r}")
    return DatabaseLogin(
        user=unquote(parts.username),
        password=unquote(parts.password),
        host=parts.hostname,
        port=parts.port or 5432,
        dbname=unquote(parts.path.strip("/")),
    )


def pgbouncer_ini(login: DatabaseLogin, plan: PoolPlan) -> str:
    """``pgbouncer.ini``: transaction pooling, TLS required towards RDS, no secret inside."""
    lines = [
        "[databases]",
        f"{METADATA_DATABASE_ALIAS} = host={login.host} port={login.port} dbname={login.dbname} "
        f"pool_size={plan.metadata_pool_size}",
        "",
        "[pgbouncer]",
        "pool_mode = transaction",
        f"listen_port = {LISTEN_PORT}",
        "listen_addr = *",
        # TCP only: no Unix socket (by default one in /tmp), so nothing is written outside the
        # mounted configuration and the root file system stays read-only.
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        "auth_file = /etc/pgbouncer/users.txt",
        f"stats_users = {login.user}",
        "ignore_startup_parameters = extra_float_digits",
        f"max_client_conn = {plan.max_client_conn}",
        # Hard ceiling per replica even if a pool is resized by hand.
        f"max_db_connections = {plan.metadata_pool_size}",
        # Airflow's async engine (asyncpg) uses protocol-level named prepared statements, which
        # transaction pooling breaks unless PgBouncer tracks them (PgBouncer 1.21+; the chart's
        # image has 1.23, where the default is 0, i.e. off).
        f"max_prepared_statements = {MAX_PREPARED_STATEMENTS}",
        # RDS enforces TLS (rds.force_ssl); require encrypts every server connection. verify-full
        # also needs the RDS CA bundle mounted (pgbouncer.ssl.ca); see docs/airflow.md.
        "server_tls_sslmode = require",
        "server_tls_protocols = secure",
        "verbose = 0",
        "log_connections = 0",
        "log_disconnections = 0",
        "",
    ]
    return "\n".join(lines)


def _quote_userlist(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def pgbouncer_users(login: DatabaseLogin) -> str:
    """``users.txt``: the one login PgBouncer accepts and uses towards RDS (SCRAM from the plain password)."""
    return f"{_quote_userlist(login.user)} {_quote_userlist(login.password)}\n"


def airflow_connection_via_pgbouncer(login: DatabaseLogin, pgbouncer_host: str) -> str:
    """The connection URI Airflow uses: the same login, through PgBouncer's Service.

    Airflow to PgBouncer stays inside the cluster without TLS (PgBouncer has no client
    certificate); the password is not sent in clear (SCRAM). PgBouncer to RDS is TLS.

    No ``sslmode`` in the query: Airflow derives its async engine's URI from this one by only
    changing the driver (``postgresql+asyncpg``), and asyncpg refuses ``sslmode`` as an unknown
    keyword, which breaks every async metadata query. Both drivers then default to ``prefer``:
    PgBouncer, without client TLS, declines the SSL request and the session goes on in plain text.
    """
    return (
        f"postgresql://{quote(login.user, safe='')}:{quote(login.password, safe='')}"
        f"@{pgbouncer_host}:{LISTEN_PORT}/{METADATA_DATABASE_ALIAS}"
    )


def stats_connection(login: DatabaseLogin) -> str:
    """What the chart's metrics exporter sidecar uses to read PgBouncer's admin console (same pod)."""
    return (
        f"postgresql://{quote(login.user, safe='')}:{quote(login.password, safe='')}"
        f"@127.0.0.1:{LISTEN_PORT}/pgbouncer?sslmode=disable"
    )

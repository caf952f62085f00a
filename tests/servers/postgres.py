"""A throwaway PostgreSQL cluster from Debian's PostgreSQL 15, on 127.0.0.1 and a free port.

``postgres_server(work_dir)`` runs ``initdb`` and ``postgres`` (as the ``postgres`` user when
the test run is root: PostgreSQL refuses to run as root), yields a ``PostgresServer`` and
stops the postmaster by its PID on exit, also when start-up or the test fails. TCP clients
authenticate with passwords (scram-sha-256), like Dagster and Marquez in the compose stack;
the superuser administers through the cluster's own Unix socket (trust, no password).
``create_database(name, owner, password)`` gives a service its own role and database.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

HOST = "127.0.0.1"
SUPERUSER = "postgres"


def postgres_bin_dir() -> Path:
    """PG_BIN overrides; otherwise the newest /usr/lib/postgresql/<major>/bin (Debian's layout)."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not candidates:
        raise FileNotFoundError("PostgreSQL server binaries not found under /usr/lib/postgresql (apt: postgresql)")
    return candidates[-1].parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _run_as() -> dict:
    """Popen arguments that drop root to the postgres user (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class PostgresServer:
    port: int
    data_dir: Path
    socket_dir: Path
    process: subprocess.Popen
    log: Path
    host: str = HOST
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket; returns psql's unaligned output."""
        result = subprocess.run(
            [str(postgres_bin_dir() / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-h", str(self.socket_dir),
             "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str, owner: str, password: str) -> None:
        """A login role and a database it owns (identifiers are the caller's, not user input)."""
        quoted = password.replace("'", "''")
        self.psql(f"CREATE ROLE \"{owner}\" LOGIN PASSWORD '{quoted}'")
        self.psql(f"CREATE DATABASE \"{name}\" OWNER \"{owner}\"")

    def superuser_env(self) -> dict[str, str]:
        """libpq variables for running psql-based scripts as the superuser (Unix socket, trust)."""
        return {"PGHOST": str(self.socket_dir), "PGPORT": str(self.port), "PGUSER": SUPERUSER}

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT to the postmaster), SIGKILL if it does not go in time."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGKILL, 5.0)):
            if self.process.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(wait)
                return


class StartupError(RuntimeError):
    pass


@contextlib.contextmanager
def postgres_server(work_dir: Optional[Path] = None, timeout: float = 60.0) -> Iterator[PostgresServer]:
    """initdb + postgres on a free loopback port; stopped by PID and its files removed on exit.

    The data directory is a fresh temporary folder owned by the postgres user (pytest's tmp_path
    is private to root); ``work_dir`` only receives the server log.
    """
    bin_dir = postgres_bin_dir()
    run_as = _run_as()
    base = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    data_dir, socket_dir = base / "data", base / "run"
    log = (work_dir or base) / "postgres.log"
    server: Optional[PostgresServer] = None
    try:
        socket_dir.mkdir()
        if run_as:
            for path in (base, socket_dir):
                os.chown(path, run_as["user"], run_as["group"])
        began = time.monotonic()
        # A random superuser password nobody needs (local socket is trust); TCP always asks for one.
        pwfile = base / "pwfile"
        pwfile.write_text(secrets.token_urlsafe(24))
        if run_as:
            os.chown(pwfile, run_as["user"], run_as["group"])
        pwfile.chmod(0o600)
        initdb = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
            capture_output=True, text=True, check=False, **run_as,
        )
        pwfile.unlink()
        if initdb.returncode != 0:
            raise StartupError(f"initdb failed ({initdb.returncode}): {initdb.stderr.strip()}")
        port = free_port()
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port), "-k", str(socket_dir),
                 "-c", f"listen_addresses={HOST}", "-c", "fsync=off", "-c", "full_page_writes=off"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **run_as,
            )
        server = PostgresServer(port, data_dir, socket_dir, process, log)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise StartupError(f"postgres exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            ready = subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port)], check=False)
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise StartupError(f"postgres not ready after {timeout:.0f}s:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        server.timings["start_seconds"] = time.monotonic() - began
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)

"""The compose stack's Dagster and PostgreSQL commands, run natively on loopback.

docker-compose.yml is the source of the commands: this test reads each service's command and
health check from it and runs them here, changing only what differs outside a container (host
0.0.0.0 -> 127.0.0.1, fixed ports -> free ports, /app -> this checkout, executables from this
virtualenv). So the stack's PostgreSQL init script, code location gRPC server, webserver, daemon
and their health checks are the ones tested here, against a real PostgreSQL 15.
Every process is started here and stopped by its PID (process group) at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from servers.postgres import free_port, postgres_server

pytestmark = pytest.mark.servers

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

# The instance config compose mounts: Dagster storage in PostgreSQL from the DAGSTER_PG_*
# variables compose passes.
INSTANCE_YAML = (REPO_ROOT / "platform" / "dagster.cluster.yaml").read_text()


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]


def native(argv: list[str], ports: dict[str, str]) -> list[str]:
    """A container command as it runs here: loopback host, free ports, this checkout, this venv."""
    out = []
    for i, arg in enumerate(argv):
        arg = str(arg)
        if arg == "0.0.0.0":
            arg = HOST
        elif i > 0 and argv[i - 1] in ("-p", "--port") and arg in ports:
            arg = ports[arg]
        elif arg == "/app":
            arg = str(REPO_ROOT)
        elif i == 0 and (BIN / arg).exists():
            arg = str(BIN / arg)
        for container_port, port in ports.items():  # URLs inside health-check one-liners
            arg = arg.replace(f":{container_port}/", f":{port}/")
        out.append(arg)
    return out


def healthcheck(service: dict, ports: dict[str, str]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD", test
    return native(test[1:], ports)


@contextlib.contextmanager
def spawn(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen]:
    log = logs / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(wait)
                break


def wait_for(argv: list[str], env: dict[str, str], process: subprocess.Popen, log: Path, timeout: float) -> float:
    """Run a health-check command until it succeeds; seconds it took."""
    began = time.monotonic()
    while True:
        assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
        result = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            pytest.fail(f"{argv} still failing after {timeout:.0f}s: {result.stdout[-500:]} {result.stderr[-1500:]}\n"
                        f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(1)


def graphql(port: str, query: str) -> dict:
    request = urllib.request.Request(f"http://{HOST}:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_the_stacks_postgres_and_dagster_commands_run_natively(services, tmp_path):
    import psycopg2

    timings: dict[str, float] = {}
    logs = tmp_path / "logs"
    logs.mkdir()
    # Test-only credentials, generated per run; the names are compose's.
    passwords = {"DAGSTER_PG_PASSWORD": os.urandom(9).hex(), "MARQUEZ_DB_PASSWORD": os.urandom(9).hex()}
    began = time.monotonic()
    with postgres_server(logs) as pg:
        timings["postgres_start"] = pg.timings["start_seconds"]
        # -- the postgres service's init script, with the variables the service passes it
        postgres_env = services["postgres"]["environment"]
        init_env = {k: os.environ[k] for k in ("PATH", "LANG") if k in os.environ}
        init_env.update(pg.superuser_env(), POSTGRES_USER="postgres", POSTGRES_DB="postgres", **passwords)
        for key in ("DAGSTER_PG_USER", "DAGSTER_PG_DB", "MARQUEZ_DB_USER", "MARQUEZ_DB"):
            assert key in postgres_env
            init_env[key] = key.split("_")[0].lower()  # dagster / marquez, as compose's defaults
        script = REPO_ROOT / "platform" / "postgres" / "create-databases.sh"
        volumes = services["postgres"]["volumes"]
        assert f"./platform/postgres/{script.name}:/docker-entrypoint-initdb.d/{script.name}:ro" in volumes
        result = subprocess.run(["sh", str(script)], env=init_env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        for role in ("dagster", "marquez"):
            password = passwords["DAGSTER_PG_PASSWORD" if role == "dagster" else "MARQUEZ_DB_PASSWORD"]
            with contextlib.closing(psycopg2.connect(host=HOST, port=pg.port, user=role, password=password,
                                                     dbname=role)) as connection:
                with connection.cursor() as cursor:
                    cursor.execute("select current_user, current_database(), "
                                   "(select rolsuper from pg_roles where rolname = current_user)")
                    assert cursor.fetchone() == (role, role, False)  # its own database, no superuser

        # -- code location, webserver and daemon: compose's commands, Dagster storage in PostgreSQL
        ports = {"4000": str(free_port()), "3000": str(free_port())}
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(INSTANCE_YAML)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "LAKEHOUSE_", "OPENLINEAGE"))}
        env.update(
            LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(tmp_path / "lakehouse"), LAKEHOUSE_AUTOMATION="off",
            LAKEHOUSE_LINEAGE="off", DAGSTER_HOME=str(home),
            DAGSTER_PG_HOST=HOST, DAGSTER_PG_PORT=str(pg.port), DAGSTER_PG_USER="dagster",
            DAGSTER_PG_PASSWORD=passwords["DAGSTER_PG_PASSWORD"], DAGSTER_PG_DB="dagster",
            DAGSTER_CODE_SERVER_HOST=HOST, DAGSTER_CODE_SERVER_PORT=ports["4000"],
        )
        code = services["codelocation"]
        with spawn("codelocation", native(code["command"], ports), env, logs) as code_server:
            timings["code_server_healthy"] = wait_for(healthcheck(code, ports), env, code_server,
                                                      logs / "codelocation.log", 180)
            web = services["webserver"]
            with spawn("webserver", native(web["command"], ports), env, logs) as webserver:
                timings["webserver_healthy"] = wait_for(healthcheck(web, ports), env, webserver,
                                                        logs / "webserver.log", 180)
                answer = graphql(ports["3000"], """
                  { workspaceOrError { ... on Workspace { locationEntries { name
                      locationOrLoadError { __typename ... on PythonError { message } } } } }
                    assetNodes { assetKey { path } } }""")
                (entry,) = answer["data"]["workspaceOrError"]["locationEntries"]
                assert entry["name"] == "lakehouse"
                assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
                keys = {"/".join(n["assetKey"]["path"]) for n in answer["data"]["assetNodes"]}
                assert len(keys) == 16 and {"silver/orders", "gold/daily_sales"} <= keys

                daemon = services["daemon"]
                with spawn("daemon", native(daemon["command"], ports), env, logs) as daemon_process:
                    timings["daemon_live"] = wait_for(healthcheck(daemon, ports), env, daemon_process,
                                                      logs / "daemon.log", 180)
                    with contextlib.closing(psycopg2.connect(
                            host=HOST, port=pg.port, user="dagster", password=passwords["DAGSTER_PG_PASSWORD"],
                            dbname="dagster")) as connection, connection.cursor() as cursor:
                        cursor.execute("select daemon_type from daemon_heartbeats")
                        beating = {row[0] for row in cursor.fetchall()}
                    assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR"} <= beating, beating
    timings["total"] = time.monotonic() - began
    print("compose commands natively: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))

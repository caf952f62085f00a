"""Spark servers started from the installed pyspark package, on 127.0.0.1 and free ports.

- ``standalone_cluster()``: a standalone master (``org.apache.spark.deploy.master.Master``)
  and workers (``org.apache.spark.deploy.worker.Worker``), each worker with 1 core.
- ``connect_server()``: a Spark Connect server (``spark-submit --class
  org.apache.spark.sql.connect.service.SparkConnectServer``, its jar ships in pyspark)
  with the Delta jars, SQL extension and catalog.

Both are context managers: every JVM is started in its own session (process group) and
stopped by that group's id on exit, also when start-up or the test fails, so executors
forked by a worker go with it. Start-up times are recorded in ``timings``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import pyspark

from servers import stop_process_group

SPARK_HOME = Path(pyspark.__file__).resolve().parent
REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


@dataclass
class ServerProcess:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the process group (the JVM and anything it forked), then SIGKILL."""
        stop_process_group(self.popen, timeout)


class StartupError(RuntimeError):
    pass


def spark_env(work_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for Spark JVMs: this pyspark as SPARK_HOME, loopback only, no stray config,
    and Python workers on this venv's interpreter importing this repository's modules."""
    conf_dir = work_dir / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_CONF_DIR=str(conf_dir),  # empty: nothing from a spark-defaults.conf elsewhere
        SPARK_LOCAL_IP=HOST,
        SPARK_LOCAL_HOSTNAME=HOST,
        SPARK_LOG_DIR=str(work_dir / "logs"),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    env.update(extra)
    return env


def spawn(name: str, argv: list[str], work_dir: Path, env: dict[str, str], cwd: Optional[Path] = None) -> ServerProcess:
    log = work_dir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            argv, cwd=cwd or work_dir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    return ServerProcess(name, popen, log)


def wait_until(check: Callable[[], bool], what: str, processes: list[ServerProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in processes:
            if not p.alive():
                raise StartupError(f"{p.name} exited with {p.popen.returncode} while waiting for {what}:\n{p.tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    logs = "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in processes)
    raise StartupError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")


# -- standalone cluster ---------------------------------------------------------------------------------
@dataclass
class StandaloneCluster:
    master_url: str  # spark://127.0.0.1:PORT
    web_url: str  # the master's web UI, whose /json/ reports state and workers
    work_dir: Path  # logs/, and worker-<i>/<app id>/ per executor
    processes: list[ServerProcess]
    timings: dict[str, float] = field(default_factory=dict)

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=2) as response:
            return json.load(response)


@contextlib.contextmanager
def standalone_cluster(
    work_dir: Path, workers: int = 2, worker_cores: int = 1, worker_memory: str = "1g", timeout: float = 120
) -> Iterator[StandaloneCluster]:
    work_dir.mkdir(parents=True, exist_ok=True)
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, web_port = free_port(), free_port()
    env = spark_env(work_dir, SPARK_DAEMON_MEMORY="512m")
    cluster = StandaloneCluster(f"spark://{HOST}:{port}", f"http://{HOST}:{web_port}", work_dir, [])
    try:
        began = time.monotonic()
        master = spawn("master", [spark_class, "org.apache.spark.deploy.master.Master",
                                  "--host", HOST, "--port", str(port), "--webui-port", str(web_port)], work_dir, env)
        cluster.processes.append(master)
        wait_until(lambda: cluster.state().get("status") == "ALIVE", "the master", cluster.processes, timeout)
        cluster.timings["master_seconds"] = time.monotonic() - began
        for i in range(workers):
            worker_dir = work_dir / f"worker-{i}"
            worker_dir.mkdir(exist_ok=True)
            cluster.processes.append(spawn(f"worker-{i}", [
                spark_class, "org.apache.spark.deploy.worker.Worker", cluster.master_url,
                "--host", HOST, "--port", str(free_port()), "--webui-port", str(free_port()),
                "--cores", str(worker_cores), "--memory", worker_memory, "--work-dir", str(worker_dir),
            ], work_dir, env))

        def registered() -> bool:
            alive = [w for w in cluster.state().get("workers", []) if w.get("state") == "ALIVE"]
            return len(alive) == workers

        wait_until(registered, f"{workers} workers to register", cluster.processes, timeout)
        cluster.timings["cluster_seconds"] = time.monotonic() - began
        yield cluster
    finally:
        for p in reversed(cluster.processes):  # workers (and their executors) first, then the master
            p.stop()


# -- Spark Connect server -------------------------------------------------------------------------------
@dataclass
class ConnectServer:
    url: str  # sc://127.0.0.1:PORT
    process: ServerProcess
    timings: dict[str, float] = field(default_factory=dict)


# The server logs at WARN except its Connect service (sessions, operations): full INFO logging of
# every Spark job costs CPU the tests need, and the session lines show who did the work.
CONNECT_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.connect.name = org.apache.spark.sql.connect
logger.connect.level = info
"""


CONNECT_SERVER_SCRIPT = REPO_ROOT / "platform" / "spark" / "connect-server.sh"


@contextlib.contextmanager
def connect_server(
    work_dir: Path, master: str = "local[2]", driver_memory: str = "2g", timeout: float = 180,
    extra_env: Optional[dict[str, str]] = None,
) -> Iterator[ConnectServer]:
    """The compose stack's own start script (platform/spark/connect-server.sh) on loopback;
    ``extra_env`` carries the object store's settings and keys (``LAKEHOUSE_S3_*``, ``AWS_*``)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = spark_env(work_dir, SPARK_CONNECT_MASTER=master, SPARK_CONNECT_DRIVER_MEMORY=driver_memory,
                    SPARK_CONNECT_PORT=str(port), SPARK_CONNECT_BIND_ADDRESS=HOST, SPARK_DRIVER_HOST=HOST,
                    PYTHON=sys.executable, **(extra_env or {}))
    (Path(env["SPARK_CONF_DIR"]) / "log4j2.properties").write_text(CONNECT_LOG4J2)
    began = time.monotonic()
    process = spawn("connect-server", [str(CONNECT_SERVER_SCRIPT)], work_dir, env, cwd=REPO_ROOT)
    try:
        wait_until(lambda: port_open(port), f"the Connect server on port {port}", [process], timeout)
        server = ConnectServer(f"sc://{HOST}:{port}", process, {"connect_seconds": time.monotonic() - began})
        yield server
    finally:
        process.stop()

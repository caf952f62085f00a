"""Debian's Prometheus and Pushgateway, on 127.0.0.1 free ports, for the metrics tests.

``pushgateway_server()`` runs ``prometheus-pushgateway`` with its persistence file in a temporary
directory (Debian's build defaults it to /var/lib/prometheus/pushgateway.data, which would carry
metrics from one test run into the next);
``prometheus_server(target)`` runs ``prometheus`` with a temporary data directory and
platform/prometheus/prometheus.yml, its scrape target replaced by ``target`` and its scrape
interval shortened to a second. Both wait until ``/-/ready`` answers and stop their process by
PID (``stop_process_group``), also when start-up or the test fails. ``query`` asks Prometheus's
HTTP API (``/api/v1/query``) and returns the samples as ``{labels: value}``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import yaml

from . import REPO_ROOT, stop_process_group

HOST = "127.0.0.1"
PROMETHEUS = "/usr/bin/prometheus"  # Debian's prometheus package
PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"  # Debian's prometheus-pushgateway package
PLATFORM_CONFIG = REPO_ROOT / "platform" / "prometheus" / "prometheus.yml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class StartupError(RuntimeError):
    pass


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    @property
    def address(self) -> str:
        return self.url.split("://", 1)[1]


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise StartupError(f"{server.process.args[0]} exited with {server.process.returncode}:\n"
                               f"{server.log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise StartupError(f"{server.url} not ready after {timeout:.0f}s:\n"
                               f"{server.log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


@contextlib.contextmanager
def _serve(command: list[str], port: int, log: Path, timeout: float) -> Iterator[Server]:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(f"http://{HOST}:{port}", process, log)
    try:
        _wait_ready(server, timeout)
        yield server
    finally:
        stop_process_group(process)


@contextlib.contextmanager
def pushgateway_server(work_dir: Optional[Path] = None, timeout: float = 30.0) -> Iterator[Server]:
    base = Path(tempfile.mkdtemp(prefix="lakehouse-pushgateway-"))
    port = free_port()
    try:
        with _serve([PUSHGATEWAY, f"--web.listen-address={HOST}:{port}",
                     f"--persistence.file={base / 'pushgateway.data'}"], port,
                    (work_dir or base) / "pushgateway.log", timeout) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


def prometheus_config(target: str, scrape_interval: str = "1s") -> dict:
    """platform/prometheus/prometheus.yml, scraping ``target`` (host:port) every ``scrape_interval``."""
    config = yaml.safe_load(PLATFORM_CONFIG.read_text())
    config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = scrape_interval
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [target]}]
    return config


@contextlib.contextmanager
def prometheus_server(target: str, work_dir: Optional[Path] = None, timeout: float = 60.0) -> Iterator[Server]:
    base = Path(tempfile.mkdtemp(prefix="lakehouse-prometheus-"))
    config = base / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(target)))
    port = free_port()
    try:
        with _serve([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={base / 'data'}",
                     f"--web.listen-address={HOST}:{port}"], port, (work_dir or base) / "prometheus.log",
                    timeout) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)


def query(prometheus: Server, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant query's vector: each sample's labels (sorted pairs, ``__name__`` included) -> value."""
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    data = body["data"]
    if data["resultType"] == "scalar":
        return {(): float(data["result"][1])}
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in data["result"]}


def wait_for(prometheus: Server, expr: str, ready: Callable[[dict], bool], timeout: float = 30.0) -> dict:
    """Query ``expr`` until ``ready(result)`` (the scrape after a push takes up to an interval)."""
    deadline = time.monotonic() + timeout
    while True:
        result = query(prometheus, expr)
        if ready(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)

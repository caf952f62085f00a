"""The UI path: the Dagster webserver loads the workspace and serves the asset graph and checks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from servers import stop_process_group

pytestmark = pytest.mark.slow  # starts dagster-webserver in a subprocess

REPO_ROOT = Path(__file__).resolve().parent.parent
QUERY = """
{ assetNodes { assetKey { path } groupName isPartitioned
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_webserver_serves_the_asset_graph(tmp_path):
    port = _free_port()
    env = dict(os.environ, LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(tmp_path), DAGSTER_HOME=str(tmp_path))
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        nodes = None
        while time.monotonic() < deadline and nodes is None:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            try:
                nodes = _graphql(port, QUERY)["data"]["assetNodes"]
            except (OSError, KeyError, TypeError):
                time.sleep(1)
        assert nodes is not None, "webserver did not answer within 120 s"
        by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        assert len(by_key) == 16
        assert by_key["silver/orders"]["groupName"] == "silver" and by_key["silver/orders"]["isPartitioned"]
        assert not by_key["silver/customers"]["isPartitioned"]
        checks = {c["name"]: c["blocking"] for c in by_key["silver/orders"]["assetChecksOrError"]["checks"]}
        assert checks["orders_reference_known_customers"] is True
        assert checks["orders_quarantine_rate"] is False
    finally:
        stop_process_group(server, timeout=30)

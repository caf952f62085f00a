"""The whole asset graph on a Spark standalone cluster and on a Spark Connect server.

Both servers are real JVMs started from the installed pyspark package on 127.0.0.1
(tests/servers/spark.py). Each run is the CLI in a subprocess, pointed at the server by
LAKEHOUSE_SPARK_MASTER or LAKEHOUSE_SPARK_REMOTE; its tables must equal, row for row, those
of an in-process local[*] run of the same landing files (read back with delta-rs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance
from deltalake import DeltaTable

from conftest import load_platform_definitions, run_graph
from servers.spark import HOST, connect_server, standalone_cluster

pytestmark = [pytest.mark.servers, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")
START = date(2026, 1, 1)
DAYS = 3
END = START + timedelta(days=DAYS - 1)
# Columns that differ between any two runs by design.
RUN_COLUMNS = {"_ingested_at", "_run_id"}
COMPARED = [
    "gold/daily_sales", "gold/customer_lifetime_value", "features/customer_features",
    "silver/orders", "silver/quarantine_orders", "silver/customers", "silver/products",
    "bronze/orders", "bronze/rejected_orders",
]
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    sys.stderr.write("\nspark servers timings (s): " + ", ".join(f"{k}={v:.1f}" for k, v in TIMINGS.items()) + "\n")


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """One landing zone every run reads (same files, so `_source_file` matches too)."""
    from datagen import GeneratorConfig, generate_landing_zone

    root = tmp_path_factory.mktemp("landing")
    generate_landing_zone(GeneratorConfig(root=str(root), customers=300, products=40, orders=1500, days=DAYS,
                                          start_date=START.isoformat(), seed=11))
    return root


@pytest.fixture(scope="module")
def local_tables(tmp_path_factory, landing, spark):
    """The reference: the same graph in-process on the test session's local Spark."""
    from resources.settings import LakehouseSettings

    root = tmp_path_factory.mktemp("local")
    previous = os.environ.get("LAKEHOUSE_LANDING_ROOT")
    os.environ["LAKEHOUSE_LANDING_ROOT"] = str(landing)
    try:
        began = time.monotonic()
        defs = load_platform_definitions().build_definitions(
            LakehouseSettings(env="ci", root=str(root), start_date=START.isoformat())
        )
        result = run_graph(defs, DagsterInstance.ephemeral(), start=START.isoformat(), end=END.isoformat())
        TIMINGS["local_run"] = time.monotonic() - began
    finally:
        if previous is None:
            os.environ.pop("LAKEHOUSE_LANDING_ROOT", None)
        else:
            os.environ["LAKEHOUSE_LANDING_ROOT"] = previous
    assert result.success
    return root / "tables"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as running:
        TIMINGS["cluster_start"] = running.timings["cluster_seconds"]
        yield running


@pytest.fixture(scope="module")
def connect(tmp_path_factory):
    with connect_server(tmp_path_factory.mktemp("spark-connect")) as running:
        TIMINGS["connect_start"] = running.timings["connect_seconds"]
        yield running


def materialize(root: Path, landing: Path, **spark_env: str) -> subprocess.CompletedProcess:
    """`dagster asset materialize` of every asset for the whole range, in a subprocess."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAKEHOUSE_SPARK_", "SPARK_", "PYSPARK_"))}
    env.update(LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(root), LAKEHOUSE_LANDING_ROOT=str(landing),
               LAKEHOUSE_START_DATE=START.isoformat(), DAGSTER_HOME=str(root / "dagster_home"), **spark_env)
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [DAGSTER, "asset", "materialize", "-f", "platform/definitions.py", "-d", ".", "--select", "*",
         "--partition-range", f"{START}...{END}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )


def rows(tables: Path, name: str) -> list[tuple]:
    table = DeltaTable(str(tables / name)).to_pyarrow_table()
    table = table.drop_columns([c for c in table.column_names if c in RUN_COLUMNS])
    return sorted((tuple(sorted(r.items())) for r in table.to_pylist()), key=repr)


def assert_same_tables(tables: Path, reference: Path) -> None:
    for name in COMPARED:
        expected = rows(reference, name)
        assert expected, name
        assert rows(tables, name) == expected, name


def test_pipeline_on_standalone_cluster(tmp_path, landing, local_tables, cluster):
    began = time.monotonic()
    # the driver (in the subprocess) must be reachable by executors on loopback
    done = materialize(tmp_path, landing, LAKEHOUSE_SPARK_MASTER=cluster.master_url, SPARK_LOCAL_IP=HOST)
    TIMINGS["cluster_run"] = time.monotonic() - began
    assert done.returncode == 0, done.stderr[-5000:]
    assert "RUN_SUCCESS" in done.stderr
    # the run was an application of this master, with an executor on each worker
    state = cluster.state()
    apps = [a for a in state["activeapps"] + state["completedapps"] if a["name"] == "lakehouse-ci"]
    assert len(apps) == 1
    for i in range(2):
        assert (cluster.work_dir / f"worker-{i}" / apps[0]["id"]).is_dir()
    assert_same_tables(tmp_path / "tables", local_tables)


def test_pipeline_on_connect_server(tmp_path, landing, local_tables, connect):
    began = time.monotonic()
    done = materialize(tmp_path, landing, LAKEHOUSE_SPARK_REMOTE=connect.url)
    TIMINGS["connect_run"] = time.monotonic() - began
    assert done.returncode == 0, done.stderr[-5000:]
    assert "RUN_SUCCESS" in done.stderr
    # the work ran in the server: a Connect session used it, and the client started no JVM
    assert "sessionId" in connect.process.log.read_text()
    assert "log4j" not in done.stderr
    assert_same_tables(tmp_path / "tables", local_tables)

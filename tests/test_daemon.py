"""The sensors under the real `dagster-daemon`: files land, runs follow, tables come out right.

Two days of generated files land; then a late file for the first day. The daemon's
landing sensor ingests each file once, its automation sensor refreshes exactly the
partitions below bronze that the files touch, and the tables end up equal, row for
row, to one range run over the same files. A replay of every file (the sensor's
cursor deleted) then ingests nothing. The daemon's runs compute on one warm Spark
Connect server (LAKEHOUSE_SPARK_REMOTE), as a laptop with `make spark-connect` does,
instead of starting a JVM per run. The test starts the daemon and the server, bounds
every wait, and stops every process it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from assets.silver.orders import SILVER_ORDERS_POOL
from conftest import RUN_COLUMNS, load_platform_definitions, run_graph
from servers import stop_process_group
from servers.spark import connect_server

pytestmark = [pytest.mark.slow, pytest.mark.servers]

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
D1, D2 = date(2026, 1, 1), date(2026, 1, 2)
LATE_ORDER_BASE = 900_000_000  # far above the generator's order numbers
COMPARED = ["silver/orders", "gold/daily_sales", "gold/customer_lifetime_value", "features/customer_features"]
ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def late_orders() -> str:
    """A late part file for day 1: orders of known customers and products, new order ids."""
    import json

    lines = []
    for i in range(4):
        lines.append(json.dumps({
            "order_id": f"O{LATE_ORDER_BASE + i:09d}", "customer_id": f"C{i + 1:07d}", "order_ts": "2026-01-01T20:00:00Z",
            "channel": "web", "currency": "EUR",
            "items": [{"line_no": 1, "product_id": f"P{i + 1:05d}", "quantity": i + 1, "unit_price": 10.0}],
        }))
    return "\n".join(lines) + "\n"


def land_atomically(source_root: Path, landing: Path) -> None:
    """Copy files in as ``_name`` then rename: the writer convention the sensor relies on."""
    for src in sorted(p for p in source_root.rglob("*") if p.is_file() and not p.name.startswith("_")):
        target = landing / src.relative_to(source_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name("_" + target.name)
        shutil.copyfile(src, partial)
        partial.rename(target)


def materialized_partitions(instance: DagsterInstance, key: str) -> dict[str, int]:
    """How many times each partition of an asset was materialized."""
    records = instance.fetch_materializations(AssetKey(key.split("/")), limit=10_000).records
    counts: dict[str, int] = {}
    for record in records:
        partition = record.partition_key or "-"
        counts[partition] = counts.get(partition, 0) + 1
    return counts


def step_error_text(error) -> str:
    """A step failure's message with its causes: the wrapper alone says only which op failed."""
    parts = []
    while error is not None and len(parts) < 4:
        parts.append(error.message.strip()[:800])
        error = error.cause
    return " <- ".join(parts)


def wait_until(instance: DagsterInstance, done, what: str, timeout: float, log: Path) -> None:
    """Poll until ``done()`` holds and nothing runs or waits; fail with the runs' errors otherwise."""
    # Private but unavoidable: get_backfills filters by BulkActionStatus, which dagster does not export.
    from dagster._core.execution.backfill import BulkActionStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        failed = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
        assert not failed, f"run(s) failed while waiting for {what}: " + "; ".join(
            step_error_text(e.dagster_event.event_specific_data.error) if e.dagster_event
            and e.dagster_event.event_type_value == "STEP_FAILURE" else ""
            for run in failed for e in instance.all_logs(run.run_id) if e.dagster_event
            and e.dagster_event.event_type_value == "STEP_FAILURE"
        )
        busy = instance.get_runs(filters=RunsFilter(statuses=ACTIVE)) or instance.get_backfills(
            status=BulkActionStatus.REQUESTED)
        if not busy and done():
            return
        time.sleep(3)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; daemon log tail:\n"
                         + log.read_text()[-4000:])


@pytest.fixture(scope="module")
def daemon_world(tmp_path_factory):
    from datagen import GeneratorConfig, generate_landing_zone

    root = tmp_path_factory.mktemp("daemon")
    staged = root / "staged"
    manifest = generate_landing_zone(GeneratorConfig(root=str(staged), customers=60, products=12, orders=240,
                                                     days=2, start_date=D1.isoformat(), seed=5))
    home = root / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "platform" / "dagster.local.yaml", home / "dagster.yaml")
    with connect_server(root / "spark-connect") as connect:
        env = dict(os.environ, LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(root), DAGSTER_HOME=str(home),
                   LAKEHOUSE_START_DATE=D1.isoformat(), LAKEHOUSE_END_DATE=D2.isoformat(),
                   LAKEHOUSE_SENSOR_INTERVAL_SECONDS="5", LAKEHOUSE_SETTLE_SECONDS="2", LAKEHOUSE_AUTOMATION="on",
                   LAKEHOUSE_SPARK_REMOTE=connect.url)
        # as `make daemon` does when it creates DAGSTER_HOME
        subprocess.run([str(BIN / "dagster"), "instance", "concurrency", "set", SILVER_ORDERS_POOL, "1"], env=env,
                       check=True, capture_output=True, timeout=120)
        log = root / "daemon.log"
        with open(log, "w") as out:
            daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=REPO_ROOT,
                                      env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        instance = DagsterInstance.from_config(str(home))
        try:
            yield {"root": root, "staged": staged, "manifest": manifest, "instance": instance, "env": env,
                   "log": log, "daemon": daemon, "connect": connect}
        finally:
            # the runs the daemon launched live in its process group: none may outlive the test
            stop_process_group(daemon, timeout=60)
            instance.dispose()


def test_files_two_days_and_a_late_file_flow_through_every_layer_exactly_once(daemon_world, spark):
    world, instance = daemon_world, daemon_world["instance"]
    landing = world["root"] / "landing"
    started = time.monotonic()
    land_atomically(world["staged"], landing)
    wait_until(instance, lambda: materialized_partitions(instance, "features/customer_features").keys()
               >= {D1.isoformat(), D2.isoformat()} and materialized_partitions(
                   instance, "reports/category_sales_summary"), "two days to reach features", 900, world["log"])
    first_pass = time.monotonic() - started
    bronze_runs = materialized_partitions(instance, "bronze/orders")
    assert bronze_runs == {D1.isoformat(): 1, D2.isoformat(): 1}  # one ingestion each

    # a late file for day 1
    late = world["staged"].parent / "late" / "orders" / f"date={D1.isoformat()}"
    late.mkdir(parents=True)
    (late / "part-late.jsonl").write_text(late_orders())
    before = {k: materialized_partitions(instance, k) for k in ("silver/orders", "gold/daily_sales",
                                                                "features/customer_features")}
    reports_before = materialized_partitions(instance, "reports/category_sales_summary")["-"]
    started = time.monotonic()
    land_atomically(late.parent.parent, landing)
    # the report is the last layer: once it refreshed, automation has nothing left to do
    wait_until(instance, lambda: materialized_partitions(instance, "features/customer_features").get(
        D2.isoformat(), 0) > before["features/customer_features"][D2.isoformat()]
        and materialized_partitions(instance, "reports/category_sales_summary")["-"] > reports_before,
        "the late file to reach features and the report", 900, world["log"])
    late_pass = time.monotonic() - started
    after = {k: materialized_partitions(instance, k) for k in before}
    assert materialized_partitions(instance, "bronze/orders") == {D1.isoformat(): 2, D2.isoformat(): 1}
    # only day 1 of silver was refreshed; gold order day 1 and features from day 1 on
    assert after["silver/orders"] == {D1.isoformat(): 2, D2.isoformat(): 1}
    assert after["gold/daily_sales"][D1.isoformat()] == 2
    assert after["features/customer_features"] == {D1.isoformat(): 2, D2.isoformat(): 2}

    # the same files again: the sensor's cursor forgotten, every file listed anew
    runs_before = len(instance.get_runs())
    done = subprocess.run([str(BIN / "dagster"), "sensor", "cursor", "landing_files", "--delete", "-w",
                           "workspace.yaml"], cwd=REPO_ROOT, env=world["env"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    time.sleep(12)  # two ticks or more
    wait_until(instance, lambda: True, "quiet", 120, world["log"])
    assert len(instance.get_runs()) == runs_before

    # the tables equal one range run over the same files
    reference_root = world["root"] / "reference"
    shutil.copytree(landing, reference_root / "landing")
    from resources.settings import LakehouseSettings

    settings = LakehouseSettings(env="ci", root=str(reference_root), start_date=D1.isoformat(),
                                 end_date=D2.isoformat())
    reference = load_platform_definitions().build_definitions(settings)
    assert run_graph(reference, DagsterInstance.ephemeral(), start=D1.isoformat(), end=D2.isoformat()).success
    delta = reference.resources["delta"]
    live_root = f"{world['root']}/tables"
    for table in COMPARED:
        ours = spark.read.format("delta").load(f"{live_root}/{table}").drop(*RUN_COLUMNS)
        theirs = delta.read(table).drop(*RUN_COLUMNS)
        ours = ours.select(*sorted(ours.columns))
        theirs = theirs.select(*sorted(theirs.columns))
        theirs = theirs.selectExpr(*[f"replace(_source_file, '{reference_root}', '{world['root']}') AS _source_file"
                                     if c == "_source_file" else c for c in theirs.columns])
        assert ours.count() == theirs.count() > 0, table
        assert ours.exceptAll(theirs).count() == 0 and theirs.exceptAll(ours).count() == 0, table
    late_ids = {r.order_id for r in spark.read.format("delta").load(f"{live_root}/silver/orders")
                .where(f"order_id >= 'O{LATE_ORDER_BASE:09d}'").collect()}
    assert late_ids == {f"O{LATE_ORDER_BASE + i:09d}" for i in range(4)}
    # every run computed on the warm server: its log names each run's Spark Connect session
    assert "sessionId" in world["connect"].process.log.read_text()
    print(f"\ndaemon: first pass {first_pass:.0f}s, late file {late_pass:.0f}s", file=sys.stderr)

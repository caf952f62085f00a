"""A run killed (SIGKILL) while Spark writes silver or gold: no partial data is visible, and the
next run heals. Delta makes a write visible only with its log commit; the test catches the
moment a write's data file exists but its commit does not, kills the whole process group, and
reads the table from another process (this one)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from conftest import load_platform_definitions, run_graph

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
D1 = date(2026, 1, 1)
ATTEMPTS = 4


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from datagen import GeneratorConfig, generate_landing_zone
    from resources.settings import LakehouseSettings

    root = tmp_path_factory.mktemp("crash")
    generate_landing_zone(GeneratorConfig(root=str(root / "landing"), customers=40, products=10, orders=120,
                                          days=1, start_date=D1.isoformat(), seed=11))
    defs = load_platform_definitions().build_definitions(
        LakehouseSettings(env="ci", root=str(root), start_date=D1.isoformat(), end_date=D1.isoformat()))
    assert run_graph(defs, DagsterInstance.ephemeral(), partition=D1.isoformat()).success
    (root / "dagster_home").mkdir()
    return {"root": root, "defs": defs, "delta": defs.resources["delta"]}


def land_orders(built, name: str, ids: list[str]) -> None:
    known = built["delta"].read("silver/orders").orderBy("order_id").first()
    path = built["root"] / "landing" / "orders" / f"date={D1}" / name
    path.write_text("".join(json.dumps({
        "order_id": order_id, "customer_id": known.customer_id, "order_ts": f"{D1}T12:00:00Z", "channel": "web",
        "currency": "EUR", "items": [{"line_no": 1, "product_id": known.product_id, "quantity": 1, "unit_price": 2.5}],
    }) + "\n" for order_id in ids))


def data_files(table_dir: Path) -> set[str]:
    return {str(p) for p in table_dir.rglob("*.parquet")}


# What each case runs in the killed process: the writing step and what feeds it new rows.
SELECTIONS = {
    "silver/orders": "bronze/orders,bronze/rejected_orders,silver/orders,silver/quarantine_orders",
    "gold/daily_sales": "gold/daily_sales",
}
UPSTREAM_OF_GOLD = [AssetKey(k.split("/")) for k in SELECTIONS["silver/orders"].split(",")]


def kill_mid_write(built, table: str) -> tuple[bool, int]:
    """Run the day in a subprocess; SIGKILL it once ``table`` has a new data file and no new
    commit. Returns (caught mid-write, the version before)."""
    table_dir = built["root"] / "tables" / table
    version = built["delta"].version(table)
    before = data_files(table_dir)
    next_commit = table_dir / "_delta_log" / f"{version + 1:020d}.json"
    env = dict(os.environ, LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(built["root"]), LAKEHOUSE_START_DATE=D1.isoformat(),
               LAKEHOUSE_END_DATE=D1.isoformat(), DAGSTER_HOME=str(built["root"] / "dagster_home"))
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-f", "platform/definitions.py",
         "-d", ".", "--select", SELECTIONS[table], "--partition", D1.isoformat()],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    caught = False
    try:
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            if data_files(table_dir) - before and not next_commit.exists():
                os.killpg(process.pid, signal.SIGKILL)
                caught = not next_commit.exists()
                break
            time.sleep(0.002)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    return caught, version


@pytest.mark.parametrize("table", ["silver/orders", "gold/daily_sales"])
def test_a_run_killed_while_writing_leaves_no_partial_data_and_a_rerun_heals(built, table):
    delta = built["delta"]
    for attempt in range(ATTEMPTS):
        ids = [f"O{880_000_000 + 10 * attempt + i + (0 if table == 'silver/orders' else 500):09d}" for i in range(3)]
        land_orders(built, f"extra-{table.replace('/', '-')}-{attempt}.jsonl", ids)
        if table == "gold/daily_sales":  # silver gains the rows first, so gold has something to write
            assert run_graph(built["defs"], DagsterInstance.ephemeral(), partition=D1.isoformat(),
                             selection=UPSTREAM_OF_GOLD).success
        rows_before = delta.read(table).count()
        caught, version = kill_mid_write(built, table)
        if caught:
            break
        # the write finished before the kill: heal and try again with another file
        assert run_graph(built["defs"], DagsterInstance.ephemeral(), partition=D1.isoformat()).success
    assert caught, f"never caught a write to {table} between its data files and its commit"

    # what readers see: the version before the write, whole (every file its log names exists)
    assert delta.version(table) == version
    assert delta.read(table).count() == rows_before
    named = delta.delta_rs_table(table).file_uris()
    assert named and all(Path(uri.removeprefix("file://")).exists() for uri in named)

    healed = run_graph(built["defs"], DagsterInstance.ephemeral(), partition=D1.isoformat())
    assert healed.success
    silver = delta.read("silver/orders")
    assert silver.where(silver.order_id.isin(ids)).count() == 3
    assert silver.groupBy("order_id", "line_no").count().where("count > 1").count() == 0
    revenue = delta.read("gold/daily_sales", f"order_date = DATE'{D1}'").agg({"revenue": "sum"}).first()[0]
    assert revenue == silver.where(f"order_date = DATE'{D1}'").agg({"line_amount": "sum"}).first()[0]

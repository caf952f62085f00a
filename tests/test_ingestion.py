"""Exactly-once ingestion at the table: bronze holds each landed file's rows once, whatever
replays, re-runs, rewrites and crashes happen. Real Spark, real Delta, real Dagster runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from conftest import check_evaluations, load_platform_definitions

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
D1 = date(2026, 1, 1)
ORDERS = [AssetKey(["bronze", "orders"]), AssetKey(["bronze", "rejected_orders"])]
CUSTOMERS = [AssetKey(["bronze", "customers"]), AssetKey(["bronze", "rejected_customers"])]
CUSTOMER_HEADER = "customer_id,name,email,address,city,signup_date,updated_at"


def order(order_id: str, customer: str = "C000001") -> str:
    return (f'{{"order_id": "{order_id}", "customer_id": "{customer}", "order_ts": "2026-01-01T10:00:00Z", '
            f'"channel": "web", "currency": "EUR", "items": [{{"line_no": 1, "product_id": "P0001", '
            f'"quantity": 1, "unit_price": 9.5}}]}}')


def land(root: Path, source: str, name: str, content: bytes | str, day: date = D1) -> Path:
    path = root / "landing" / source / f"date={day.isoformat()}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.fixture()
def lake(tmp_path, spark):
    from resources.settings import LakehouseSettings

    settings = LakehouseSettings(env="ci", root=str(tmp_path), start_date=D1.isoformat(), max_file_bytes=4000)
    defs = load_platform_definitions().build_definitions(settings)
    return {"root": tmp_path, "defs": defs, "delta": defs.resources["delta"],
            "log": defs.resources["ingestion_log"], "instance": DagsterInstance.ephemeral()}


def ingest(lake, selection=ORDERS, config: dict | None = None):
    job = lake["defs"].resolve_implicit_global_asset_job_def()
    op = "bronze_" + selection[0].path[-1]
    result = job.execute_in_process(
        instance=lake["instance"], partition_key=D1.isoformat(), asset_selection=selection,
        run_config={"ops": {op: {"config": config}}} if config else None, raise_on_error=False,
    )
    assert result.success
    return result


def rows_by_file(lake, table: str) -> dict[str, int]:
    df = lake["delta"].read(table).groupBy("_source_file").count().collect()
    return {Path(r["_source_file"]).name: r["count"] for r in df}


def log_by_file(lake, source: str = "orders") -> dict:
    return {Path(path).name: e for (_, path), e in lake["log"].entries(source).items()}


def accounted(result, table: str = "bronze/orders"):
    return check_evaluations(result)[f"{table}:landed_lines_accounted"]


def test_a_file_ingested_again_is_held_once(lake):
    root = lake["root"]
    land(root, "orders", "part-1.jsonl", "\n".join([order("O1"), order("O2"), "{not json"]) + "\n")
    land(root, "orders", "part-2.jsonl", order("O3") + "\n")
    first = ingest(lake)
    assert rows_by_file(lake, "bronze/orders") == {"part-1.jsonl": 2, "part-2.jsonl": 1}
    assert rows_by_file(lake, "bronze/rejected_orders") == {"part-1.jsonl": 1}
    log = log_by_file(lake)
    assert {n: (e.status, e.lines, e.rows_accepted, e.rows_rejected) for n, e in log.items()} == {
        "part-1.jsonl": ("ingested", 3, 2, 1), "part-2.jsonl": ("ingested", 1, 1, 0)}
    assert accounted(first).passed
    version = lake["delta"].last_commit("bronze/orders").version

    again = ingest(lake)  # nothing new: no commit at all
    assert lake["delta"].last_commit("bronze/orders").version == version
    assert again.success

    for config in ({"reingest": True}, {"files": [e.path for e in log.values()]}):  # manual and sensor replays
        replay = ingest(lake, config=config)
        assert rows_by_file(lake, "bronze/orders") == {"part-1.jsonl": 2, "part-2.jsonl": 1}
        assert rows_by_file(lake, "bronze/rejected_orders") == {"part-1.jsonl": 1}
        assert accounted(replay).passed
    assert lake["delta"].read("bronze/orders").select("order_id").distinct().count() == 3


def test_a_rewritten_file_replaces_its_rows(lake):
    root = lake["root"]
    path = land(root, "orders", "part-1.jsonl", "\n".join([order("O1"), order("O2")]) + "\n")
    land(root, "orders", "part-2.jsonl", order("O3") + "\n")
    ingest(lake)
    before = log_by_file(lake)["part-1.jsonl"]
    path.write_text(order("O1") + "\n")  # same name, new content
    os.utime(path, (time.time() + 5, time.time() + 5))
    result = ingest(lake)
    ids = sorted(r.order_id for r in lake["delta"].read("bronze/orders").collect())
    assert ids == ["O1", "O3"]
    after = log_by_file(lake)["part-1.jsonl"]
    assert after.fingerprint != before.fingerprint and after.lines == 1
    assert accounted(result).passed


def test_bad_files_are_quarantined_whole_with_a_reason_and_never_block_good_ones(lake):
    root = lake["root"]
    land(root, "orders", "good.jsonl", order("O1") + "\n")
    land(root, "orders", "empty.jsonl", "")
    land(root, "orders", "blank.jsonl", "\n  \n")
    land(root, "orders", "export.csv", "order_id\nO9\n")
    land(root, "orders", "latin1.jsonl", order("O2").encode() + b"\n" + order("Ren\xe9").encode("latin-1") + b"\n")
    land(root, "orders", "table.jsonl", "order_id,customer_id\nO5,C1\nO6,C2\n")
    land(root, "orders", "huge.jsonl", "\n".join(order(f"H{i}") for i in range(40)) + "\n")  # > 4,000 bytes
    result = ingest(lake)
    log = log_by_file(lake)
    reasons = {name: e.reason for name, e in log.items()}
    assert reasons["good.jsonl"] is None and log["good.jsonl"].status == "ingested"
    assert reasons["empty.jsonl"] == "empty file (0 bytes)"
    assert reasons["blank.jsonl"] == "empty file (no records)"
    assert reasons["export.csv"] == "unexpected file type: expected *.jsonl"
    assert reasons["latin1.jsonl"] == "undecodable bytes: 1 line(s) are not valid UTF-8"
    assert reasons["table.jsonl"] == "wrong format: none of its 3 line(s) is a record"
    assert reasons["huge.jsonl"].startswith("file is ") and "over the 4,000-byte limit" in reasons["huge.jsonl"]
    assert {n for n, e in log.items() if e.status == "quarantined"} == set(reasons) - {"good.jsonl"}
    assert rows_by_file(lake, "bronze/orders") == {"good.jsonl": 1}
    assert rows_by_file(lake, "bronze/rejected_orders") == {}
    check = accounted(result)
    assert check.passed
    assert check.metadata["files_quarantined"].value == 6
    assert check.metadata["quarantined_lines"].value == 2 + 3  # latin1 and table were read; the rest not
    assert log["huge.jsonl"].lines is None and log["blank.jsonl"].lines == 0
    materialization = result.asset_materializations_for_node("bronze_orders")[0]
    assert materialization.metadata["files_quarantined"].value == 6


def test_a_csv_with_unexpected_columns_is_quarantined(lake):
    root = lake["root"]
    land(root, "customers", "customers.csv",
         CUSTOMER_HEADER + "\nC000001,Ann,a@x.io,1 Main St,Oslo,2025-01-01,2026-01-01T00:00:00\n")
    land(root, "customers", "renamed.csv", "id,name\nC000002,Bob\n")
    result = ingest(lake, CUSTOMERS)
    log = log_by_file(lake, "customers")
    assert log["customers.csv"].status == "ingested" and log["customers.csv"].rows_accepted == 1
    assert log["renamed.csv"].reason.startswith("unexpected columns: header is ['id', 'name']")
    assert accounted(result, "bronze/customers").passed


def test_a_crash_between_the_bronze_commit_and_the_log_loses_and_duplicates_nothing(lake):
    """Kill the ingesting process right after bronze's Delta commit, before it logs the file."""
    root = lake["root"]
    land(root, "orders", "part-1.jsonl", "\n".join(order(f"A{i}") for i in range(5)) + "\n")
    ingest(lake)  # version 0 of bronze/orders
    land(root, "orders", "part-2.jsonl", "\n".join(order(f"B{i}") for i in range(7)) + "\n")

    env = dict(os.environ, LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(root), LAKEHOUSE_START_DATE=D1.isoformat(),
               DAGSTER_HOME=str(root / "dagster_home"))
    (root / "dagster_home").mkdir()
    commit = root / "tables" / "bronze" / "orders" / "_delta_log" / f"{1:020d}.json"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-f", "platform/definitions.py",
         "-d", ".", "--select", "bronze/orders,bronze/rejected_orders", "--partition", D1.isoformat()],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not commit.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert commit.exists(), "the ingesting process never committed to bronze"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # the crash window: part-2's rows are in bronze, the log does not know it
    assert "part-2.jsonl" not in log_by_file(lake)
    assert rows_by_file(lake, "bronze/orders") == {"part-1.jsonl": 5, "part-2.jsonl": 7}

    rerun = ingest(lake)  # what the sensor's next run or an operator's retry does
    assert rows_by_file(lake, "bronze/orders") == {"part-1.jsonl": 5, "part-2.jsonl": 7}
    assert lake["delta"].read("bronze/orders").count() == 12
    assert log_by_file(lake)["part-2.jsonl"].rows_accepted == 7
    assert accounted(rerun).passed


# -- hostile landings: odd names, odd folders, odd lines -------------------------------------------
def test_any_file_name_is_ingested_or_refused_by_name_and_never_blocks_the_rest(lake):
    root = lake["root"]
    readable = ["a b.jsonl", "c#1.jsonl", "f[1].jsonl", "g%20h.jsonl", "x+y.jsonl", "i{x}.jsonl", "j*k?.jsonl",
                "é ü.jsonl", "good.jsonl"]
    for n, name in enumerate(readable):
        land(root, "orders", name, order(f"O{n}") + "\n")
    land(root, "orders", "d:e.jsonl", order("O99") + "\n")
    result = ingest(lake)
    assert rows_by_file(lake, "bronze/orders") == {name: 1 for name in readable}
    log = log_by_file(lake)
    assert {n for n, e in log.items() if e.status == "ingested"} == set(readable)
    assert log["d:e.jsonl"].status == "quarantined" and "':'" in log["d:e.jsonl"].reason
    assert accounted(result).passed
    # a second run finds nothing new: every name matched its log entry
    again = ingest(lake)
    assert again.asset_materializations_for_node("bronze_orders")[0].metadata["files_ingested"].value == 0


def test_a_folder_that_is_not_a_day_is_reported_by_path_and_the_good_day_ingests(lake):
    from sensors.landing import LandingCursor, plan_tick

    root = lake["root"]
    land(root, "orders", "good.jsonl", order("O1") + "\n")
    bad = root / "landing" / "orders" / "date=2026-13-45" / "part.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text(order("O2") + "\n")
    ingest(lake)
    assert rows_by_file(lake, "bronze/orders") == {"good.jsonl": 1}

    landing = lake["defs"].resources["landing"]
    plan = plan_tick(list(landing.iter_files("orders")), {}, LandingCursor(), now_ns=time.time_ns() + 10**12,
                     settle_seconds=0, first_day=D1, last_day=None)
    assert [(f.path, reason) for f, reason in plan.unroutable] == [
        (str(bad), "folder date=2026-13-45 is not a calendar day")]
    assert [f.name for f in plan.ready] == ["good.jsonl"]


def test_json_lines_with_two_objects_or_trailing_text_are_rejected_with_their_text(lake):
    root = lake["root"]
    lines = [order("O1") + order("O2"), order("O3") + " xyz", order("O4") + ",", "\ufeff" + order("O5"), "\t",
             order("O6")]
    land(root, "orders", "part-1.jsonl", "\n".join(lines) + "\n")
    result = ingest(lake)
    assert sorted(r.order_id for r in lake["delta"].read("bronze/orders").collect()) == ["O5", "O6"]
    rejected = sorted(r.raw_record for r in lake["delta"].read("bronze/rejected_orders").collect())
    assert rejected == sorted(lines[:3])
    entry = log_by_file(lake)["part-1.jsonl"]
    assert (entry.lines, entry.rows_accepted, entry.rows_rejected) == (5, 2, 3)  # the tab-only line is blank
    assert accounted(result).passed


def test_csv_is_read_as_rfc_4180(lake):
    root = lake["root"]
    rows = [
        'C000001,"Ann ""The Pizza"" Lee",ann@x.io,"1 Main St\nFlat 2",Oslo,2025-01-01,2026-01-01T00:00:00',
        "\t",
        "C000002,Bob,bob@x.io,2 High St,Bergen,2025-02-01,2026-01-01T00:00:00",
    ]
    land(root, "customers", "customers.csv", "\ufeff" + CUSTOMER_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n")
    result = ingest(lake, CUSTOMERS)
    got = {r.customer_id: (r.name, r.address) for r in lake["delta"].read("bronze/customers").collect()}
    assert got == {"C000001": ('Ann "The Pizza" Lee', "1 Main St\nFlat 2"), "C000002": ("Bob", "2 High St")}
    assert lake["delta"].read("bronze/rejected_customers").count() == 0
    entry = log_by_file(lake, "customers")["customers.csv"]
    assert entry.status == "ingested" and (entry.lines, entry.rows_accepted) == (3, 2)  # header + 2 records
    assert accounted(result, "bronze/customers").passed

"""The landing sensor, through Dagster's sensor testing API, on real files and a real ingestion log."""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, SensorResult, build_sensor_context

from resources.ingestion_log import INGESTED, IngestionEntry
from resources.landing import LandedFile
from sensors.landing import OVERLAP_NS, LandingCursor, build_landing_sensor, plan_tick, run_requests

D1, D2, D3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)
OLD = time.time() - 3600  # an hour ago: complete by the settle rule


def land(root: Path, source: str, day: date, name: str, text: str, mtime: float = OLD) -> Path:
    path = root / "landing" / source / f"date={day.isoformat()}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture()
def zone(tmp_path, spark_resource):
    from resources.delta import DeltaLakeResource
    from resources.ingestion_log import IngestionLogResource
    from resources.landing import LandingZoneResource

    delta = DeltaLakeResource(spark=spark_resource, root=str(tmp_path / "tables"))
    return {
        "root": tmp_path,
        "landing": LandingZoneResource(root=str(tmp_path / "landing")),
        "ingestion_log": IngestionLogResource(delta=delta),
    }


def tick(zone, cursor=None, settle_seconds=60, last_day=None):
    sensor = build_landing_sensor(D1, last_day, 30, settle_seconds, running=False)
    with DagsterInstance.ephemeral() as instance:
        with build_sensor_context(
            instance=instance, cursor=cursor,
            resources={"landing": zone["landing"], "ingestion_log": zone["ingestion_log"]},
        ) as context:
            result = sensor(context)
        assert isinstance(result, SensorResult)
        return result, context


def mark_ingested(zone, result) -> None:
    """What the requested bronze runs would record, for the sensor's next tick."""
    files = []
    for request in result.run_requests:
        for op in request.run_config["ops"].values():
            files.extend(op["config"]["files"])
    listed = {f.path: f for s in ("orders", "customers", "products") for f in zone["landing"].iter_files(s)}
    now = datetime.now(timezone.utc)
    zone["ingestion_log"].record([
        IngestionEntry(f.source, f.path, f.landed_date, f.size, f.mtime_ns, f.modified_at, INGESTED, None,
                       1, 1, 0, 0, "run", now)
        for f in (listed[p] for p in files)
    ])


def requested_files(result) -> dict[str, list[str]]:
    out = {}
    for request in result.run_requests:
        for op, config in request.run_config["ops"].items():
            out.setdefault(op, []).extend(Path(p).name for p in config["config"]["files"])
    return out


def test_new_files_are_requested_grouped_by_consecutive_days(zone):
    root = zone["root"]
    for day in (D1, D2):
        land(root, "orders", day, "part-0001.jsonl", '{"order_id": "O1"}\n')
        land(root, "customers", day, "customers.csv", "customer_id\n")
    land(root, "products", D1, "products.csv", "product_id\n")  # products land on the first day only
    result, _ = tick(zone)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.tags["dagster/asset_partition_range_start"] == "2026-01-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-01-02"
    assert set(request.asset_selection) == {
        AssetKey(["bronze", s]) for s in ("orders", "customers", "products")
    } | {AssetKey(["bronze", f"rejected_{s}"]) for s in ("orders", "customers", "products")}
    files = request.run_config["ops"]["bronze_orders"]["config"]["files"]
    assert [Path(p).relative_to(root / "landing").as_posix() for p in files] == [
        "orders/date=2026-01-01/part-0001.jsonl", "orders/date=2026-01-02/part-0001.jsonl"]
    assert request.run_key.startswith("landing:2026-01-01..2026-01-02:")
    assert requested_files(result)["bronze_products"] == ["products.csv"]  # D1's; D2 had none

    # a day with only orders is its own run, for orders only
    land(root, "orders", D3, "part-0001.jsonl", '{"order_id": "O2"}\n')
    mark_ingested(zone, result)
    second, _ = tick(zone, result.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].partition_key == "2026-01-03"
    assert requested_files(second) == {"bronze_orders": ["part-0001.jsonl"]}


def test_no_new_files_skips_with_a_reason_and_reports_the_backlog(zone):
    empty, _ = tick(zone)
    assert empty.run_requests == [] and "No new complete files" in empty.skip_reason.skip_message
    land(zone["root"], "orders", D1, "part-0001.jsonl", "{}\n")
    first, _ = tick(zone, empty.cursor)
    waiting = {o.asset_key.path[-1]: o.metadata["landing_files_waiting"].value for o in first.asset_events}
    assert waiting == {"orders": 1}  # customers and products were reported (0) on the first tick
    mark_ingested(zone, first)
    again, _ = tick(zone, first.cursor)
    assert again.run_requests == []
    assert "1 landed file(s): 0 ready" in again.skip_reason.skip_message
    assert [o.metadata["landing_files_waiting"].value for o in again.asset_events] == [0]


def test_a_replayed_tick_requests_the_same_run_keys(zone):
    land(zone["root"], "orders", D1, "part-0001.jsonl", "{}\n")
    first, _ = tick(zone)
    replay, _ = tick(zone)  # the daemon re-evaluates from the same cursor after a restart
    assert [r.run_key for r in replay.run_requests] == [r.run_key for r in first.run_requests]
    # and a tick right after (the run not finished yet) does not request the file again
    in_flight, _ = tick(zone, first.cursor)
    assert in_flight.run_requests == []


def test_a_changed_file_is_requested_again_with_a_new_run_key(zone):
    path = land(zone["root"], "orders", D1, "part-0001.jsonl", '{"order_id": "O1"}\n')
    first, _ = tick(zone)
    mark_ingested(zone, first)
    assert tick(zone, first.cursor)[0].run_requests == []
    path.write_text('{"order_id": "O1"}\n{"order_id": "O2"}\n')
    os.utime(path, (OLD + 60, OLD + 60))
    changed, _ = tick(zone, first.cursor)
    assert len(changed.run_requests) == 1
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert requested_files(changed) == {"bronze_orders": ["part-0001.jsonl"]}


def test_a_file_still_being_written_waits_until_it_holds_still(zone):
    now = time.time()
    path = land(zone["root"], "orders", D1, "part-0001.jsonl", '{"order_id"', mtime=now)
    land(zone["root"], "orders", D1, "_part-0002.jsonl.tmp", "{}", mtime=now)  # writer convention
    first, _ = tick(zone)
    assert first.run_requests == [] and "1 settling" in first.skip_reason.skip_message
    path.write_text('{"order_id": "O1"}\n')  # still growing at the next tick
    os.utime(path, (now + 1, now + 1))
    second, _ = tick(zone, first.cursor)
    assert second.run_requests == []
    third, _ = tick(zone, second.cursor)  # unchanged across two ticks: complete
    assert requested_files(third) == {"bronze_orders": ["part-0001.jsonl"]}


def test_bad_and_unroutable_files_never_block_the_others(zone):
    root = zone["root"]
    land(root, "orders", D1, "part-0001.jsonl", "{}\n")
    land(root, "orders", D1, "empty.jsonl", "")  # bad: bronze quarantines it with a reason
    land(root, "orders", D1, "export.csv", "a,b\n")  # wrong type: likewise
    stray = root / "landing" / "orders" / "stray.jsonl"  # no date folder: cannot be routed
    stray.write_text("{}\n")
    os.utime(stray, (OLD, OLD))
    land(root, "orders", date(2025, 12, 31), "part-0001.jsonl", "{}\n")  # before the first partition
    result, _ = tick(zone)
    assert requested_files(result) == {"bronze_orders": ["empty.jsonl", "export.csv", "part-0001.jsonl"]}
    assert [r.partition_key for r in result.run_requests] == ["2026-01-01"]

    files = list(zone["landing"].iter_files("orders"))
    plan = plan_tick(files, {}, LandingCursor(), now_ns=time.time_ns(), settle_seconds=60, first_day=D1,
                     last_day=None)
    reasons = {Path(f.path).relative_to(root / "landing").as_posix(): reason for f, reason in plan.unroutable}
    assert reasons == {
        "orders/stray.jsonl": "no date=YYYY-MM-DD folder in its path",
        "orders/date=2025-12-31/part-0001.jsonl": "day 2025-12-31 is outside the daily partitions",
    }
    assert len(plan.waiting["orders"]) == 5  # unroutable files stay in the backlog, visible


def test_the_cursor_stays_small_over_many_ticks_and_every_file_is_requested_once():
    """Pure planning over 300 ticks and 30,000 files (an in-memory log: this is our own logic)."""
    logged: dict = {}
    cursor = LandingCursor()
    requested: list[str] = []
    now = 1_800_000_000 * 10**9
    files: list[LandedFile] = []
    sizes = []
    for t in range(300):
        now += 30 * 10**9
        day = date(2026, 1, 1 + t % 28)
        files += [LandedFile("orders", f"/l/orders/date={day}/t{t:03d}-{i:03d}.jsonl", day, 10, now - 5 * 10**9)
                  for i in range(100)]
        plan = plan_tick(files, logged, cursor, now_ns=now, settle_seconds=60, first_day=D1, last_day=None)
        for request in run_requests(plan.ready):
            requested += request.run_config["ops"]["bronze_orders"]["config"]["files"]
        for f in plan.ready:
            logged[(f.source, f.path)] = IngestionEntry(f.source, f.path, f.landed_date, f.size, f.mtime_ns,
                                                        f.modified_at, INGESTED, None, 1, 1, 0, 0, "r", None)
        cursor = plan.cursor
        sizes.append(len(cursor.to_json()))
    assert sorted(requested) == sorted(f.path for f in files[:-100])  # the last tick's files are settling
    assert len(set(requested)) == len(requested)
    assert max(sizes) < 20_000  # the settling files of one tick, not the history
    assert cursor.watermark_ns > now - OVERLAP_NS

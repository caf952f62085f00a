"""The benchmark's plain-Spark baseline must run Spark as the platform's local environment does."""

from __future__ import annotations

import pytest
from conftest import load_platform_definitions

from resources.settings import LakehouseSettings


def test_plain_spark_baseline_uses_the_local_environment_s_spark_settings(monkeypatch):
    """bench/local_spark.py copies the settings for the baselines (plain_spark.py, floor.py):
    importing resources.spark would bring Dagster into their processes and wall times; this
    keeps the copy from drifting."""
    monkeypatch.setenv("LAKEHOUSE_ENV", "local")
    for name in ("LAKEHOUSE_SPARK_SHUFFLE_PARTITIONS", "LAKEHOUSE_SPARK_LINEAGE"):
        monkeypatch.delenv(name, raising=False)
    spark = load_platform_definitions().RESOURCES_BY_ENV["local"](LakehouseSettings.from_env())["spark"]
    from bench.local_spark import SPARK_CONF

    platform_conf = {k: v for k, v in spark.spark_conf().items() if k != "spark.jars"}
    assert SPARK_CONF == platform_conf


def _parquet_sizes(table) -> dict[str, int]:
    return {p.relative_to(table).as_posix(): p.stat().st_size for p in table.rglob("*.parquet")}


@pytest.mark.slow  # many Delta commits
def test_delta_log_counts_what_each_commit_wrote(spark, tmp_path):
    """bench/delta_log.py reads bytes and files written, files removed and MERGE's copied rows
    per commit from the JSON log: checked against the files on disk of a real Spark Delta table."""
    from datetime import date

    from delta.tables import DeltaTable

    from bench import delta_log

    root = tmp_path / "lake"
    table = root / "silver" / "orders"
    rows = [(f"o{i}", i, date(2026, 1, 1 + i % 2)) for i in range(10)]  # 5 rows per landing day
    frame = spark.createDataFrame(rows, "order_id string, amount int, _landed_date date")
    assert delta_log.versions(root) == {}
    frame.coalesce(1).write.format("delta").partitionBy("_landed_date").save(str(table))
    after_first = _parquet_sizes(table)
    assert delta_log.versions(root) == {"silver/orders": 0}

    (DeltaTable.forPath(spark, str(table)).alias("t")
     .merge(spark.createDataFrame([("o2", 99, date(2026, 1, 1))], frame.schema).alias("s"), "t.order_id = s.order_id")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    added = {k: v for k, v in _parquet_sizes(table).items() if k not in after_first}

    first, merge = delta_log.commits(table, after=-1)
    assert (first.version, first.files_added, first.files_removed, first.rows_copied) == (0, 2, 0, 0)
    assert first.bytes_added == sum(after_first.values())
    assert first.own_bytes("2026-01-01") + first.own_bytes("2026-01-02") == first.bytes_added > 0
    # The MERGE rewrote the one file of 2026-01-01 holding o2: the other 4 rows were copied.
    assert merge.operation == "MERGE"
    assert (merge.version, merge.files_added, merge.files_removed, merge.rows_copied) == (1, 1, 1, 4)
    assert merge.bytes_added == sum(added.values()) > 0
    assert merge.own_bytes("2026-01-01") == merge.bytes_added and merge.own_bytes("2026-01-02") == 0

    change = delta_log.changes(root, {"silver/orders": 0}, day="2026-01-01")["silver/orders"]
    assert (change.commits, change.bytes_written, change.files_written, change.files_removed, change.rows_copied,
            change.own_bytes) == (1, merge.bytes_added, 1, 1, 4, merge.bytes_added)
    sizes = delta_log.storage(root)["silver/orders"]
    assert sizes.live_files == 2 and sizes.live_bytes == sum(_parquet_sizes(table).values()) - merge.bytes_removed
    assert sizes.disk_files > 3 and sizes.disk_bytes > sizes.live_bytes  # the removed file and the log


def test_small_day_splits_each_process_s_wall_time_and_reports_the_ratio(tmp_path):
    """The floor part (`--parts small-day`): phases from the floor's FLOOR line and from the
    platform run's event times, and the report's section; no Spark, no Dagster run."""
    import json

    from bench import report
    from bench.events import RunTimes, StepTime
    from bench.run import FLOOR_PHASES, PLATFORM_PHASES, floor_phases, platform_phases

    log = tmp_path / "floor.log"
    log.write_text("spark noise\nFLOOR " + json.dumps({"started": 100.5, "imported": 101.5, "session": 111.5,
                                                      "written": 121.5, "stopped": 122.0, "rows": 30}) + "\n")
    floor = floor_phases(log, began=100.0, seconds=23.0)
    assert list(floor) == list(FLOOR_PHASES)
    assert [round(v, 3) for v in floor.values()] == [0.5, 1.0, 10.0, 10.0, 0.5, 1.0]  # they add up to the wall time

    steps = [StepTime("a", "asset", "bronze/orders", 20.0, "success"), StepTime("b", "asset", "gold/x", 9.0, "success")]
    times = RunTimes("r", "SUCCESS", 30.0, steps, started_at=110.0, ended_at=140.0, first_event_at=107.0)
    platform = platform_phases(times, began=100.0, seconds=42.0)
    assert list(platform) == list(PLATFORM_PHASES)
    assert [round(v, 3) for v in platform.values()] == [7.0, 3.0, 30.0, 29.0, 1.0, 2.0]

    raw = [{"part": "small-day", "system": system, "size_orders": 10, "days": 1, "repeat": 1, "seconds": seconds,
            "orders": 10, "peak_rss_mib": 1, "load_before": 0.5}
           for system, seconds in (("floor: one Spark + Delta job", 23.0), ("platform: whole graph", 42.0))]
    step_rows = [{"part": "small-day", "size_orders": 10, "days": 1, "repeat": 1, "kind": kind, "label": label,
                  "step": label, "seconds": seconds}
                 for kind, phases in (("floor", floor), ("process", platform)) for label, seconds in phases.items()]
    step_rows += [{"part": "small-day", "size_orders": 10, "days": 1, "repeat": 1, "kind": s.kind, "label": s.label,
                   "step": s.step, "seconds": s.seconds} for s in steps]
    text = "\n".join(report.small_day_markdown(report.summarise(raw), report.summarise_steps(step_rows)))
    assert "Platform / floor: 1.83x (goal: at most 1.4x, not met)" in text
    assert "| start-up: CLI import + definitions load | 7.0 s |" in text
    assert "| bronze/orders | asset | 20.0 s | 20.0 s | 20.0 s | 69.0 % |" in text
    assert "all checks" not in text  # no check steps of their own: checks run inside the asset steps

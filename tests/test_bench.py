"""The benchmark's plain-Spark baseline must run Spark as the platform's local environment does."""

from __future__ import annotations

from conftest import load_platform_definitions

from resources.settings import LakehouseSettings


def test_plain_spark_baseline_uses_the_local_environment_s_spark_settings(monkeypatch):
    """bench/plain_spark.py copies the settings (importing resources.spark would bring Dagster
    into the baseline's process and its wall time); this keeps the copy from drifting."""
    monkeypatch.setenv("LAKEHOUSE_ENV", "local")
    for name in ("LAKEHOUSE_SPARK_SHUFFLE_PARTITIONS", "LAKEHOUSE_SPARK_LINEAGE"):
        monkeypatch.delenv(name, raising=False)
    spark = load_platform_definitions().RESOURCES_BY_ENV["local"](LakehouseSettings.from_env())["spark"]
    from bench.plain_spark import SPARK_CONF  # after the platform's import of `assets`, which it reuses

    platform_conf = {k: v for k, v in spark.spark_conf().items() if k != "spark.jars"}
    assert SPARK_CONF == platform_conf


def _parquet_sizes(table) -> dict[str, int]:
    return {p.relative_to(table).as_posix(): p.stat().st_size for p in table.rglob("*.parquet")}


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

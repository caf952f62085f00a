"""Table maintenance on real Delta tables: compaction, VACUUM, retention properties, the daily job.

Numbers are read back from the Delta log (delta-rs, DESCRIBE HISTORY) and from the table's
directory, never taken from the code under test alone.

VACUUM deletes a replaced file only when its tombstone (the ``remove`` action's
``deletionTimestamp``) *and* the file's modification time are older than the retention
(checked on delta-spark 4.4: ageing either one alone deletes nothing). Since the retention is at
least 7 days, ``age_replaced_files`` moves both 10 days back.
"""

import json
import os
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from assets.maintenance import build_table_maintenance_job
from resources.delta import DeltaLakeResource
from resources.settings import LakehouseSettings, SettingsError

pytestmark = pytest.mark.filterwarnings("ignore")

SCHEMA = "id int, day string"
DAYS = ("2026-03-01", "2026-03-02")


@pytest.fixture()
def delta(spark_resource, tmp_path) -> DeltaLakeResource:
    return DeltaLakeResource(spark=spark_resource, root=str(tmp_path / "tables"))


def append_small_files(delta: DeltaLakeResource, spark, table: str, appends: int, rows: int = 25) -> list[tuple]:
    """``appends`` appends of one small file each, alternating between two day partitions."""
    written = []
    for n in range(appends):
        batch = [(n * rows + i, DAYS[n % 2]) for i in range(rows)]
        spark.createDataFrame(batch, SCHEMA).coalesce(1).write.format("delta").mode("append") \
            .partitionBy("day").save(delta.uri(table))
        written += batch
    return sorted(written)


def overwrite(delta: DeltaLakeResource, spark, table: str, ids: range) -> None:
    spark.createDataFrame([(i, DAYS[0]) for i in ids], SCHEMA).coalesce(1).write.format("delta") \
        .mode("overwrite").save(delta.uri(table))


def rows_of(df) -> list[tuple]:
    return sorted((r["id"], r["day"]) for r in df.collect())


def live_sizes(delta: DeltaLakeResource, table: str, version=None) -> dict[str, int]:
    """The live data files of a version (default latest) and their sizes, from the Delta log."""
    import pyarrow

    actions = pyarrow.table(delta.delta_rs_table(table, version).get_add_actions(flatten=True))
    return dict(zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist()))


def age_replaced_files(delta: DeltaLakeResource, spark, table: str, version: int, days: int = 10) -> list[str]:
    """Make the files that commit ``version`` replaced look ``days`` old: their tombstones'
    ``deletionTimestamp`` in the commit and their modification times on disk. Returns their paths."""
    table_dir = Path(delta.uri(table))
    commit = table_dir / "_delta_log" / f"{version:020d}.json"
    old_ms = int((time.time() - days * 86400) * 1000)
    actions, replaced = [], []
    for line in commit.read_text().splitlines():
        action = json.loads(line)
        if "remove" in action:
            action["remove"]["deletionTimestamp"] = old_ms
            replaced.append(action["remove"]["path"])
        actions.append(json.dumps(action))
    commit.write_text("\n".join(actions) + "\n")
    (commit.parent / f".{commit.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of the old bytes
    for path in replaced:
        os.utime(table_dir / path, (old_ms / 1000, old_ms / 1000))
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # forget the cached snapshot and its tombstones
    return replaced


def version_of(delta: DeltaLakeResource, table: str) -> int:
    return delta.delta_rs_table(table).version()


# (a) ---------------------------------------------------------------------------------------------
def test_optimize_compacts_many_small_appends_and_keeps_every_row(delta, spark):
    written = append_small_files(delta, spark, "bronze/events", appends=8)
    small_files = live_sizes(delta, "bronze/events")
    assert len(small_files) == 8

    compaction = delta.optimize("bronze/events")

    compacted = live_sizes(delta, "bronze/events")
    assert len(compacted) == 2  # one file per day partition
    assert compaction == {
        "files_compacted_from": 8, "files_compacted_into": 2, "partitions_optimized": 2,
        "bytes_compacted_from": sum(small_files.values()), "bytes_compacted_into": sum(compacted.values()),
    }
    assert rows_of(delta.read("bronze/events")) == written
    stats = delta.file_stats("bronze/events")
    # The small files are tombstoned, not deleted: on disk until VACUUM, and counted as such.
    assert (stats["live_files"], stats["data_files_on_disk"], stats["unreferenced_files"]) == (2, 10, 8)
    assert stats["unreferenced_bytes"] == sum(small_files.values())
    assert stats["live_bytes"] == sum(compacted.values())


# (b) ---------------------------------------------------------------------------------------------
@pytest.mark.slow  # VACUUM over many versions
def test_vacuum_deletes_old_replaced_files_and_keeps_time_travel_within_retention(delta, spark):
    overwrite(delta, spark, "silver/customers", range(0, 10))  # v0: file A
    overwrite(delta, spark, "silver/customers", range(10, 20))  # v1: file B replaces A
    overwrite(delta, spark, "silver/customers", range(20, 30))  # v2: file C replaces B (just now)
    [file_a] = live_sizes(delta, "silver/customers", version=0).items()
    assert age_replaced_files(delta, spark, "silver/customers", version=1) == [file_a[0]]
    table_dir = Path(delta.uri("silver/customers"))

    with pytest.raises(ValueError, match="LAKEHOUSE_VACUUM_RETENTION_HOURS"):
        delta.vacuum("silver/customers", retain_hours=100)
    assert (table_dir / file_a[0]).exists()  # a refused VACUUM touched nothing

    result = delta.vacuum("silver/customers", retain_hours=168)

    assert not (table_dir / file_a[0]).exists()
    assert (result["files_deleted"], result["bytes_deleted"]) == (1, file_a[1])
    assert (result["live_files"], result["data_files_on_disk"], result["unreferenced_files"]) == (1, 2, 1)
    # Delta's own account of the VACUUM agrees.
    vacuum_end = spark.sql(f"DESCRIBE HISTORY {delta.sql_name('silver/customers')} LIMIT 1").collect()[0]
    assert (vacuum_end["operation"], vacuum_end["operationMetrics"]["numDeletedFiles"]) == ("VACUUM END", "1")
    # Version 1 was replaced just now: within retention, its file is kept and time travel works.
    assert rows_of(delta.read_version("silver/customers", 1)) == [(i, DAYS[0]) for i in range(10, 20)]
    assert rows_of(delta.read("silver/customers")) == [(i, DAYS[0]) for i in range(20, 30)]
    # Version 0's only file is gone: reading it fails instead of returning a partial table.
    with pytest.raises(Exception, match="FILE_NOT_EXIST"):
        delta.read_version("silver/customers", 0).collect()


# (c) ---------------------------------------------------------------------------------------------
@pytest.mark.slow  # VACUUM over many versions
def test_a_reader_opened_before_maintenance_reads_its_version_afterwards(delta, spark):
    written = append_small_files(delta, spark, "gold/sales", appends=6)
    spark_reader = delta.read("gold/sales")  # planned, not yet executed
    snapshot = delta.delta_rs_table("gold/sales")  # a pinned version, as a JVM-less reader holds it
    files_read_by_snapshot = set(snapshot.file_uris())

    compaction = delta.optimize("gold/sales")
    vacuum = delta.vacuum("gold/sales", retain_hours=168)

    assert compaction["files_compacted_from"] == 6 and vacuum["files_deleted"] == 0
    # The reader's files were replaced by OPTIMIZE, yet still exist: tombstoned, younger than retention.
    assert files_read_by_snapshot.isdisjoint(delta.delta_rs_table("gold/sales").file_uris())
    assert all(Path(uri.removeprefix("file://")).exists() for uri in files_read_by_snapshot)
    assert rows_of(spark_reader) == written
    assert sorted(zip(*snapshot.to_pyarrow_table().to_pydict().values())) == written


# (d) ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_job_maintains_every_existing_table_and_observes_each_asset(delta, spark):
    append_small_files(delta, spark, "bronze/events", appends=6)
    overwrite(delta, spark, "silver/events", range(0, 10))
    overwrite(delta, spark, "silver/events", range(10, 20))
    [aged_file] = age_replaced_files(delta, spark, "silver/events", version=1)
    aged_bytes = live_sizes(delta, "silver/events", version=0)[aged_file]
    overwrite(delta, spark, "_system/log", range(0, 5))
    job = build_table_maintenance_job(
        [AssetKey(["bronze", "events"]), AssetKey(["silver", "events"]), AssetKey(["gold", "not_built"])],
        system_tables=["_system/log"],
    )

    result = job.execute_in_process(resources={"delta": delta}, instance=DagsterInstance.ephemeral())

    assert result.success
    observed = {
        event.event_specific_data.asset_observation.asset_key.to_user_string():
            {k: v.value for k, v in event.event_specific_data.asset_observation.metadata.items()}
        for event in result.all_events if event.event_type == DagsterEventType.ASSET_OBSERVATION
    }
    assert sorted(observed) == ["bronze/events", "silver/events"]  # not built: skipped; system table: no asset
    bronze, silver = observed["bronze/events"], observed["silver/events"]
    assert (bronze["files_compacted_from"], bronze["files_compacted_into"], bronze["live_files"]) == (6, 2, 2)
    assert (bronze["files_vacuumed"], bronze["bytes_vacuumed"]) == (0, 0)  # replaced just now: kept
    assert bronze["live_bytes"] == sum(live_sizes(delta, "bronze/events").values())
    assert bronze["delta_version"] == version_of(delta, "bronze/events")
    assert (silver["files_compacted_from"], silver["files_vacuumed"], silver["bytes_vacuumed"]) == (0, 1, aged_bytes)
    assert (silver["live_files"], silver["data_files_on_disk"]) == (1, 1)
    assert silver["live_bytes"] == silver["data_bytes_on_disk"] == sum(live_sizes(delta, "silver/events").values())
    assert not Path(delta.uri("silver/events"), aged_file).exists()
    for table in ("bronze/events", "silver/events", "_system/log"):
        assert delta.delta_rs_table(table).metadata().configuration == delta.table_properties()
    assert sorted(step.step_key for step in result.get_step_success_events()) == [
        "existing_delta_tables", "maintain_table[_system__log]", "maintain_table[bronze__events]",
        "maintain_table[silver__events]",
    ]

    # Run config can lengthen the retention, never shorten it under 7 days.
    versions = {table: version_of(delta, table) for table in ("bronze/events", "silver/events")}
    refused = job.execute_in_process(
        resources={"delta": delta}, instance=DagsterInstance.ephemeral(), raise_on_error=False,
        run_config={"ops": {"maintain_table": {"config": {"vacuum_retention_hours": 100}}}},
    )
    assert not refused.success
    failures = [event.event_specific_data.error.to_string() for event in refused.all_events
                if event.event_type == DagsterEventType.STEP_FAILURE]
    assert failures and all("LAKEHOUSE_VACUUM_RETENTION_HOURS" in message for message in failures)
    assert {table: version_of(delta, table) for table in versions} == versions


# (e) ---------------------------------------------------------------------------------------------
def test_settings_refuse_a_vacuum_retention_under_seven_days(tmp_path):
    with pytest.raises(SettingsError) as error:
        LakehouseSettings.from_env({"LAKEHOUSE_ROOT": str(tmp_path), "LAKEHOUSE_VACUUM_RETENTION_HOURS": "100"})
    assert "LAKEHOUSE_VACUUM_RETENTION_HOURS must be at least 168 (7 days)" in str(error.value)
    assert "got 100" in str(error.value)

    assert LakehouseSettings.from_env({"LAKEHOUSE_ROOT": str(tmp_path)}).vacuum_retention_hours == 168
    longer = LakehouseSettings.from_env({"LAKEHOUSE_ROOT": str(tmp_path), "LAKEHOUSE_VACUUM_RETENTION_HOURS": "720"})
    assert longer.vacuum_retention_hours == 720
    # The setting is the maintenance job's default run config.
    job = build_table_maintenance_job([AssetKey(["silver", "orders"])], vacuum_retention_hours=720)
    assert job.run_config_schema.config_type.fields["ops"].default_value == {
        "maintain_table": {"config": {"vacuum_retention_hours": 720}}}
    with pytest.raises(ValueError, match="LAKEHOUSE_VACUUM_RETENTION_HOURS"):
        build_table_maintenance_job([], vacuum_retention_hours=24)


# (f) ---------------------------------------------------------------------------------------------
def test_table_properties_are_set_once_and_a_second_call_commits_nothing(delta, spark):
    # Tables the platform's Spark creates carry the retention defaults from the first commit.
    overwrite(delta, spark, "gold/spark_made", range(0, 5))
    assert delta.apply_table_properties("gold/spark_made") == {}
    assert version_of(delta, "gold/spark_made") == 0

    # A table written by another engine (delta-rs here) gets them set once.
    import deltalake
    import pyarrow

    deltalake.write_deltalake(delta.uri("gold/daily"), pyarrow.table({"id": list(range(5)), "day": [DAYS[0]] * 5}))
    assert version_of(delta, "gold/daily") == 0

    changed = delta.apply_table_properties("gold/daily")

    assert changed == {
        "delta.logRetentionDuration": "interval 30 days",
        "delta.deletedFileRetentionDuration": "interval 7 days",
        "delta.checkpointInterval": "10",
    }
    assert version_of(delta, "gold/daily") == 1
    assert delta.delta_rs_table("gold/daily").metadata().configuration == changed
    assert delta.apply_table_properties("gold/daily") == {}
    assert version_of(delta, "gold/daily") == 1  # no needless commit

    # A longer retention changes what depends on it, and only that.
    assert delta.apply_table_properties("gold/daily", vacuum_retention_hours=1000) == {
        "delta.logRetentionDuration": "interval 1000 hours",
        "delta.deletedFileRetentionDuration": "interval 1000 hours",
    }
    assert version_of(delta, "gold/daily") == 2

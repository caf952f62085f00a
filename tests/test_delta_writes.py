"""What the Delta resource's writes do to a table, read from the commits' own metrics.

A daily run must cost what the day costs: its MERGE may touch the day's files and the
files holding keys it really changes, never copy the rest of history.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from resources.delta import _METRIC_NAMES, DeltaLakeResource

pytestmark = pytest.mark.filterwarnings("ignore")

SCHEMA = "order_id string, line_no int, amount int, _landed_date date, _row_hash string"
KEYS = ["order_id", "line_no"]
FIRST = date(2026, 3, 1)


def day_rows(day_index: int, orders: int = 20, amount: int = 1) -> list[tuple]:
    day = FIRST + timedelta(days=day_index)
    return [(f"O{day_index:03d}{n:05d}", 1, amount, day, f"h{amount}") for n in range(orders)]


def merge_day(delta: DeltaLakeResource, spark, rows: list[tuple], day: date):
    """A day's MERGE as silver/orders does it: bounded to landing days from this one on,
    replacing exactly this day's slice."""
    return delta.merge(
        spark.createDataFrame(rows, SCHEMA), "orders", KEYS, change_column="_row_hash",
        delete_missing_where=f"t._landed_date = DATE'{day}'",
        match_condition=f"t._landed_date >= DATE'{day}'", partition_by=["_landed_date"],
    )


@pytest.fixture()
def delta(spark_resource, tmp_path):
    return DeltaLakeResource(spark=spark_resource, root=str(tmp_path / "tables"))


@pytest.fixture(scope="module")
def history_template(spark_resource, tmp_path_factory):
    """Three landing days, one MERGE each, as a daily schedule writes them (built once)."""
    delta = DeltaLakeResource(spark=spark_resource, root=str(tmp_path_factory.mktemp("history") / "tables"))
    for i in range(3):
        merge_day(delta, spark_resource.get_session(), day_rows(i), FIRST + timedelta(days=i))
    assert delta.read("orders").count() == 60
    return Path(delta.root)


@pytest.fixture()
def history(history_template, spark_resource, tmp_path):
    """A private copy of the three-day table (a Delta table's log holds relative paths)."""
    shutil.copytree(history_template, tmp_path / "tables")
    return DeltaLakeResource(spark=spark_resource, root=str(tmp_path / "tables"))


def files_in(delta: DeltaLakeResource, table: str) -> int:
    return len(delta.delta_rs_table(table).file_uris())


def test_a_new_day_copies_no_row_of_history(history, spark):
    day = FIRST + timedelta(days=3)
    commit = merge_day(history, spark, day_rows(3), day)
    assert commit.operation == "MERGE"
    assert commit.metrics["rows_inserted"] == 20
    assert commit.metrics.get("rows_copied", 0) == 0
    assert commit.metrics.get("files_removed", 0) == 0
    assert history.read("orders").count() == 80


def test_rerunning_a_day_writes_nothing(history, spark):
    day = FIRST + timedelta(days=2)
    version = history.version("orders")
    commit = merge_day(history, spark, day_rows(2), day)
    assert commit.metrics.get("rows_inserted", 0) == 0
    assert commit.metrics.get("rows_updated", 0) == 0
    assert commit.metrics.get("rows_deleted", 0) == 0
    assert commit.metrics.get("files_removed", 0) == 0
    assert commit.metrics.get("files_added", 0) == 0
    assert history.version("orders") <= version + 1
    assert history.read("orders").count() == 60


def test_a_reprocessed_day_updates_and_deletes_only_within_its_slice(history, spark):
    """Day 2 comes again with one line changed and one gone: both are applied, and only
    day 2's files are rewritten (rows copied are day 2's unchanged rows at most)."""
    day = FIRST + timedelta(days=1)
    rows = day_rows(1)
    changed = (rows[0][0], 1, 99, day, "h99")
    commit = merge_day(history, spark, [changed, *rows[2:]], day)
    assert commit.metrics["rows_updated"] == 1
    assert commit.metrics["rows_deleted"] == 1
    assert commit.metrics.get("rows_inserted", 0) == 0
    assert commit.metrics.get("rows_copied", 0) <= 18  # day 2's other rows, never days 1 and 3
    assert commit.metrics["files_removed"] <= files_in_partition(history, "orders", day)
    table = history.read("orders")
    assert table.count() == 59
    assert table.where(f"order_id = '{rows[0][0]}'").first().amount == 99
    assert table.where(f"order_id = '{rows[1][0]}'").count() == 0
    # the other days are the files they were
    assert {r._landed_date for r in table.select("_landed_date").distinct().collect()} == {
        FIRST, FIRST + timedelta(days=1), FIRST + timedelta(days=2)}


def test_each_write_reports_the_commit_it_made_as_delta_history_records_it(history, spark):
    """The commit a write returns is read from that commit's own log entry, not from a
    DESCRIBE HISTORY job: version, operation and metrics equal what Delta's history says."""
    day = FIRST + timedelta(days=3)
    writes = [
        lambda: merge_day(history, spark, day_rows(3), day),
        lambda: history.replace_where(spark.createDataFrame(day_rows(4, orders=5), SCHEMA), "orders",
                                      f"_landed_date = DATE'{FIRST + timedelta(days=4)}'"),
        lambda: history.overwrite(spark.createDataFrame(day_rows(0, orders=3), SCHEMA), "snapshot"),
    ]
    for write in writes:
        commit = write()
        table = commit.table
        described = spark.sql(f"DESCRIBE HISTORY {history.sql_name(table)} LIMIT 1").collect()[0]
        assert commit.version == described["version"]
        assert commit.operation == described["operation"]
        expected: dict[str, int] = {}
        for name, value in (described["operationMetrics"] or {}).items():
            if name in _METRIC_NAMES:
                expected[_METRIC_NAMES[name]] = expected.get(_METRIC_NAMES[name], 0) + int(value)
        assert commit.metrics == expected
        assert commit.metrics.get("rows_inserted", commit.metrics.get("rows_written")) in (20, 5, 3)


def files_in_partition(delta: DeltaLakeResource, table: str, day: date) -> int:
    import pyarrow as pa

    actions = pa.table(delta.delta_rs_table(table).get_add_actions(flatten=True)).to_pylist()
    return sum(1 for a in actions if str(a["partition._landed_date"]) == day.isoformat())


def test_a_dimension_merge_rewrites_only_the_file_holding_a_changed_key(delta, spark):
    """Products in several files: changing one product rewrites its file alone, and a product
    the source no longer holds is deleted without a full-table clause."""
    schema = "product_id string, price int, _row_hash string"
    for part in range(4):  # four appends: four files
        rows = [(f"P{part}{n:03d}", 1, "h1") for n in range(10)]
        df = spark.createDataFrame(rows, schema)
        if part == 0:
            delta.merge(df, "products", ["product_id"], change_column="_row_hash")
        else:
            df.write.format("delta").mode("append").save(delta.uri("products"))
    assert files_in(delta, "products") == 4
    current = [(f"P{part}{n:03d}", 1, "h1") for part in range(4) for n in range(10)]
    current[0] = ("P0000", 2, "h2")  # changed
    del current[15]  # P1005 is gone
    commit = delta.merge(spark.createDataFrame(current, schema), "products", ["product_id"],
                         change_column="_row_hash", delete_missing_where="true")
    assert commit.metrics["rows_updated"] == 1
    assert commit.metrics["rows_deleted"] == 1
    assert commit.metrics["files_removed"] == 2  # the files of P0000 and P1005, not all four
    assert commit.metrics.get("rows_copied", 0) == 18
    assert delta.read("products").count() == 39
    again = delta.merge(spark.createDataFrame(current, schema), "products", ["product_id"],
                        change_column="_row_hash", delete_missing_where="true")
    assert again.metrics.get("files_removed", 0) == 0 and again.metrics.get("rows_updated", 0) == 0


def test_delete_missing_among_replaces_only_the_named_keys(delta, spark):
    """An SCD2-like table: the source holds the complete new versions of some customers;
    versions of those customers that it no longer holds go, other customers stay."""
    schema = "customer_id string, valid_from int, city string, _row_hash string"
    rows = [("C1", 1, "a", "a"), ("C1", 2, "b", "b"), ("C2", 1, "x", "x")]
    delta.merge(spark.createDataFrame(rows, schema), "customers", ["customer_id", "valid_from"],
                change_column="_row_hash")
    rebuilt = spark.createDataFrame([("C1", 1, "a", "a"), ("C1", 3, "c", "c")], schema)
    affected = spark.createDataFrame([("C1",)], "customer_id string")
    commit = delta.merge(rebuilt, "customers", ["customer_id", "valid_from"], change_column="_row_hash",
                         delete_missing_among=affected)
    assert commit.metrics["rows_inserted"] == 1 and commit.metrics["rows_deleted"] == 1
    assert sorted((r.customer_id, r.valid_from) for r in delta.read("customers").collect()) == [
        ("C1", 1), ("C1", 3), ("C2", 1)]


def test_changes_since_names_the_partitions_a_run_touched(history, spark):
    version = history.version("orders")
    merge_day(history, spark, day_rows(3), FIRST + timedelta(days=3))
    changes = history.changes_since("orders", version)
    assert changes.insert_only
    assert changes.added_partitions == {(FIRST + timedelta(days=3)).isoformat()}
    rows = day_rows(0)
    merge_day(history, spark, rows[1:], FIRST)
    changes = history.changes_since("orders", version)
    assert not changes.insert_only
    assert changes.removed_partitions == {FIRST.isoformat()}
    assert changes.partitions == {FIRST.isoformat(), (FIRST + timedelta(days=3)).isoformat()}
    assert history.changes_since("orders", 999) is None
    # compaction rewrites files without changing rows: not a change
    extra = [("O00399999", 1, 1, FIRST + timedelta(days=3), "h1")]  # a second small file in one partition
    spark.createDataFrame(extra, SCHEMA).write.format("delta").mode("append").save(history.uri("orders"))
    after_merges = history.version("orders")
    spark.sql(f"OPTIMIZE {history.sql_name('orders')}").collect()
    compacted = history.changes_since("orders", after_merges)
    assert compacted.to_version == after_merges + 1
    assert compacted.files_added == compacted.files_removed == 0 and compacted.partitions == set()


def test_key_lookup_reads_only_files_whose_keys_overlap(history, spark):
    """The duplicate lookup of a batch reads the files whose order-id range overlaps the batch's."""
    batch = spark.createDataFrame([("O00200003", 1)], "order_id string, line_no int")
    found = history.lookup_keys("orders", batch, KEYS, ["_landed_date"])
    assert [(r.order_id, r._landed_date) for r in found.collect()] == [("O00200003", FIRST + timedelta(days=2))]
    files_read = set(found.inputFiles())
    assert files_read and all("_landed_date=2026-03-03" in f for f in files_read)


def at_once(*actions):
    """Run the actions in threads released together; their results, in order (errors raised)."""
    import threading

    barrier, results, errors = threading.Barrier(len(actions)), [None] * len(actions), []

    def run(i, action):
        try:
            barrier.wait()
            results[i] = action()
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    return results


@pytest.mark.slow  # concurrent writers released together
def test_two_writers_of_one_slice_at_once_both_succeed_and_leave_one_copy(history, spark):
    """Two runs of the same day at once: Delta lets one commit and fails the other with a
    concurrent-modification conflict; the resource retries the idempotent write, so both
    end well and the table holds the day once. Rounds repeat until a conflict happened."""
    day = FIRST + timedelta(days=1)
    rows = day_rows(1, amount=7)
    attempts: list[int] = []
    for _ in range(6):
        commits = at_once(
            lambda: merge_day(history, spark, rows, day),
            lambda: history.replace_where(spark.createDataFrame(rows, SCHEMA), "orders", f"_landed_date = DATE'{day}'"),
        )
        attempts += [c.attempts for c in commits]
        table = history.read("orders")
        assert table.count() == 60
        assert sorted(r.amount for r in table.where(f"_landed_date = DATE'{day}'").collect()) == [7] * 20
        if max(attempts) > 1:
            break
    assert max(attempts) > 1, "no round produced a conflict to retry"


def test_a_write_that_keeps_conflicting_fails_with_a_clear_message(delta, monkeypatch):
    from resources.delta import WriteConflictError

    monkeypatch.setattr("resources.delta.time.sleep", lambda _: None)
    calls = []

    def conflicting():
        calls.append(1)
        raise RuntimeError("[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added to partition")

    with pytest.raises(WriteConflictError, match="conflicted with concurrent commits 6 times"):
        delta._retrying("silver/orders", conflicting)
    assert len(calls) == 6
    with pytest.raises(ValueError):  # anything else is not retried
        delta._retrying("silver/orders", lambda: (_ for _ in ()).throw(ValueError("bad")))


@pytest.mark.slow  # concurrent writers released together
def test_a_day_written_while_maintenance_compacts_the_table_ends_right(history, spark):
    """A run rewriting a day while OPTIMIZE compacts the same table: whichever commits second
    conflicts and is retried; both succeed and the table holds every row once."""

    day = FIRST + timedelta(days=2)
    for i in range(4):  # small files for OPTIMIZE to compact
        extra = [(f"X{i}{n:03d}", 1, 1, day, "h1") for n in range(5)]
        history.merge(spark.createDataFrame(extra, SCHEMA), "orders", KEYS, change_column="_row_hash",
                      match_condition=f"t._landed_date >= DATE'{day}'")
    expected = history.read("orders").count()
    rows = [(r.order_id, r.line_no, 9, r._landed_date, "h9")
            for r in history.read("orders", f"_landed_date = DATE'{day}'").collect()]
    at_once(
        lambda: history.replace_where(spark.createDataFrame(rows, SCHEMA), "orders", f"_landed_date = DATE'{day}'"),
        lambda: history.optimize("orders"),
    )
    table = history.read("orders")
    assert table.count() == expected
    assert {r.amount for r in table.where(f"_landed_date = DATE'{day}'").collect()} == {9}
    assert table.groupBy(*KEYS).count().where("count > 1").count() == 0

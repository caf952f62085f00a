"""End to end: generated landing zone -> every layer, through Dagster, on real Spark and Delta."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter
from pyspark.sql import functions as F

from conftest import check_evaluations, materializations, run_graph

pytestmark = pytest.mark.slow

START = date(2026, 1, 1)
DAYS = 3
END = START + timedelta(days=DAYS - 1)

EXPECTED_RULE = {
    "null_customer_id": "missing_customer_id",
    "null_order_ts": "invalid_order_ts",
    "unknown_customer": "unknown_customer",
    "negative_quantity": "non_positive_quantity",
    "empty_items": "no_line_items",
}


@pytest.fixture(scope="module")
def lakehouse(reference_lakehouse):
    """The shared reference run (tests/conftest.py): three generated days, one range run."""
    return reference_lakehouse


def table(lakehouse, name, where=None):
    return lakehouse["delta"].read(name, where)


def test_range_run_succeeds_and_every_error_check_passes(lakehouse):
    result = lakehouse["result"]
    assert result.success
    evaluations = check_evaluations(result)
    assert len(evaluations) >= 23
    failed_errors = [k for k, e in evaluations.items() if not e.passed and e.severity.value == "ERROR"]
    assert failed_errors == []
    # every asset of the graph was materialized once, by one run
    assert set(materializations(result)) >= {
        "bronze/orders", "bronze/rejected_orders", "silver/orders", "silver/quarantine_orders",
        "silver/customers", "silver/products", "gold/daily_sales", "gold/customer_lifetime_value",
        "features/customer_features", "reports/category_sales_summary",
    }


def test_each_day_of_a_range_run_has_its_own_passed_check_results(lakehouse):
    """A range run's checks are recorded per day, so a partitioned asset shows Passed on each day
    (not the planned-but-never-evaluated state the UI shows as Skipped)."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus  # no public alias

    instance, run_id = lakehouse["instance"], lakehouse["result"].run_id
    graph = lakehouse["defs"].resolve_asset_graph()
    days = {(START + timedelta(days=i)).isoformat() for i in range(DAYS)}
    partitioned = [k for k in graph.asset_check_keys if graph.get(k).partitions_def is not None]
    assert len(partitioned) == 20
    for key in partitioned:
        records = [r for r in instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
                   if r.run_id == run_id]
        by_day = {r.partition: r.status for r in records if r.partition is not None}
        assert by_day == {day: AssetCheckExecutionRecordStatus.SUCCEEDED for day in days}, key
        # each day's result targets that day's materialization, which is what makes the UI's
        # per-partition status Passed (a result aimed at no materialization shows as Missing)
        infos = {i.partition_key: i for i in instance.event_log_storage.get_asset_check_partition_info([key])}
        for day in days:
            info = infos[day]
            assert info.latest_execution_status == AssetCheckExecutionRecordStatus.SUCCEEDED, (key, day)
            assert info.latest_materialization_storage_id is not None, (key, day)
            assert info.is_current, (key, day)


DAY_PARTITIONED_TABLES = {  # table: its date column
    "bronze/orders": "_landed_date", "bronze/rejected_orders": "_landed_date", "bronze/customers": "_landed_date",
    "silver/orders": "_landed_date", "silver/quarantine_orders": "_landed_date", "gold/daily_sales": "order_date",
    "gold/customer_lifetime_value": "as_of_date", "features/customer_features": "as_of_date",
}


def test_each_day_of_a_range_run_carries_its_own_row_count_and_the_totals_are_named_as_such(lakehouse):
    """One materialization per day of the range (no duplicates), each with that day's rows in the
    Delta table as ``dagster/row_count``; the run's and the table's totals under their own keys."""
    instance, run_id, delta = lakehouse["instance"], lakehouse["result"].run_id, lakehouse["delta"]
    days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    for name, column in DAY_PARTITIONED_TABLES.items():
        key = AssetKey(name.split("/"))
        in_run = [r for r in instance.fetch_materializations(AssetRecordsFilter(asset_key=key), limit=1000).records
                  if r.run_id == run_id]
        assert sorted(r.partition_key for r in in_run) == days, name
        by_day = {r.partition_key: {k: v.value for k, v in r.asset_materialization.metadata.items()} for r in in_run}
        version = by_day[days[0]]["delta_version"]
        stored = delta.read_version(name, version)
        rows = {day: stored.where(F.col(column) == F.lit(day).cast("date")).count() for day in days}
        assert [by_day[day]["dagster/row_count"] for day in days] == [rows[day] for day in days], name
        for metadata in by_day.values():
            assert metadata["table_row_count"] == stored.count(), name
            assert metadata["run_partition_range"] == f"{days[0]}..{days[-1]}"
            assert metadata["delta_version"] == version
        assert by_day[days[0]]["run_row_count"] == sum(rows.values()), name  # the run wrote the table
        # each day's latest materialization (later tests may re-run a day) agrees with its table version
        for day in days:
            [latest] = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1).records
            metadata = latest.asset_materialization.metadata
            at = delta.read_version(name, metadata["delta_version"].value)
            assert metadata["dagster/row_count"].value == at.where(F.col(column) == F.lit(day).cast("date")).count()


def test_bronze_holds_every_landed_line(lakehouse):
    manifest = lakehouse["manifest"]["orders"]
    for day, lines in manifest["json_lines_by_landing_date"].items():
        where = f"_landed_date = DATE'{day}'"
        bronze = table(lakehouse, "bronze/orders", where).count()
        rejected = table(lakehouse, "bronze/rejected_orders", where).count()
        assert bronze + rejected == lines, day
    rejects = table(lakehouse, "bronze/rejected_orders").collect()
    assert len(rejects) == manifest["dirt"]["malformed_line"]
    assert all(r.raw_record and r.reason and r._source_file.endswith(".jsonl") for r in rejects)
    assert table(lakehouse, "bronze/orders").where(F.col("_run_id").isNull()).count() == 0


def test_silver_orders_account_for_every_line_and_quarantine_each_kind_of_dirt(lakehouse):
    manifest = lakehouse["manifest"]["orders"]
    silver = table(lakehouse, "silver/orders")
    quarantine = table(lakehouse, "silver/quarantine_orders")
    assert silver.count() + quarantine.count() == sum(manifest["order_lines_by_landing_date"].values())
    assert silver.groupBy("order_id", "line_no").count().where("count > 1").count() == 0

    rules_by_order = {}
    for row in quarantine.select("order_id", "rule").collect():
        rules_by_order.setdefault(row.order_id, set()).add(row.rule)
    for kind, rule in EXPECTED_RULE.items():
        ids = manifest["dirt_order_ids"][kind]
        assert ids, kind
        assert all(rule in rules_by_order.get(i, set()) for i in ids), kind
    silver_ids = {r.order_id for r in silver.select("order_id").distinct().collect()}
    for kind in ("duplicate_in_file", "duplicate_redelivered"):
        for order_id in manifest["dirt_order_ids"][kind]:
            assert order_id in silver_ids  # the first copy is kept ...
            assert "duplicate_order_line" in rules_by_order[order_id]  # ... the copy is quarantined
    for kind in ("null_customer_id", "unknown_customer", "negative_quantity", "empty_items"):
        assert not silver_ids & set(manifest["dirt_order_ids"][kind]), kind

    quarantine_by_rule = Counter(r.rule for r in quarantine.select("rule").collect())
    metadata = materializations(lakehouse["result"])["silver/orders"]
    assert metadata["rows_in"] == metadata["rows_out"] + metadata["rows_quarantined"]
    assert metadata["rows_quarantined"] == quarantine.count()
    assert json.loads(json.dumps(metadata["quarantine_by_rule"])) == dict(quarantine_by_rule)
    assert metadata["delta_version"] == 0 and metadata["delta_rows_written"] == silver.count()


def test_late_orders_are_in_silver_under_their_order_date(lakehouse):
    late = lakehouse["manifest"]["orders"]["dirt_order_ids"]["late_arriving"]
    assert late
    rows = table(lakehouse, "silver/orders").where(F.col("order_id").isin(late)).collect()
    assert {r.order_id for r in rows} == set(late)
    assert all(r.order_date < r._landed_date for r in rows)


def test_customer_dimension_is_scd2(lakehouse):
    history = table(lakehouse, "silver/customers")
    manifest = lakehouse["manifest"]["customers"]
    quarantined = table(lakehouse, "silver/quarantine_customers").count()
    assert history.where("is_current").count() == history.select("customer_id").distinct().count()
    changed = history.groupBy("customer_id").count().where("count > 1").collect()
    assert changed, "customer changes must produce more than one version"
    versions = history.where(F.col("customer_id") == changed[0].customer_id).orderBy("valid_from").collect()
    assert [v.is_current for v in versions] == [False] * (len(versions) - 1) + [True]
    assert all(a.valid_to == b.valid_from for a, b in zip(versions, versions[1:]))
    landed = sum(manifest["rows_by_landing_date"].values())
    rejected = table(lakehouse, "bronze/rejected_customers").count()
    accounted = history.agg(F.sum("_source_records")).first()[0]
    assert accounted + quarantined + rejected == landed


def test_gold_daily_sales_reconcile_with_silver(lakehouse):
    gold = {(r.order_date, r.category): r for r in table(lakehouse, "gold/daily_sales").collect()}
    assert {d for d, _ in gold} == {START + timedelta(days=i) for i in range(DAYS)}
    silver_revenue = table(lakehouse, "silver/orders").groupBy("order_date").agg(F.sum("line_amount").alias("r"))
    for row in silver_revenue.collect():
        assert sum(g.revenue for (d, _), g in gold.items() if d == row.order_date) == row.r


def test_customer_features_for_a_known_customer(lakehouse):
    """Recompute one customer's features by hand from silver and compare."""
    silver = table(lakehouse, "silver/orders").toPandas()
    features = table(lakehouse, "features/customer_features").toPandas()
    customer = silver.groupby("customer_id")["order_id"].nunique().idxmax()
    for as_of in (START + timedelta(days=i) for i in range(DAYS)):
        known = silver[(silver.customer_id == customer) & (silver.order_date <= as_of) & (silver._landed_date <= as_of)]
        per_order = known.groupby("order_id").agg(amount=("line_amount", "sum"), day=("order_date", "first"))
        row = features[(features.customer_id == customer) & (features.as_of_date == as_of)].iloc[0]
        assert row.frequency == len(per_order)
        assert row.monetary == sum(per_order.amount)
        if len(per_order):
            assert row.recency_days == (as_of - max(per_order.day)).days
            assert row.average_basket == (sum(per_order.amount) / len(per_order)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_report_reads_gold_through_delta_rs(lakehouse):
    report = Path(lakehouse["root"]) / "reports" / "category_sales_summary.csv"
    lines = report.read_text().splitlines()
    categories = table(lakehouse, "gold/daily_sales").select("category").distinct().count()
    assert lines[0].startswith("category,revenue") and len(lines) == categories + 1


def test_rerunning_a_day_changes_nothing(lakehouse):
    tables = ["bronze/orders", "bronze/rejected_orders", "silver/orders", "silver/quarantine_orders",
              "silver/customers", "gold/daily_sales", "gold/customer_lifetime_value", "features/customer_features"]
    def snapshot(name):
        return sorted(repr(tuple(r)) for r in table(lakehouse, name).drop("_ingested_at", "_run_id").collect())

    before = {t: snapshot(t) for t in tables}
    day = (START + timedelta(days=1)).isoformat()
    result = run_graph(lakehouse["defs"], lakehouse["instance"], partition=day)
    assert result.success
    after = {t: snapshot(t) for t in tables}
    for t in tables:
        assert after[t] == before[t], t
    merge = materializations(result)["silver/orders"]
    assert merge["delta_version"] == 0  # nothing to change: no new commit
    assert merge["delta_files_removed"] == 0 and merge["delta_rows_copied"] == 0
    assert merge.get("delta_rows_inserted", 0) == 0 and merge.get("delta_rows_updated", 0) == 0


def test_failing_blocking_check_stops_downstream_assets(lakehouse, monkeypatch):
    """An order with a channel outside the contract is quarantined by the row rules (derived from
    the contract). A write bug that puts such a row into silver anyway is caught by the blocking
    contract check, which reads the committed table: gold and features are not built."""
    from assets.transforms import silver as silver_transforms

    day = END + timedelta(days=1)
    landed = Path(lakehouse["root"]) / "landing" / "orders" / f"date={day}" / f"orders_{day}_part0000.jsonl"
    landed.parent.mkdir(parents=True)
    good = table(lakehouse, "silver/orders").orderBy("order_id").first()
    order = {
        "order_id": "O999999999", "customer_id": good.customer_id, "order_ts": f"{day}T09:00:00Z",
        "channel": "kiosk", "currency": "EUR",
        "items": [{"line_no": 1, "product_id": good.product_id, "quantity": 1, "unit_price": 3.0}],
    }
    other = {**order, "order_id": "O999999998", "channel": "web"}
    landed.write_text(json.dumps(order) + "\n" + json.dumps(other) + "\n")
    selection = [AssetKey(["bronze", "orders"]), AssetKey(["bronze", "rejected_orders"]),
                 AssetKey(["silver", "orders"]), AssetKey(["silver", "quarantine_orders"])]
    screened = run_graph(lakehouse["defs"], lakehouse["instance"], partition=day.isoformat(), selection=selection)
    assert screened.success
    quarantined = table(lakehouse, "silver/quarantine_orders", f"_landed_date = DATE'{day}'").collect()
    assert [(r.order_id, r.rule) for r in quarantined] == [("O999999999", "unknown_channel")]

    # a write bug: the channel changes after the rules passed
    conform = silver_transforms.conform_order_lines
    monkeypatch.setattr(silver_transforms, "conform_order_lines",
                        lambda lines: conform(lines.withColumn("channel", F.lit("kiosk"))))
    result = run_graph(lakehouse["defs"], lakehouse["instance"], partition=day.isoformat())
    assert not result.success
    contract = check_evaluations(result)["silver/orders:matches_contract"]
    assert not contract.passed and contract.severity.value == "ERROR"
    assert "channel" in contract.metadata["failed_rule"].value
    assert contract.metadata["failure_count"].value == 1
    assert contract.metadata["sample_failing_keys"].value[0]["order_id"] == "O999999998"
    materialized = set(materializations(result))
    assert "silver/orders" in materialized
    assert not materialized & {"gold/daily_sales", "gold/customer_lifetime_value", "features/customer_features"}
    assert table(lakehouse, "gold/daily_sales", f"order_date = DATE'{day}'").count() == 0


def test_a_late_file_with_earlier_copies_of_accepted_lines_reprocesses_the_later_day(lakehouse):
    """Order X is accepted on landing day D2; then a file for D1 brings an earlier copy of X.
    The earliest landing wins: X moves to D1, and D2 is re-processed in the same step, so its
    copy of X is quarantined as a duplicate and D2 still accounts for every line."""
    d1, d2 = END + timedelta(days=2), END + timedelta(days=3)
    good = table(lakehouse, "silver/orders").orderBy("order_id").first()

    def order(order_id: str, day: date) -> str:
        return json.dumps({
            "order_id": order_id, "customer_id": good.customer_id, "order_ts": f"{day}T09:00:00Z",
            "channel": "web", "currency": "EUR",
            "items": [{"line_no": 1, "product_id": good.product_id, "quantity": 2, "unit_price": 4.0}],
        }) + "\n"

    def land(day: date, name: str, text: str) -> None:
        path = Path(lakehouse["root"]) / "landing" / "orders" / f"date={day}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    selection = [AssetKey(["bronze", "orders"]), AssetKey(["bronze", "rejected_orders"]),
                 AssetKey(["silver", "orders"]), AssetKey(["silver", "quarantine_orders"])]

    def run(day: date):
        result = run_graph(lakehouse["defs"], lakehouse["instance"], partition=day.isoformat(), selection=selection)
        assert result.success
        return result

    land(d1, "part-a.jsonl", order("O777000001", d1))
    land(d2, "part-a.jsonl", order("O777000002", d1) + order("O777000003", d2))
    run(d1)
    run(d2)
    land(d1, "part-late.jsonl", order("O777000002", d1))  # the earlier copy, late
    late = run(d1)

    landed = {r.order_id: r._landed_date for r in table(lakehouse, "silver/orders")
              .where("order_id LIKE 'O777%'").collect()}
    assert landed == {"O777000001": d1, "O777000002": d1, "O777000003": d2}
    quarantined = [(r.order_id, r.rule, r._landed_date) for r in table(lakehouse, "silver/quarantine_orders")
                   .where("order_id LIKE 'O777%'").collect()]
    assert quarantined == [("O777000002", "duplicate_order_line", d2)]
    assert materializations(late)["silver/orders"]["later_landing_days_reprocessed"] == [d2.isoformat()]
    for day in (d1, d2):  # every bronze line of each day is in silver or its quarantine
        bronze_lines = silver_transforms_lines(lakehouse, day)
        in_silver = table(lakehouse, "silver/orders", f"_landed_date = DATE'{day}'").count()
        in_quarantine = table(lakehouse, "silver/quarantine_orders", f"_landed_date = DATE'{day}'").count()
        assert bronze_lines == in_silver + in_quarantine, day


def silver_transforms_lines(lakehouse, day: date) -> int:
    from assets.transforms import silver as silver_transforms

    return silver_transforms.explode_order_lines(table(lakehouse, "bronze/orders", f"_landed_date = DATE'{day}'")).count()


def audit_evaluations(result) -> dict[str, object]:
    from dagster import DagsterEventType

    return {f"{e.event_specific_data.asset_key.to_user_string()}:{e.event_specific_data.check_name}":
            e.event_specific_data for e in result.all_events if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION}


def test_the_audit_recomputes_every_check_from_the_stored_tables_and_catches_a_change_no_step_made(lakehouse, spark):
    """The steps check what they write; the audit job re-reads what Delta stored. A row appended
    behind the platform's back (no step wrote it, so no step checked it) fails the audit."""
    defs, instance, day = lakehouse["defs"], lakehouse["instance"], START.isoformat()
    audit = defs.resolve_job_def("audit_tables")
    every_check = {f"{k.asset_key.to_user_string()}:{k.name}" for k in defs.resolve_asset_graph().asset_check_keys}

    clean = audit.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
    assert clean.success
    evaluations = audit_evaluations(clean)
    assert set(evaluations) == every_check and len(every_check) == 29
    assert [k for k, e in evaluations.items() if not e.passed and e.severity.value == "ERROR"] == []
    assert {e.metadata["evaluated_from"].value for e in evaluations.values()} == {"the stored tables (audit)"}
    assert evaluations["silver/orders:matches_contract"].partition == day
    # the audit's result of a day targets the day's latest materialization (it counts for the day)
    [latest] = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(["silver", "orders"]), asset_partitions=[day]), limit=1).records
    assert evaluations["silver/orders:matches_contract"].target_materialization_data.storage_id == latest.storage_id
    assert evaluations["silver/customers:matches_contract"].partition is None
    # the run's own evaluations came from the steps, not from re-reads
    step_sources = {e.metadata["evaluated_from"].value for e in check_evaluations(lakehouse["result"]).values()}
    assert step_sources == {"the frame the step wrote", "the tables as the step committed them"}

    path = str(Path(lakehouse["root"]) / "tables" / "silver" / "orders")
    version = lakehouse["delta"].version("silver/orders")
    line = spark.read.format("delta").load(path).where(f"_landed_date = DATE'{day}'").limit(1)
    line.write.format("delta").mode("append").save(path)
    try:
        dirty = audit.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
        assert not dirty.success  # a failed blocking check fails the audit run
        evaluations = audit_evaluations(dirty)
        unique = evaluations["silver/orders:primary_key_unique"]
        assert not unique.passed and unique.metadata["failure_count"].value == 1
        reconcile = evaluations["silver/orders:orders_reconcile_with_bronze"]
        assert not reconcile.passed
        assert reconcile.metadata["silver_rows"].value == reconcile.metadata["bronze_lines"].value \
            - reconcile.metadata["quarantined_rows"].value + 1
        assert evaluations["gold/daily_sales:matches_contract"].passed  # other tables are untouched
    finally:
        spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF {version}")

"""Cumulative tables carried forward from the previous day, held to their per-day definitions.

The pure functions (``carry_forward_lifetime_value``, ``carry_forward_customer_features``) are
replayed day by day over random histories with orders landing up to 40 days late, the way the
platform runs daily: on day D, ``silver/orders`` holds what landed by D. Every carried day must
equal the per-day definition (``tests/test_transforms.py``) on the silver of that day, row for row.
The end-to-end test runs the assets through Dagster on real Delta tables.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from assets.transforms import features, gold
from test_transforms import LINES, _features_by_definition, _lifetime_value_by_definition, _random_history

pytestmark = pytest.mark.filterwarnings("ignore")

DAY0 = date(2025, 12, 31)


def day(n: int) -> date:
    return DAY0 + timedelta(days=n)


def rows(df):
    return sorted((tuple(r) for r in df.select(sorted(df.columns)).collect()), key=repr)


def frozen(spark, df):
    """The rows as a new local frame: what a Delta partition read back looks like (no lineage)."""
    return spark.createDataFrame(df.collect(), df.schema)


def as_of(spark, start, end):
    return spark.createDataFrame([(start + timedelta(days=i),) for i in range((end - start).days + 1)], "as_of_date date")


def _silver_by_day(lines, held_back):
    """silver/orders as the platform sees it on day ``t``: every line landed by ``t``, except the
    ``held_back`` lines (order ids), which a re-run of their (earlier) landing day only adds on
    ``held_back_until``: an insert-only MERGE into a partition that already existed."""
    ids, until = held_back

    def silver(t: date):
        known = lines.where(F.col("_landed_date") <= F.lit(t))
        if t < until:
            known = known.where(~F.col("order_id").isin(ids))
        return known

    return silver


@pytest.mark.slow  # hundreds of days compared with the definition
def test_lifetime_value_carried_day_by_day_equals_the_definition(spark):
    lines, _ = _random_history(spark, seed=1)
    lines = frozen(spark, lines).cache()
    first, k, last = day(50), day(54), day(62)
    # One order of landing day k+2 is held back and inserted into that (existing) partition on k+4.
    partition = k + timedelta(days=2)
    local = lines.collect()
    in_partition = sorted({r.order_id for r in local if r._landed_date == partition})
    assert len(in_partition) >= 2
    held = in_partition[:1]
    until = k + timedelta(days=4)
    silver = _silver_by_day(lines, (held, until))
    missing = k + timedelta(days=6)  # the previous day's partition is missing: full recompute
    # Late orders land for earlier days on the carried days.
    assert any(r.order_date < r._landed_date and k < r._landed_date <= last and r._landed_date != missing for r in local)

    # The definition of each day as the platform computes it on that day (one Spark job for all).
    carried_days = [k + timedelta(days=i) for i in range((last - k).days + 1)]
    reference = None
    for d in carried_days:
        one = _lifetime_value_by_definition(silver(d), as_of(spark, d, d))
        reference = one if reference is None else reference.unionByName(one)
    expected = {}
    for r in rows(reference):
        expected.setdefault(r[0], []).append(r)  # sorted columns: as_of_date comes first

    previous = gold.customer_lifetime_value(silver(k), first, k).where(F.col("as_of_date") == F.lit(k))
    computed_at = k  # the silver "version" previous was computed from
    for d in carried_days:
        if d == k:
            result = previous
        elif d == missing:
            result = gold.customer_lifetime_value(silver(d), d, d)
        else:
            # changes since previous: the partitions that gained or lost lines since computed_at
            changed = [(computed_at + timedelta(days=i + 1)).isoformat() for i in range((d - computed_at).days)]
            if computed_at < until <= d:
                changed.append(partition.isoformat())
            where = F.col("_landed_date").cast("string").isin(changed) & (F.col("order_date") < F.lit(d))
            added, removed = gold.changed_lines(silver(computed_at).where(where), silver(d).where(where))
            today = silver(d).where(F.col("order_date") == F.lit(d))
            if computed_at < until <= d:
                assert removed.count() == 0
                # Reading the changed partitions whole would count the lines already there twice.
                naive = gold.carry_forward_lifetime_value(previous, silver(d).where(where).unionByName(today), d, d)
                assert rows(naive) != expected[d]
            result = gold.carry_forward_lifetime_value(
                previous, added.unionByName(today.select(*gold.LINE_COLUMNS)), d, d)
        collected = result.collect()
        assert sorted((tuple(r[c] for c in sorted(result.columns)) for r in collected), key=repr) == expected[d], d
        previous, computed_at = spark.createDataFrame(collected, result.schema), d


@pytest.mark.slow  # hundreds of days compared with the definition
def test_lifetime_value_carried_over_a_range_and_an_update_is_a_removal(spark):
    lines, _ = _random_history(spark, seed=7)
    lines = frozen(spark, lines).cache()
    p, start, end = day(80), day(81), day(90)
    before = lines.where(F.col("_landed_date") <= F.lit(p))
    previous = frozen(spark, gold.customer_lifetime_value(before, p, p))
    now = lines.where(F.col("_landed_date") <= F.lit(end))
    where = (F.col("_landed_date") > F.lit(p)) & (F.col("order_date") <= F.lit(p))
    added, removed = gold.changed_lines(before.where(where), now.where(where))
    assert removed.count() == 0
    new_lines = added.unionByName(now.where(F.col("order_date").between(start, end)).select(*gold.LINE_COLUMNS))
    carried = gold.carry_forward_lifetime_value(previous, new_lines, start, end)
    assert rows(carried) == rows(_lifetime_value_by_definition(now, as_of(spark, start, end)))
    # An updated line (new amount) shows up as removed: the caller must recompute in full.
    line = before.orderBy("order_id", "line_no").first()
    updated = before.where(~((F.col("order_id") == line.order_id) & (F.col("line_no") == line.line_no))).unionByName(
        spark.createDataFrame([(*line[:6], line.line_amount + Decimal("1.00"), line._landed_date)], LINES))
    added, removed = gold.changed_lines(before, updated)
    assert (added.count(), removed.count()) == (1, 1)


def _feature_lines(silver_now, previous, history, start, end):
    """What the asset reads for a carried run: the slices, plus every order of the newcomers."""
    parts = [silver_now.where(s) for s in features.carry_forward_slices(start, end)]
    new = features.newcomers(previous, history, start, end)
    parts.append(silver_now.where((F.col("_landed_date") <= F.lit(end)) & (F.col("order_date") <= F.lit(end)))
                 .join(new, "customer_id", "left_semi"))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out.select(*gold.LINE_COLUMNS).dropDuplicates(["order_id", "line_no"])


@pytest.mark.slow  # hundreds of days compared with the definition
@pytest.mark.parametrize("seed, k, last, step", [(3, 57, 63, 1), (5, 85, 112, 9)])
def test_features_carried_forward_equal_the_definition(spark, seed, k, last, step):
    """Day by day (or ``step`` days a run), with late orders, expiries at 30 and 90 days, customers
    whose dimension starts after their first orders (newcomers), and a missing previous day."""
    lines, history = _random_history(spark, seed=seed)
    lines, history = frozen(spark, lines).cache(), frozen(spark, history).cache()
    first, k, last = day(k - 5), day(k), day(last)
    missing = k + timedelta(days=3) if step == 1 else None

    def known_by(t):
        return lines.where(F.col("_landed_date") <= F.lit(t))

    # Point in time: the definition over every line is what each day knew (one Spark job for all days).
    expected = {}
    for r in rows(_features_by_definition(lines, history, as_of(spark, k, last))):
        expected.setdefault(r[0], []).append(r)  # sorted columns: as_of_date comes first

    result = features.customer_features(known_by(k), history, first, k).where(F.col("as_of_date") == F.lit(k))
    start, end, newcomers = k, k, 0
    while True:
        collected = result.collect()
        got = {}
        for r in sorted((tuple(r[c] for c in sorted(result.columns)) for r in collected), key=repr):
            got.setdefault(r[0], []).append(r)
        assert got == {d: expected[d] for d in expected if start <= d <= end}, (start, end)
        previous = spark.createDataFrame([r for r in collected if r.as_of_date == end], result.schema)
        start = end + timedelta(days=1)
        if start > last:
            break
        end = min(start + timedelta(days=step - 1), last)
        if start == missing:
            result = features.customer_features(known_by(end), history, start, end)
        else:
            new = features.newcomers(previous, history, start, end).count()
            newcomers += new
            result = features.carry_forward_customer_features(
                previous, _feature_lines(known_by(end), previous, history, start, end), history, start, end)
    assert newcomers > 0


# -- end to end: Dagster, real Delta tables ------------------------------------------------------
FIRST = date(2026, 1, 1)
HISTORY_END = date(2026, 1, 5)
NEW_DAY = date(2026, 1, 6)
CUMULATIVE = ["gold/customer_lifetime_value", "features/customer_features"]


def _hide_partitions_before(table_root: Path, day_: date, hideout: Path) -> int:
    """Move the data files of the landing days before ``day_`` away (the Delta log still lists
    them): a run that opens any of them fails, so a run that succeeds read none."""
    moved = 0
    for folder in table_root.glob("_landed_date=*"):
        if date.fromisoformat(folder.name.split("=", 1)[1]) < day_:
            shutil.move(str(folder), str(hideout / folder.name))
            moved += 1
    return moved


def _restore(table_root: Path, hideout: Path) -> None:
    for folder in hideout.iterdir():
        shutil.move(str(folder), str(table_root / folder.name))


@pytest.mark.slow
def test_a_new_day_carries_forward_and_reads_only_its_slices(tmp_path, monkeypatch, spark):
    import json

    from dagster import AssetKey, DagsterInstance

    from conftest import load_platform_definitions, materializations, run_graph
    from datagen import GeneratorConfig, generate_landing_zone
    from resources.settings import LakehouseSettings

    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path))
    generate_landing_zone(GeneratorConfig(root=str(tmp_path / "landing"), customers=60, products=12, orders=300,
                                          days=6, start_date=FIRST.isoformat(), seed=5))
    defs = load_platform_definitions().build_definitions(
        LakehouseSettings(env="ci", root=str(tmp_path), start_date=FIRST.isoformat()))
    instance = DagsterInstance.ephemeral()
    delta = defs.resources["delta"]

    history = run_graph(defs, instance, start=FIRST.isoformat(), end=HISTORY_END.isoformat())
    assert history.success
    for table in CUMULATIVE:
        metadata = materializations(history)[table]
        assert metadata["computation"] == f"full recompute: {table} does not exist yet", table
        assert metadata["incremental"] is False

    # The new day brings an order placed three days earlier (late), for a known customer and product.
    known = delta.read("silver/orders").orderBy("order_id").first()
    late_day = NEW_DAY - timedelta(days=3)
    extra = tmp_path / "landing" / "orders" / f"date={NEW_DAY}" / f"orders_{NEW_DAY}_part9999.jsonl"
    extra.write_text(json.dumps({
        "order_id": "O888888888", "customer_id": known.customer_id, "order_ts": f"{late_day}T12:00:00Z",
        "channel": "web", "currency": "EUR",
        "items": [{"line_no": 1, "product_id": known.product_id, "quantity": 2, "unit_price": 7.25}],
    }) + "\n")

    cumulative = [AssetKey(t.split("/")) for t in CUMULATIVE]
    upstream = [k for k in defs.resolve_all_asset_keys() if k not in cumulative]
    assert run_graph(defs, instance, partition=NEW_DAY.isoformat(), selection=upstream).success

    orders_root = tmp_path / "tables" / "silver" / "orders"
    hideout = tmp_path / "hidden-history"
    hideout.mkdir()
    assert _hide_partitions_before(orders_root, NEW_DAY, hideout) == 5
    try:
        new_day = run_graph(defs, instance, partition=NEW_DAY.isoformat(), selection=cumulative)
    finally:
        _restore(orders_root, hideout)
    assert new_day.success, "the new day read landing days it does not need"
    metadata = materializations(new_day)
    for table in CUMULATIVE:
        assert metadata[table]["computation"] == f"carried forward from {HISTORY_END}", table
        assert metadata[table]["incremental"] is True
        assert metadata[table]["orders_version"] == delta.version("silver/orders")

    # The carried rows are the full recompute's (the definition), the late order included.
    orders = delta.read("silver/orders")
    full = {
        "gold/customer_lifetime_value": gold.customer_lifetime_value(
            orders.where(F.col("order_date") <= F.lit(NEW_DAY)), NEW_DAY, NEW_DAY),
        "features/customer_features": features.customer_features(
            orders.where((F.col("order_date") <= F.lit(NEW_DAY)) & (F.col("_landed_date") <= F.lit(NEW_DAY))),
            delta.read("silver/customers"), NEW_DAY, NEW_DAY),
    }
    for table, expected in full.items():
        written = delta.read(table, f"as_of_date = DATE'{NEW_DAY}'").drop("_orders_version")
        assert rows(written) == rows(expected), table
    late = delta.read("gold/customer_lifetime_value", f"as_of_date = DATE'{NEW_DAY}'").where(
        F.col("customer_id") == known.customer_id).first()
    before = delta.read("gold/customer_lifetime_value", f"as_of_date = DATE'{HISTORY_END}'").where(
        F.col("customer_id") == known.customer_id).first()
    assert late.lifetime_revenue - before.lifetime_revenue >= Decimal("14.50")  # the late order counts


@pytest.mark.slow  # concurrent writers released together
def test_the_previous_day_is_read_at_one_version_even_if_replaced_meanwhile(tmp_path, spark_resource, spark):
    """Concurrent runs: day D-1 is replaced (its run re-materialized after a late file) between a
    day-D run's check of D-1 and its write. D must carry the D-1 rows it checked, not the new ones,
    which already count the late orders D adds from silver's log (they would count twice)."""
    from assets.carry_forward import previous_day
    from resources.delta import DeltaLakeResource

    delta = DeltaLakeResource(spark=spark_resource, root=str(tmp_path / "tables"))
    schema = "customer_id string, orders long, as_of_date date, _orders_version long"
    before = [("C1", 1, date(2026, 1, 1), 3), ("C2", 2, date(2026, 1, 1), 3)]
    delta.overwrite(spark.createDataFrame(before, schema), "gold/clv")

    previous, why = previous_day(delta, "gold/clv", date(2026, 1, 2))
    assert why == "" and previous.version == 3
    replaced = [("C1", 5, date(2026, 1, 1), 4)]
    delta.replace_where(spark.createDataFrame(replaced, schema), "gold/clv", "as_of_date = DATE'2026-01-01'")

    assert rows(previous.rows.select("customer_id", "orders")) == [("C1", 1), ("C2", 2)]

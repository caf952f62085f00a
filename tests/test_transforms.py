"""Each transformation as a pure DataFrame -> DataFrame function, on small inputs with every kind of dirt."""

from __future__ import annotations

import json
import random
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from pyspark.sql import functions as F

from assets.transforms import bronze, features, gold, silver
from assets.silver.customers import SilverCustomer
from assets.silver.orders import SilverOrderLine
from assets.silver.products import SilverProduct
from assets.transforms.rules import RULE, passed, quarantine_rows

pytestmark = pytest.mark.filterwarnings("ignore")

FILE = "file:///landing/orders/date=2026-01-02/orders_2026-01-02_part0000.jsonl"
FILE_DAY1 = "file:///landing/orders/date=2026-01-01/orders_2026-01-01_part0000.jsonl"


def order(order_id="O000000001", customer_id="C0000001", ts="2026-01-02T10:00:00Z", items=None, **extra):
    items = [{"line_no": 1, "product_id": "P00001", "quantity": 2, "unit_price": 5.5}] if items is None else items
    return json.dumps({"order_id": order_id, "customer_id": customer_id, "order_ts": ts, "channel": "web",
                       "currency": "EUR", "items": items, **extra})


def bronze_orders(spark, lines, source=FILE):
    raw = spark.createDataFrame([(line, source) for line in lines], "value string, _source_file string")
    return bronze.parse_order_lines(raw, run_id="run-1")


def test_parse_order_lines_keeps_malformed_lines_as_rejects(spark):
    good = order()
    truncated = good[:25]
    records = bronze_orders(spark, [good, truncated, '{"order_id": 5, "items": "not-a-list"}', "   "]).cache()
    accepted = bronze.accepted(records).collect()
    rejected = bronze.rejected(records, "orders", "malformed").collect()
    assert [r.order_id for r in accepted] == ["O000000001"]
    assert accepted[0]._landed_date == date(2026, 1, 2)
    assert accepted[0]._run_id == "run-1"
    assert accepted[0].items[0].quantity == 2
    # the blank line is not a record; the two bad ones are rejected with their raw text
    assert sorted(r.raw_record for r in rejected) == sorted([truncated, '{"order_id": 5, "items": "not-a-list"}'])
    assert {r.reason for r in rejected} == {"malformed"}


def validate(spark, lines, existing=None, customers=("C0000001",), products=("P00001",)):
    exploded = silver.explode_order_lines(bronze.accepted(bronze_orders(spark, lines)))
    return silver.validate_order_lines(
        exploded,
        SilverOrderLine,
        spark.createDataFrame([(c,) for c in customers], "customer_id string"),
        spark.createDataFrame([(p,) for p in products], "product_id string"),
        existing if existing is not None else spark.createDataFrame([], silver.EXISTING_ORDER_KEYS_SCHEMA),
    )


def test_every_kind_of_dirty_order_gets_its_rule(spark):
    lines = [
        order("O1"),  # clean, two lines below are exact duplicates of it
        order("O1"),
        order("O2", customer_id=None),
        order("O3", ts=None),
        order("O4", customer_id="C9999999"),
        order("O5", items=[
            {"line_no": 1, "product_id": "P00001", "quantity": -2, "unit_price": 5.5},
            {"line_no": 2, "product_id": "P00001", "quantity": 1, "unit_price": 5.5},
        ]),
        order("O6", items=[]),
        order("O7", items=[{"line_no": 1, "product_id": "P99999", "quantity": 1, "unit_price": 1.0}]),
        order("O8", ts="not a time"),
        order(None),
    ]
    rules = {(r.order_id, r[RULE]) for r in validate(spark, lines).collect()}
    assert rules == {
        ("O1", None),
        ("O1", "duplicate_order_line"),
        ("O2", "missing_customer_id"),
        ("O3", "invalid_order_ts"),
        ("O4", "unknown_customer"),
        ("O5", "non_positive_quantity"),
        ("O5", "order_has_invalid_line"),  # the good sibling line is quarantined with its order
        ("O6", "no_line_items"),
        ("O7", "unknown_product"),
        ("O8", "invalid_order_ts"),
        (None, "missing_order_id"),
    }


def test_explode_computes_typed_line_amounts(spark):
    items = [
        {"line_no": 1, "product_id": "P00001", "quantity": 3, "unit_price": 19.99},
        {"line_no": 2, "product_id": "P00001", "quantity": 1, "unit_price": 0.1},
    ]
    rows = silver.explode_order_lines(bronze.accepted(bronze_orders(spark, [order(items=items)]))).orderBy("line_no").collect()
    assert [(r.line_no, r.line_amount) for r in rows] == [(1, Decimal("59.97")), (2, Decimal("0.10"))]
    assert rows[0].order_date == date(2026, 1, 2)
    assert rows[0].order_ts == datetime(2026, 1, 2, 10, 0)


def test_redelivered_order_is_a_duplicate_of_the_earlier_landing(spark):
    existing = spark.createDataFrame([("O1", 1, date(2026, 1, 1))], silver.EXISTING_ORDER_KEYS_SCHEMA)
    same_day = spark.createDataFrame([("O1", 1, date(2026, 1, 2))], silver.EXISTING_ORDER_KEYS_SCHEMA)
    # landed again on day 2 while silver already holds it from day 1: duplicate
    assert [r[RULE] for r in validate(spark, [order("O1")], existing).collect()] == ["duplicate_order_line"]
    # re-processing day 2 itself (silver holds the row from day 2): not a duplicate
    assert [r[RULE] for r in validate(spark, [order("O1")], same_day).collect()] == [None]


def test_in_batch_duplicates_keep_the_earliest_landing(spark):
    day1 = bronze.accepted(bronze_orders(spark, [order("O1")], FILE_DAY1))
    day2 = bronze.accepted(bronze_orders(spark, [order("O1")], FILE))
    exploded = silver.explode_order_lines(day1.unionByName(day2))
    checked = silver.validate_order_lines(
        exploded,
        SilverOrderLine,
        spark.createDataFrame([("C0000001",)], "customer_id string"),
        spark.createDataFrame([("P00001",)], "product_id string"),
        spark.createDataFrame([], silver.EXISTING_ORDER_KEYS_SCHEMA),
    )
    kept = {(r._landed_date, r[RULE]) for r in checked.collect()}
    assert kept == {(date(2026, 1, 1), None), (date(2026, 1, 2), "duplicate_order_line")}



def test_the_two_order_windows_share_one_shuffle(spark):
    """Tainting (per order and landed copy) and first-copy dedup (per order line) both partition by
    order id first: the plan shuffles by order id once, not once per window."""
    checked = validate(spark, [order(f"O{i:09d}") for i in range(20)])
    plan = checked._jdf.queryExecution().executedPlan().toString()
    shuffles = [line.strip() for line in plan.splitlines() if "Exchange hashpartitioning" in line]
    by_order_only = [s for s in shuffles if re.search(r"hashpartitioning\(order_id#\d+, \d+\)", s)]
    assert len(by_order_only) == 1, shuffles
    assert not [s for s in shuffles if "_source_file" in s or "_w" in s], shuffles
    assert [r[RULE] for r in checked.collect()] == [None] * 20

CUSTOMER_COLS = "customer_id string, name string, email string, address string, city string, signup_date string, updated_at string, _source_file string, _landed_date date, _ingested_at timestamp"


def customer(cid, email, city, updated, landed, name="Ann"):
    return (cid, name, email, "1 Main St", city, "2025-06-01", updated, f"f{landed}", landed, datetime(2026, 1, 9))


def test_customer_history_is_scd2_in_update_order_even_when_records_land_late(spark):
    rows = [
        customer("C1", "a@x.io", "Oslo", "2026-01-01T08:00:00Z", date(2026, 1, 1)),
        # the move to Bergen on day 3 landed before the email change of day 2 (late record)
        customer("C1", "a@x.io", "Bergen", "2026-01-03T08:00:00Z", date(2026, 1, 3)),
        customer("C1", "new@x.io", "Oslo", "2026-01-02T08:00:00Z", date(2026, 1, 4)),
        # a record repeating the latest version changes nothing
        customer("C1", "a@x.io", "Bergen", "2026-01-05T08:00:00Z", date(2026, 1, 5)),
        customer("C1", "a@x.io", "Bergen", "2026-01-05T08:00:00Z", date(2026, 1, 5)),  # exact duplicate
        customer("C2", "", "Oslo", "2026-01-01T08:00:00Z", date(2026, 1, 1)),
        customer(None, "b@x.io", "Oslo", "2026-01-01T08:00:00Z", date(2026, 1, 1)),
        customer("C3", "not-an-email", "Oslo", "2026-01-01T08:00:00Z", date(2026, 1, 1)),
        # signed up in 2206: would break the features' tenure contract downstream
        ("C4", "Dee", "d@x.io", "1 Main St", "Oslo", "2206-01-01", "2026-01-01T08:00:00Z", "f", date(2026, 1, 1),
         datetime(2026, 1, 9)),
    ]
    checked = silver.validate_customer_records(spark.createDataFrame(rows, CUSTOMER_COLS), SilverCustomer)
    assert sorted(r[RULE] for r in checked.collect() if r[RULE]) == [
        "duplicate_record", "invalid_email", "missing_customer_id", "missing_email", "signup_after_update",
    ]
    history = silver.customer_history(silver.mark_unchanged(passed(checked))).orderBy("valid_from").collect()
    assert [(h.email, h.city, h.is_current) for h in history] == [
        ("a@x.io", "Oslo", False), ("new@x.io", "Oslo", False), ("a@x.io", "Bergen", True),
    ]
    assert history[0].valid_to == history[1].valid_from and history[1].valid_to == history[2].valid_from
    assert history[2].valid_to is None
    assert [h._source_records for h in history] == [1, 1, 2]  # the repeat is folded into the last version


def test_rebuilding_the_changed_customers_gives_what_a_full_rebuild_gives_them(spark):
    """What silver_customers does incrementally: the customers with a record on a changed landing
    day are rebuilt from all of their records; blank ids only from the changed days."""
    day1, day2, day3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)
    rows = [
        customer("C1", "a@x.io", "Oslo", "2026-01-01T08:00:00Z", day1),
        customer("C1", "a@x.io", "Bergen", "2026-01-02T08:00:00Z", day2),
        customer("C1", "a@x.io", "Oslo", "2026-01-01T08:00:00Z", day3),  # a duplicate of day 1's record
        customer(" C3 ", "c@x.io", "Oslo", "2025-12-30T08:00:00Z", day3),  # late, and the id needs a trim
        customer("C3", "c@x.io", "Bergen", "2026-01-01T08:00:00Z", day1),
        customer("C2", "b@x.io", "Oslo", "2026-01-01T08:00:00Z", day1),  # unchanged customer
        customer("C2", "b@x.io", "Oslo", "2026-01-01T08:00:00Z", day2),  # its own duplicate, not rebuilt
        customer(None, "n@x.io", "Oslo", "2026-01-01T08:00:00Z", day1),
        customer("  ", "n@x.io", "Oslo", "2026-01-01T08:00:00Z", day3),
        customer("O'Brien\\1", "o@x.io", "Oslo", "2026-01-01T08:00:00Z", day3),
    ]
    bronze_records = spark.createDataFrame(rows, CUSTOMER_COLS)
    changed_days = ["2026-01-03"]
    ids = silver.customer_ids(bronze_records.where(silver.landed_on(changed_days)))
    assert sorted(r.customer_id for r in ids.collect()) == ["C1", "C3", "O'Brien\\1"]

    def build(records):
        checked = silver.validate_customer_records(records, SilverCustomer).cache()
        history = silver.customer_history(silver.mark_unchanged(passed(checked)))
        quarantine = quarantine_rows(checked, ["customer_id"], ["_landed_date", "_source_file"])
        return checked, history, quarantine

    def rows_of(df):
        return sorted(tuple(r) for r in df.collect())

    _, full_history, full_quarantine = build(bronze_records)
    _, history, quarantine = build(silver.customer_slice(bronze_records, ids, silver.landed_on(changed_days)))
    id_list = [r.customer_id for r in ids.collect()]
    assert rows_of(history) == rows_of(full_history.where(F.col("customer_id").isin(id_list)))
    # The quarantine rows the rebuild writes are exactly the full rebuild's rows in the slice it replaces.
    predicate = silver.customer_quarantine_slice(id_list, changed_days)
    assert rows_of(quarantine) == rows_of(full_quarantine.where(predicate))
    assert sorted((r.customer_id, r.rule) for r in quarantine.collect()) == [
        ("", "missing_customer_id"), ("C1", "duplicate_record")]
    # C3's late record starts its history; C2 (not changed) is not read at all.
    c3 = history.where("customer_id = 'C3'").orderBy("valid_from").collect()
    assert [(v.city, v.is_current) for v in c3] == [("Oslo", False), ("Bergen", True)]
    assert c3[0].valid_to == c3[1].valid_from
    assert history.where("customer_id = 'C2'").count() == 0


def test_sql_string_literals_survive_quotes_and_backslashes(spark):
    values = ["O'Brien", "back\\slash", "both\\'", "plain"]
    selected = spark.sql("SELECT " + ", ".join(f"{silver.sql_string(v)} AS c{i}" for i, v in enumerate(values))).first()
    assert list(selected) == values
    assert silver.landed_on([]) == "false"


def test_products_keep_latest_version_and_quarantine_bad_rows(spark):
    cols = "product_id string, name string, category string, unit_price string, _source_file string, _landed_date date, _ingested_at timestamp"
    rows = [
        ("P1", "Lamp", "Home", "10.00", "a", date(2026, 1, 1), None),
        ("P1", "Lamp", "Home", "12.50", "b", date(2026, 1, 3), None),
        ("P2", "Bad", "home", "-1.00", "a", date(2026, 1, 1), None),
        ("P3", "NoCat", "", "3.00", "a", date(2026, 1, 1), None),
        ("P4", "Typo", "toys", "abc", "a", date(2026, 1, 1), None),
        ("P5", "Odd", "not_a_category", "1.00", "a", date(2026, 1, 1), None),  # outside the contract's domain
    ]
    checked = silver.validate_product_records(spark.createDataFrame(rows, cols), SilverProduct)
    assert {(r.product_id, r[RULE]) for r in checked.collect() if r[RULE]} == {
        ("P2", "invalid_unit_price"), ("P3", "missing_category"), ("P4", "invalid_unit_price"),
        ("P5", "unknown_category"),
    }
    current = silver.current_products(passed(checked)).collect()
    assert [(p.product_id, p.category, p.unit_price, p._source_records) for p in current] == [
        ("P1", "home", Decimal("12.50"), 2)
    ]


LINES = "order_id string, line_no int, customer_id string, order_date date, product_id string, quantity int, line_amount decimal(12,2), _landed_date date"


def test_daily_sales_by_day_and_category(spark):
    lines = spark.createDataFrame(
        [
            ("O1", 1, "C1", date(2026, 1, 1), "P1", 2, Decimal("20.00"), date(2026, 1, 1)),
            ("O1", 2, "C1", date(2026, 1, 1), "P2", 1, Decimal("5.00"), date(2026, 1, 1)),
            ("O2", 1, "C2", date(2026, 1, 1), "P1", 1, Decimal("10.00"), date(2026, 1, 1)),
            ("O3", 1, "C2", date(2026, 1, 2), "P1", 1, Decimal("10.00"), date(2026, 1, 2)),
        ],
        LINES,
    )
    products = spark.createDataFrame([("P1", "home"), ("P2", "toys")], "product_id string, category string")
    result = {(r.order_date, r.category): (r.orders, r.units, r.revenue, r.customers)
              for r in gold.daily_sales(lines, products).collect()}
    assert result == {
        (date(2026, 1, 1), "home"): (2, 3, Decimal("30.00"), 2),
        (date(2026, 1, 1), "toys"): (1, 1, Decimal("5.00"), 1),
        (date(2026, 1, 2), "home"): (1, 1, Decimal("10.00"), 1),
    }


def test_features_are_point_in_time_correct(spark):
    lines = spark.createDataFrame(
        [
            ("O1", 1, "C1", date(2026, 1, 1), "P1", 1, Decimal("10.00"), date(2026, 1, 1)),
            ("O1", 2, "C1", date(2026, 1, 1), "P1", 1, Decimal("20.00"), date(2026, 1, 1)),
            # placed on day 2 but landed on day 4: invisible as of days 2 and 3
            ("O2", 1, "C1", date(2026, 1, 2), "P1", 1, Decimal("50.00"), date(2026, 1, 4)),
            ("O3", 1, "C1", date(2026, 1, 3), "P1", 1, Decimal("5.00"), date(2026, 1, 3)),
        ],
        LINES,
    )
    history = spark.createDataFrame(
        [
            ("C1", "Oslo", date(2025, 12, 2), datetime(2025, 12, 2), datetime(2026, 1, 3, 12), False),
            ("C1", "Bergen", date(2025, 12, 2), datetime(2026, 1, 3, 12), None, True),
            ("C2", "Rome", date(2026, 1, 3), datetime(2026, 1, 3, 9), None, True),
        ],
        "customer_id string, city string, signup_date date, valid_from timestamp, valid_to timestamp, is_current boolean",
    )
    rows = {(r.customer_id, r.as_of_date.day): r
            for r in features.customer_features(lines, history, date(2026, 1, 1), date(2026, 1, 4)).collect()}
    c1 = {d: rows[("C1", d)] for d in (1, 2, 3, 4)}
    assert [c1[d].frequency for d in (1, 2, 3, 4)] == [1, 1, 2, 3]
    assert [c1[d].monetary for d in (1, 2, 3, 4)] == [Decimal("30.00"), Decimal("30.00"), Decimal("35.00"), Decimal("85.00")]
    assert [c1[d].recency_days for d in (1, 2, 3, 4)] == [0, 1, 0, 1]
    assert c1[3].average_basket == Decimal("17.50")
    assert [c1[d].city for d in (1, 2, 3, 4)] == ["Oslo", "Oslo", "Bergen", "Bergen"]
    assert c1[1].tenure_days == 30
    # C2 signed up on day 3: no row before, a zero-order row after
    assert ("C2", 2) not in rows
    assert (rows[("C2", 3)].frequency, rows[("C2", 3)].monetary, rows[("C2", 3)].recency_days) == (0, Decimal("0.00"), None)


def test_customer_lifetime_value_accumulates_per_as_of_day(spark):
    lines = spark.createDataFrame(
        [
            ("O1", 1, "C1", date(2026, 1, 1), "P1", 1, Decimal("10.00"), date(2026, 1, 1)),
            ("O2", 1, "C1", date(2026, 1, 2), "P1", 1, Decimal("30.00"), date(2026, 1, 5)),
        ],
        LINES,
    )
    rows = {r.as_of_date.day: r for r in gold.customer_lifetime_value(lines, date(2026, 1, 1), date(2026, 1, 2)).collect()}
    assert (rows[1].orders, rows[1].lifetime_revenue) == (1, Decimal("10.00"))
    assert (rows[2].orders, rows[2].lifetime_revenue, rows[2].average_order_value) == (2, Decimal("40.00"), Decimal("20.00"))
    assert rows[2].first_order_date == date(2026, 1, 1) and rows[2].last_order_date == date(2026, 1, 2)


# -- running totals against the tables' definitions -------------------------------------------
# The definitions, one as-of day at a time (a join per day): what the running-total
# implementations in assets/transforms must reproduce for any range of days.
def _lifetime_value_by_definition(lines, as_of):
    per_order = gold.orders(lines)
    return (
        per_order.join(as_of, per_order.order_date <= as_of.as_of_date)
        .groupBy("as_of_date", "customer_id")
        .agg(F.count("order_id").alias("orders"), F.sum("amount").cast(gold.MONEY).alias("lifetime_revenue"),
             F.min("order_date").alias("first_order_date"), F.max("order_date").alias("last_order_date"))
        .withColumn("average_order_value", (F.col("lifetime_revenue") / F.col("orders")).cast(gold.MONEY))
    )


def _features_by_definition(lines, history, as_of):
    per_order = gold.orders(lines)
    known = per_order.join(as_of, (per_order.order_date <= as_of.as_of_date) & (per_order.known_date <= as_of.as_of_date))
    age = F.datediff("as_of_date", "order_date")
    behaviour = known.groupBy("as_of_date", "customer_id").agg(
        F.count("order_id").alias("frequency"), F.sum("amount").alias("monetary"),
        F.max("order_date").alias("last_order_date"),
        F.sum(F.when(age < 30, F.col("amount")).otherwise(0)).alias("spend_30d"),
        F.sum(F.when(age < 90, F.col("amount")).otherwise(0)).alias("spend_90d"),
    )
    return features.customers_as_of(history, as_of).join(behaviour, ["as_of_date", "customer_id"], "left").select(
        "customer_id", "as_of_date", "city", F.datediff("as_of_date", "signup_date").alias("tenure_days"),
        F.datediff("as_of_date", "last_order_date").alias("recency_days"),
        F.coalesce("frequency", F.lit(0)).cast("long").alias("frequency"),
        F.coalesce("monetary", F.lit(0)).cast(gold.MONEY).alias("monetary"),
        F.coalesce("spend_30d", F.lit(0)).cast(gold.MONEY).alias("spend_30d"),
        F.coalesce("spend_90d", F.lit(0)).cast(gold.MONEY).alias("spend_90d"),
        (F.col("monetary") / F.col("frequency")).cast(gold.MONEY).alias("average_basket"),
    )


def _random_history(spark, seed):
    """Orders of 6 customers over 200 days, some landing up to 40 days late, and dimension
    versions that start before, during and after the orders."""
    rng = random.Random(seed)
    start = date(2026, 1, 1)
    lines = []
    for n in range(400):
        placed = start + timedelta(days=rng.randrange(200))
        landed = placed + timedelta(days=rng.choice([0, 0, 0, 1, 2, 3, 40]))
        customer = f"C{rng.randrange(6)}"
        for line_no in range(1, rng.randrange(1, 4) + 1):
            lines.append((f"O{n}", line_no, customer, placed, "P1", 1, Decimal(rng.randrange(1, 10_000)) / 100, landed))
    history = []
    for c in range(6):
        first = datetime(2025, 12, 1) + timedelta(days=rng.randrange(120), hours=rng.randrange(24))
        second = first + timedelta(days=rng.randrange(1, 90))
        history.append((f"C{c}", "Oslo", first.date(), first, second, False))
        history.append((f"C{c}", "Bergen", first.date(), second, None, True))
    return (spark.createDataFrame(lines, LINES),
            spark.createDataFrame(history, "customer_id string, city string, signup_date date, valid_from timestamp, "
                                           "valid_to timestamp, is_current boolean"))


# One range in the fast tier; the single days and the mid-history range in the full suite.
@pytest.mark.parametrize("first_day, last_day", [
    pytest.param(20, 20, marks=pytest.mark.slow), pytest.param(95, 95, marks=pytest.mark.slow),
    pytest.param(10, 130, marks=pytest.mark.slow), (1, 240)])
def test_running_totals_match_the_definitions_for_any_range(spark, first_day, last_day):
    lines, history = _random_history(spark, seed=first_day * 1000 + last_day)
    start, end = date(2025, 12, 31) + timedelta(days=first_day), date(2025, 12, 31) + timedelta(days=last_day)
    as_of = spark.createDataFrame([(start + timedelta(days=i),) for i in range((end - start).days + 1)],
                                  "as_of_date date")

    def rows(df):
        return sorted((tuple(r) for r in df.select(sorted(df.columns)).collect()), key=repr)

    clv = rows(gold.customer_lifetime_value(lines, start, end))
    assert clv and clv == rows(_lifetime_value_by_definition(lines, as_of))
    feats = rows(features.customer_features(lines, history, start, end))
    assert feats and feats == rows(_features_by_definition(lines, history, as_of))


# -- hostile values: every row that passes the rules passes the table's contract ------------------
def test_json_lines_are_one_object_or_a_reject_with_their_text(spark):
    lines = [order("O1") + order("O2"), order("O3") + " xyz", order("O4") + ",", "\ufeff" + order("O5"),
             order("O6"), "\t", order("O7") + "] [", f"[{order('O8')}]"]
    records = bronze_orders(spark, lines).cache()
    assert sorted(r.order_id for r in bronze.accepted(records).collect()) == ["O5", "O6"]
    assert sorted(r.raw_record for r in bronze.rejected(records, "orders", "malformed").collect()) == sorted(
        [lines[0], lines[1], lines[2], lines[6], lines[7]])  # the tab-only line is blank, not a record
    stats = bronze.file_stats(spark.createDataFrame([(v, FILE) for v in lines], "value string, _source_file string"))
    assert stats.first()["lines"] == 7 == records.count()


def test_hostile_values_are_quarantined_with_the_rule_they_break_and_passing_rows_meet_the_contract(spark):
    from assets.quality.results import pandera_check

    def item(**kw):
        return [{"line_no": 1, "product_id": "P00001", "quantity": 1, "unit_price": 5.5, **kw}]

    lines = [
        order("O1"),
        order("O2", items=[{"line_no": 1, "product_id": "P00001", "quantity": 1, "unit_price": 1.0},
                           {"line_no": 1, "product_id": "P00001", "quantity": 2, "unit_price": 2.0}]),
        order("O3", items=item(unit_price=float("nan"))),
        order("O4", items=item(unit_price=float("inf"))),
        order("O5", items=item(unit_price=1e308)),
        order("O6", items=item(quantity=2_000_000_000, unit_price=99999.0)),
        order("O7", items=item(line_no=0)),
        order("O8", channel="fax"),
        order("../../../etc/passwd"),
        order("O9", items=item(unit_price=None)),
        order("O10", items=item(unit_price=-1.0)),
    ]
    checked = validate(spark, lines).cache()
    rules = sorted((r.order_id, r.line_no, r[RULE]) for r in checked.collect())
    assert rules == sorted([
        ("O1", 1, None),
        ("O2", 1, "repeated_line_no"), ("O2", 1, "repeated_line_no"),  # whole, never split
        ("O3", 1, "invalid_unit_price"),
        ("O4", 1, "invalid_unit_price"),
        ("O5", 1, "unit_price_out_of_range"),
        ("O6", 1, "line_amount_out_of_range"),
        ("O7", 0, "line_no_out_of_range"),
        ("O8", 1, "unknown_channel"),
        ("../../../etc/passwd", 1, "invalid_order_id"),
        ("O9", 1, "missing_unit_price"),
        ("O10", 1, "negative_unit_price"),
    ])
    conformed = silver.conform_order_lines(passed(checked))
    assert conformed.count() == 1
    contract = pandera_check(SilverOrderLine, conformed, ["order_id", "line_no"])
    assert contract.passed, contract.metadata


def test_every_contract_check_has_a_row_rule():
    from assets.features import CustomerFeatures
    from assets.gold.customer_lifetime_value import GoldCustomerLifetimeValue
    from assets.gold.daily_sales import GoldDailySales
    from assets.silver.quarantine import QuarantineRecord
    from assets.transforms.rules import contract_rules

    for model in (SilverOrderLine, SilverCustomer, SilverProduct, GoldDailySales,
                  GoldCustomerLifetimeValue, CustomerFeatures, QuarantineRecord):
        columns = list(model.to_schema().columns)
        rules = contract_rules(model, columns)
        assert len(rules) >= sum(not c.nullable for c in model.to_schema().columns.values()), model.__name__

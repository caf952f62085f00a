"""Gold: business aggregates over silver."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

MONEY = "decimal(18,2)"
# Running sums of MONEY values before the final cast (what Spark's sum of decimal(18,2) gives).
RUNNING_MONEY = "decimal(28,2)"


def daily_sales(order_lines: DataFrame, products: DataFrame) -> DataFrame:
    """Sales per order day and product category: orders, units, revenue, buyers."""
    return (
        order_lines.join(products.select("product_id", "category"), "product_id", "left")
        .withColumn("category", F.coalesce("category", F.lit("unknown")))
        .groupBy("order_date", "category")
        .agg(
            F.countDistinct("order_id").alias("orders"),
            F.sum("quantity").cast("long").alias("units"),
            F.sum("line_amount").cast(MONEY).alias("revenue"),
            F.countDistinct("customer_id").alias("customers"),
        )
    )


def orders(order_lines: DataFrame) -> DataFrame:
    """One row per order: its customer, day, amount, and the day it became known."""
    return order_lines.groupBy("order_id").agg(
        F.first("customer_id").alias("customer_id"),
        F.first("order_date").alias("order_date"),
        F.min("_landed_date").alias("known_date"),
        F.sum("line_amount").cast(MONEY).alias("amount"),
    )


def as_of_days(per_customer_day: DataFrame, start: date, end: date) -> DataFrame:
    """Every (customer_id, as_of_date) from the customer's first ``as_of_date`` in the input to ``end``."""
    first = per_customer_day.groupBy("customer_id").agg(F.min("as_of_date").alias("_first"))
    return first.select(
        "customer_id", F.explode(F.sequence("_first", F.lit(end))).alias("as_of_date")
    ).where(F.col("as_of_date") >= F.lit(start))


def so_far() -> Window:
    """A customer's rows from the first up to this as-of day."""
    return Window.partitionBy("customer_id").orderBy("as_of_date").rowsBetween(Window.unboundedPreceding, 0)


def _lifetime_increments(per_order: DataFrame, start: date) -> DataFrame:
    """What each as-of day adds to a customer's lifetime value; orders before ``start`` count on ``start``."""
    return per_order.groupBy("customer_id", F.greatest("order_date", F.lit(start)).alias("as_of_date")).agg(
        F.count("order_id").alias("_orders"),
        F.sum("amount").cast(RUNNING_MONEY).alias("_revenue"),
        F.min("order_date").alias("_first"),
        F.max("order_date").alias("_last"),
    )


def _lifetime_totals(per_day: DataFrame, start: date, end: date) -> DataFrame:
    """Running totals of ``_lifetime_increments`` for every as-of day from ``start`` to ``end``."""
    return (
        as_of_days(per_day, start, end)
        .join(per_day, ["customer_id", "as_of_date"], "left")
        .select(
            "as_of_date",
            "customer_id",
            F.sum("_orders").over(so_far()).alias("orders"),
            F.sum("_revenue").over(so_far()).cast(MONEY).alias("lifetime_revenue"),
            F.min("_first").over(so_far()).alias("first_order_date"),
            F.max("_last").over(so_far()).alias("last_order_date"),
        )
        .withColumn("average_order_value", (F.col("lifetime_revenue") / F.col("orders")).cast(MONEY))
    )


def customer_lifetime_value(order_lines: DataFrame, start: date, end: date) -> DataFrame:
    """Each customer's value to date, for every as-of day from ``start`` to ``end``: revenue,
    orders, first/last order.

    Uses every order now known for days up to the as-of day, so a late order
    raises the value of its day once that day is re-materialized. Computed as running
    totals of per-day increments (orders before ``start`` count on ``start``), so a range
    of days costs one pass over the orders rather than one per day.

    This is the definition (and the full recompute); ``carry_forward_lifetime_value``
    reaches the same values from the day before ``start``.
    """
    per_order = orders(order_lines).where(F.col("order_date") <= F.lit(end))
    return _lifetime_totals(_lifetime_increments(per_order, start), start, end)


def carry_forward_lifetime_value(previous: DataFrame, new_lines: DataFrame, start: date, end: date) -> DataFrame:
    """``customer_lifetime_value`` for ``start..end`` from the values as of the day before ``start``.

    ``previous``: the table's rows as of ``start - 1`` (one per customer with an order by then).
    ``new_lines``: the order lines ``previous`` does not count: every line with an order day from
    ``start`` to ``end``, and the lines with an earlier order day that appeared since ``previous``
    was computed (see ``changed_lines``). Whole orders only: an order's lines are never split
    between ``previous`` and ``new_lines`` (silver accepts or quarantines an order whole, in the
    landing batch that brought it). Counts and sums add, first/last take the min/max.
    """
    carried = previous.select(
        "customer_id",
        F.lit(start).alias("as_of_date"),
        F.col("orders").cast("long").alias("_orders"),
        F.col("lifetime_revenue").cast(RUNNING_MONEY).alias("_revenue"),
        F.col("first_order_date").alias("_first"),
        F.col("last_order_date").alias("_last"),
    )
    per_order = orders(new_lines).where(F.col("order_date") <= F.lit(end))
    per_day = (
        _lifetime_increments(per_order, start)
        .unionByName(carried)
        .groupBy("customer_id", "as_of_date")
        .agg(F.sum("_orders").alias("_orders"), F.sum("_revenue").alias("_revenue"),
             F.min("_first").alias("_first"), F.max("_last").alias("_last"))
    )
    return _lifetime_totals(per_day, start, end)


# What identifies an order line's contribution to the cumulative tables.
LINE_COLUMNS = ["order_id", "line_no", "customer_id", "order_date", "line_amount", "_landed_date"]


def changed_lines(before: DataFrame, now: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Order lines ``now`` has and ``before`` had not (added), and the reverse (removed), compared
    on ``LINE_COLUMNS``: an updated line is both removed (old values) and added (new values).

    ``before`` and ``now`` are the same slice of ``silver/orders`` at two versions (time travel),
    so a line that was already there is not counted again, even in a landing day that gained
    files since (an insert-only MERGE into an existing partition).
    """
    before, now = before.select(*LINE_COLUMNS), now.select(*LINE_COLUMNS)
    return now.join(before, LINE_COLUMNS, "left_anti"), before.join(now, LINE_COLUMNS, "left_anti")

"""Features: customer behaviour as of a day, point-in-time correct.

Features for day D use only what was known by the end of D: orders placed on
or before D *and* landed on or before D, and the customer's dimension version
valid at the end of D. A late order therefore never leaks into an earlier
as-of day, and re-computing a past day gives the same answer.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.transforms.column_lineage import ColumnLineage, aggregated, identity, transformed
from assets.transforms.gold import MONEY, as_of_days, orders, so_far

ORDERS = "silver/orders"
CUSTOMERS = "silver/customers"


def customers_as_of(history: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """The customer dimension version valid at the end of each as-of day."""
    end_of_day = F.to_timestamp(F.date_add(as_of_dates.as_of_date, 1))
    valid = (history.valid_from < end_of_day) & (history.valid_to.isNull() | (history.valid_to >= end_of_day))
    return history.join(as_of_dates, valid).select("as_of_date", "customer_id", "city", "signup_date")


def _changes(per_order: DataFrame, start: date, end: date) -> DataFrame:
    """What each order adds to its customer's running totals, and on which as-of day.

    An order counts from the day it is both placed and known; it leaves the 30 (90) day
    spend on the day it is 30 (90) days old, or when it becomes known if that is later.
    Changes before ``start`` count on ``start``; changes after ``end`` are not needed.
    """
    known = F.greatest("order_date", "known_date")
    zero = F.lit(0).cast(MONEY)
    added = per_order.select(
        "customer_id", known.alias("day"), F.lit(1).alias("_orders"), F.col("amount").alias("_amount"),
        F.col("amount").alias("_in_30d"), F.col("amount").alias("_in_90d"), F.col("order_date").alias("_last"),
    )
    expired = [
        per_order.select(
            "customer_id", F.greatest(F.date_add("order_date", days), "known_date").alias("day"),
            F.lit(0).alias("_orders"), zero.alias("_amount"),
            (-F.col("amount") if days == 30 else zero).alias("_in_30d"),
            (-F.col("amount") if days == 90 else zero).alias("_in_90d"),
            F.lit(None).cast("date").alias("_last"),
        )
        for days in (30, 90)
    ]
    changes = added.unionByName(expired[0]).unionByName(expired[1]).where(F.col("day") <= F.lit(end))
    return changes.groupBy("customer_id", F.greatest("day", F.lit(start)).alias("as_of_date")).agg(
        *[F.sum(c).alias(c) for c in ("_orders", "_amount", "_in_30d", "_in_90d")], F.max("_last").alias("_last")
    )


def customer_features(order_lines: DataFrame, history: DataFrame, start: date, end: date) -> DataFrame:
    """RFM, tenure, rolling 30/90-day spend and average basket per customer and as-of day,
    for every day from ``start`` to ``end``.

    Running totals of per-day changes (``_changes``), so a range of days costs one pass
    over the orders rather than one per day; every customer valid at the end of a day
    gets a row for it, with zeros before their first known order.
    """
    as_of = order_lines.sparkSession.range(1).select(
        F.explode(F.sequence(F.lit(start), F.lit(end))).alias("as_of_date")
    )
    dimension = customers_as_of(history, as_of)
    changes = _changes(orders(order_lines), start, end)
    # Running totals need every day of a customer's range, whether or not the dimension has them.
    grid = as_of_days(changes, start, end).unionByName(dimension.select("customer_id", "as_of_date")).distinct()
    totals = grid.join(changes, ["customer_id", "as_of_date"], "left").select(
        "customer_id",
        "as_of_date",
        *[F.coalesce(F.sum(c).over(so_far()), F.lit(0)).alias(c.lstrip("_")) for c in ("_orders", "_amount", "_in_30d", "_in_90d")],
        F.max("_last").over(so_far()).alias("last_order_date"),
    )
    return dimension.join(totals, ["customer_id", "as_of_date"], "left").select(
        "customer_id",
        "as_of_date",
        "city",
        F.datediff("as_of_date", "signup_date").alias("tenure_days"),
        F.datediff("as_of_date", "last_order_date").alias("recency_days"),
        F.coalesce("orders", F.lit(0)).cast("long").alias("frequency"),
        F.coalesce("amount", F.lit(0)).cast(MONEY).alias("monetary"),
        F.coalesce("in_30d", F.lit(0)).cast(MONEY).alias("spend_30d"),
        F.coalesce("in_90d", F.lit(0)).cast(MONEY).alias("spend_90d"),
        F.when(F.col("orders") > 0, F.col("amount") / F.col("orders")).cast(MONEY).alias("average_basket"),
    )


_KNOWN = "orders placed and landed by the end of the as-of day"
CUSTOMER_FEATURES_LINEAGE: ColumnLineage = {
    "customer_id": identity(CUSTOMERS, "customer_id"),
    "as_of_date": [],  # the partition's day, not an input column
    "city": transformed(CUSTOMERS, "city", "valid_from", "valid_to", how="city of the version valid at the end of the day"),
    "tenure_days": transformed(CUSTOMERS, "signup_date", how="datediff(as_of_date, signup_date)"),
    "recency_days": aggregated(ORDERS, "order_date", how=f"datediff(as_of_date, max(order_date)) over {_KNOWN}"),
    "frequency": aggregated(ORDERS, "order_id", how=f"count of {_KNOWN}"),
    "monetary": aggregated(ORDERS, "line_amount", how=f"sum(line_amount) over {_KNOWN}"),
    "spend_30d": aggregated(ORDERS, "line_amount", "order_date", how="sum(line_amount) of orders in the last 30 days"),
    "spend_90d": aggregated(ORDERS, "line_amount", "order_date", how="sum(line_amount) of orders in the last 90 days"),
    "average_basket": aggregated(ORDERS, "line_amount", "order_id", how="monetary / frequency"),
}

"""Features: customer behaviour as of a day, point-in-time correct.

Features for day D use only what was known by the end of D: orders placed on
or before D *and* landed on or before D, and the customer's dimension version
valid at the end of D. A late order therefore never leaks into an earlier
as-of day, and re-computing a past day gives the same answer.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.transforms.column_lineage import ColumnLineage, aggregated, identity, transformed
from assets.transforms.gold import MONEY, orders

ORDERS = "silver/orders"
CUSTOMERS = "silver/customers"


def customers_as_of(history: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """The customer dimension version valid at the end of each as-of day."""
    end_of_day = F.to_timestamp(F.date_add(as_of_dates.as_of_date, 1))
    valid = (history.valid_from < end_of_day) & (history.valid_to.isNull() | (history.valid_to >= end_of_day))
    return history.join(as_of_dates, valid).select("as_of_date", "customer_id", "city", "signup_date")


def customer_features(order_lines: DataFrame, history: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """RFM, tenure, rolling 30/90-day spend and average basket per customer and as-of day."""
    per_order = orders(order_lines)
    known = per_order.join(
        as_of_dates,
        (per_order.order_date <= as_of_dates.as_of_date) & (per_order.known_date <= as_of_dates.as_of_date),
    )
    age_days = F.datediff("as_of_date", "order_date")
    behaviour = known.groupBy("as_of_date", "customer_id").agg(
        F.count("order_id").alias("frequency"),
        F.sum("amount").alias("monetary"),
        F.max("order_date").alias("last_order_date"),
        F.sum(F.when(age_days < 30, F.col("amount")).otherwise(0)).alias("spend_30d"),
        F.sum(F.when(age_days < 90, F.col("amount")).otherwise(0)).alias("spend_90d"),
    )
    return (
        customers_as_of(history, as_of_dates)
        .join(behaviour, ["as_of_date", "customer_id"], "left")
        .select(
            "customer_id",
            "as_of_date",
            "city",
            F.datediff("as_of_date", "signup_date").alias("tenure_days"),
            F.datediff("as_of_date", "last_order_date").alias("recency_days"),
            F.coalesce("frequency", F.lit(0)).cast("long").alias("frequency"),
            F.coalesce("monetary", F.lit(0)).cast(MONEY).alias("monetary"),
            F.coalesce("spend_30d", F.lit(0)).cast(MONEY).alias("spend_30d"),
            F.coalesce("spend_90d", F.lit(0)).cast(MONEY).alias("spend_90d"),
            (F.col("monetary") / F.col("frequency")).cast(MONEY).alias("average_basket"),
        )
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

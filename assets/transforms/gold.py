"""Gold: business aggregates over silver."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.transforms.column_lineage import ColumnLineage, aggregated, identity, transformed

MONEY = "decimal(18,2)"
ORDERS = "silver/orders"
PRODUCTS = "silver/products"


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


DAILY_SALES_LINEAGE: ColumnLineage = {
    "order_date": identity(ORDERS, "order_date"),
    "category": transformed(PRODUCTS, "category", how="the line's product category, 'unknown' if none")
    + transformed(ORDERS, "product_id", how="joined to products on product_id"),
    "orders": aggregated(ORDERS, "order_id", how="count(distinct order_id)"),
    "units": aggregated(ORDERS, "quantity", how="sum(quantity)"),
    "revenue": aggregated(ORDERS, "line_amount", how="sum(line_amount)"),
    "customers": aggregated(ORDERS, "customer_id", how="count(distinct customer_id)"),
}


def orders(order_lines: DataFrame) -> DataFrame:
    """One row per order: its customer, day, amount, and the day it became known."""
    return order_lines.groupBy("order_id").agg(
        F.first("customer_id").alias("customer_id"),
        F.first("order_date").alias("order_date"),
        F.min("_landed_date").alias("known_date"),
        F.sum("line_amount").cast(MONEY).alias("amount"),
    )


def customer_lifetime_value(order_lines: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """Each customer's value to date, for every as-of day: revenue, orders, first/last order.

    Uses every order now known for days up to the as-of day, so a late order
    raises the value of its day once that day is re-materialized.
    """
    per_order = orders(order_lines)
    return (
        per_order.join(as_of_dates, per_order.order_date <= as_of_dates.as_of_date)
        .groupBy("as_of_date", "customer_id")
        .agg(
            F.count("order_id").alias("orders"),
            F.sum("amount").cast(MONEY).alias("lifetime_revenue"),
            F.min("order_date").alias("first_order_date"),
            F.max("order_date").alias("last_order_date"),
        )
        .withColumn("average_order_value", (F.col("lifetime_revenue") / F.col("orders")).cast(MONEY))
    )


CUSTOMER_LIFETIME_VALUE_LINEAGE: ColumnLineage = {
    "as_of_date": [],  # the partition's day, not an input column
    "customer_id": identity(ORDERS, "customer_id"),
    "orders": aggregated(ORDERS, "order_id", how="count of orders placed up to the as-of day"),
    "lifetime_revenue": aggregated(ORDERS, "line_amount", how="sum(line_amount) up to the as-of day"),
    "first_order_date": aggregated(ORDERS, "order_date", how="min(order_date)"),
    "last_order_date": aggregated(ORDERS, "order_date", how="max(order_date)"),
    "average_order_value": aggregated(ORDERS, "line_amount", "order_id", how="sum(line_amount) / count(orders)"),
}

"""gold/daily_sales: sales per order day and product category, one order day per partition.

Each order day is replaced atomically; it reads the silver order lines of the day (landed up to
three days later) and the product catalogue. Transform: ``assets/transforms/gold.py``.
"""

from decimal import Decimal
from typing import Iterator, Union

import pyspark.sql.types as T
from dagster import (
    AssetCheckResult,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)
from pandera.pyspark import DataFrameModel, Field
from pyspark.sql import functions as F

from assets.automation import on_upstream_change
from assets.lineage import emits_lineage
from assets.metadata import replace_days, table_of
from assets.ownership import catalog
from assets.partitions import between, landed_by_then_and_late, partition_dates, single_run
from assets.quality.checks import Tables, TableCheck, check_specs, contract_checks, evaluate
from assets.quality.models import PRODUCT_CATEGORIES, TOTAL, described
from assets.quality.results import SAMPLE_SIZE, reconcile_result
from assets.silver.orders import SILVER_ORDERS
from assets.silver.products import SILVER_PRODUCTS
from assets.transforms import gold as t
from assets.transforms.column_lineage import ColumnLineage, aggregated, identity, transformed
from resources.delta import DeltaLakeResource
from resources.lineage import LineageResource

DAILY_SALES = AssetKey(["gold", "daily_sales"])
ORDERS, PRODUCTS = table_of(SILVER_ORDERS), table_of(SILVER_PRODUCTS)
Results = Iterator[Union[MaterializeResult, AssetCheckResult]]


# -- the contract and where each column comes from ----------------------------------
class GoldDailySales(DataFrameModel):
    order_date: T.DateType() = Field(nullable=False, description="Order day (the partition).")
    category: T.StringType() = Field(nullable=False, isin=PRODUCT_CATEGORIES, description="Product category.")
    orders: T.LongType() = Field(nullable=False, ge=1,
        description="Distinct orders with a line in the category that day.")
    units: T.LongType() = Field(nullable=False, ge=1, description="Units sold.")
    revenue: TOTAL = Field(nullable=False, ge=0, description="Revenue: sum of the line amounts.")
    customers: T.LongType() = Field(nullable=False, ge=1, description="Distinct buyers.")

    class Config:
        strict = True


COLUMNS = described(GoldDailySales)
LINEAGE: ColumnLineage = {
    "order_date": identity(ORDERS, "order_date"),
    "category": transformed(PRODUCTS, "category", how="the line's product category, 'unknown' if none")
    + transformed(ORDERS, "product_id", how="joined to products on product_id"),
    "orders": aggregated(ORDERS, "order_id", how="count(distinct order_id)"),
    "units": aggregated(ORDERS, "quantity", how="sum(quantity)"),
    "revenue": aggregated(ORDERS, "line_amount", how="sum(line_amount)"),
    "customers": aggregated(ORDERS, "customer_id", how="count(distinct customer_id)"),
}


# -- checks -------------------------------------------------------------------
def _daily_sales_reconcile_with_silver(tables: Tables) -> AssetCheckResult:
    """Revenue per order day, gold against silver: one row per day of the slice, collected."""
    gold = tables.read("gold/daily_sales", "order_date").groupBy("order_date").agg(F.sum("revenue").alias("gold_revenue"))
    silver = tables.read("silver/orders", "order_date").groupBy("order_date").agg(
        F.sum("line_amount").alias("silver_revenue"))
    days = gold.join(silver, "order_date", "full_outer").select(
        "order_date",
        F.coalesce(F.col("gold_revenue"), F.lit(0)).alias("gold_revenue"),
        F.coalesce(F.col("silver_revenue"), F.lit(0)).alias("silver_revenue"),
    ).orderBy("order_date").collect()
    differing = [day for day in days if day["gold_revenue"] != day["silver_revenue"]]
    columns = ("order_date", "gold_revenue", "silver_revenue")
    return reconcile_result(
        sum((day["silver_revenue"] for day in days), Decimal(0)),
        sum((day["gold_revenue"] for day in days), Decimal(0)),
        meaning="expected: revenue of the silver order lines (sum of line_amount) of the days; "
                "actual: revenue in gold/daily_sales of the days",
        passed=not differing, failure_count=len(differing),
        failed_rule="sum(gold.revenue) == sum(silver.line_amount) per day",
        samples=[{k: str(day[k]) for k in columns} for day in differing[:SAMPLE_SIZE]],
        days_compared=len(days),
    )


CHECKS = [
    *contract_checks(DAILY_SALES, GoldDailySales, ["order_date", "category"], "order_date"),
    TableCheck(DAILY_SALES, "daily_sales_reconcile_with_silver",
               "Revenue per day equals the sum of silver order lines of that day.",
               _daily_sales_reconcile_with_silver, partitioned=True),
]


# -- the step -------------------------------------------------------------------
def daily_sales(context: AssetExecutionContext, delta: DeltaLakeResource, lineage: LineageResource) -> Results:
    """Sales per order day and product category: orders, units, revenue and distinct buyers.

    A partition is an order day; re-materializing it replaces exactly that day.
    """
    start, end = partition_dates(context)
    lines = delta.read("silver/orders", between("order_date", start, end))
    sales = t.daily_sales(lines, delta.read("silver/products"))
    yield replace_days(context, delta, sales, DAILY_SALES, "order_date", start, end, COLUMNS, LINEAGE)
    yield from evaluate(CHECKS, Tables(delta, start=start, end=end))


def daily_sales_asset(partitions: PartitionsDefinition) -> AssetsDefinition:
    return asset(
        key=DAILY_SALES,
        check_specs=check_specs(CHECKS, partitions),
        deps=[AssetDep(SILVER_ORDERS, partition_mapping=landed_by_then_and_late), SILVER_PRODUCTS],
        **catalog("gold", "sales"),
        partitions_def=partitions,
        backfill_policy=single_run,
        automation_condition=on_upstream_change(SILVER_PRODUCTS),
    )(emits_lineage(column_lineage={table_of(DAILY_SALES): LINEAGE})(daily_sales))

"""Gold: the business tables, one day per partition, replaced atomically per day."""


from dagster import AssetDep, AssetExecutionContext, AssetKey, MaterializeResult, asset

from assets.automation import on_upstream_change
from assets.lineage import emits_lineage
from assets.metadata import replace_days
from assets.partitions import (
    between,
    daily_partitions,
    history_up_to_day_and_late,
    landed_by_then_and_late,
    partition_dates,
    single_run,
)
from assets.transforms import gold as t
from resources.delta import DeltaLakeResource

GROUP = "gold"
KINDS = {"spark", "delta"}
SILVER_ORDERS = AssetKey(["silver", "orders"])
SILVER_PRODUCTS = AssetKey(["silver", "products"])


@asset(
    key=["gold", "daily_sales"],
    deps=[AssetDep(SILVER_ORDERS, partition_mapping=landed_by_then_and_late), SILVER_PRODUCTS],
    group_name=GROUP,
    kinds=KINDS,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    automation_condition=on_upstream_change(SILVER_PRODUCTS),
)
@emits_lineage(column_lineage={"gold/daily_sales": t.DAILY_SALES_LINEAGE})
def daily_sales(context: AssetExecutionContext, delta: DeltaLakeResource) -> MaterializeResult:
    """Sales per order day and product category: orders, units, revenue and distinct buyers.

    A partition is an order day; re-materializing it replaces exactly that day.
    """
    start, end = partition_dates(context)
    lines = delta.read("silver/orders", between("order_date", start, end))
    sales = t.daily_sales(lines, delta.read("silver/products"))
    return replace_days(delta, sales, "gold/daily_sales", "order_date", start, end)


@asset(
    key=["gold", "customer_lifetime_value"],
    deps=[AssetDep(SILVER_ORDERS, partition_mapping=history_up_to_day_and_late)],
    group_name=GROUP,
    kinds=KINDS,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    automation_condition=on_upstream_change(),
)
@emits_lineage(column_lineage={"gold/customer_lifetime_value": t.CUSTOMER_LIFETIME_VALUE_LINEAGE})
def customer_lifetime_value(context: AssetExecutionContext, delta: DeltaLakeResource) -> MaterializeResult:
    """Each customer's lifetime value as of each day: orders, revenue, first/last order, average order."""
    start, end = partition_dates(context)
    lines = delta.read("silver/orders", f"order_date <= DATE'{end.isoformat()}'")
    clv = t.customer_lifetime_value(lines, start, end)
    return replace_days(delta, clv, "gold/customer_lifetime_value", "as_of_date", start, end)


gold_assets = [daily_sales, customer_lifetime_value]

"""Gold: the business tables, one day per partition, replaced atomically per day."""


from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from assets.metadata import replace_days
from assets.partitions import between, daily_partitions, days, partition_dates, single_run
from assets.transforms import gold as t
from resources.delta import DeltaLakeResource

GROUP = "gold"
KINDS = {"spark", "delta"}


@asset(
    key=["gold", "daily_sales"],
    deps=[AssetKey(["silver", "orders"]), AssetKey(["silver", "products"])],
    group_name=GROUP,
    kinds=KINDS,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
)
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
    deps=[AssetKey(["silver", "orders"])],
    group_name=GROUP,
    kinds=KINDS,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
)
def customer_lifetime_value(context: AssetExecutionContext, delta: DeltaLakeResource) -> MaterializeResult:
    """Each customer's lifetime value as of each day: orders, revenue, first/last order, average order."""
    start, end = partition_dates(context)
    as_of = delta.session.createDataFrame([(d,) for d in days(start, end)], "as_of_date date")
    lines = delta.read("silver/orders", f"order_date <= DATE'{end.isoformat()}'")
    clv = t.customer_lifetime_value(lines, as_of)
    return replace_days(delta, clv, "gold/customer_lifetime_value", "as_of_date", start, end)


gold_assets = [daily_sales, customer_lifetime_value]

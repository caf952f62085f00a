"""Gold: the business tables, one day per partition, replaced atomically per day."""


from decimal import Decimal
from typing import Iterator, Union

from dagster import AssetCheckResult, AssetDep, AssetExecutionContext, AssetKey, MaterializeResult, asset
from pyspark.sql import functions as F

from assets import carry_forward as cf
from assets.automation import on_upstream_change
from assets.lineage import emits_lineage
from assets.metadata import replace_days
from assets.ownership import DAILY_FRESHNESS, OWNERS, tags
from assets.partitions import (
    between,
    daily_partitions,
    history_up_to_day_and_late,
    landed_by_then_and_late,
    partition_dates,
    single_run,
)
from assets.quality import models
from assets.quality.checks import Tables, TableCheck, check_specs, contract_checks, evaluate
from assets.quality.results import SAMPLE_SIZE, reconcile_result
from assets.transforms import gold as t
from resources.delta import DeltaLakeResource

GROUP = "gold"
KINDS = {"spark", "delta"}
SILVER_ORDERS = AssetKey(["silver", "orders"])
SILVER_PRODUCTS = AssetKey(["silver", "products"])
DAILY_SALES = AssetKey(["gold", "daily_sales"])
CLV = AssetKey(["gold", "customer_lifetime_value"])
Results = Iterator[Union[MaterializeResult, AssetCheckResult]]


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


DAILY_SALES_CHECKS = [
    *contract_checks(DAILY_SALES, models.GoldDailySales, ["order_date", "category"], "order_date"),
    TableCheck(DAILY_SALES, "daily_sales_reconcile_with_silver",
               "Revenue per day equals the sum of silver order lines of that day.",
               _daily_sales_reconcile_with_silver, partitioned=True),
]
CLV_CHECKS = contract_checks(CLV, models.GoldCustomerLifetimeValue, ["as_of_date", "customer_id"], "as_of_date")


@asset(
    key=DAILY_SALES,
    check_specs=check_specs(DAILY_SALES_CHECKS),
    deps=[AssetDep(SILVER_ORDERS, partition_mapping=landed_by_then_and_late), SILVER_PRODUCTS],
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNERS,
    tags=tags(GROUP, "sales"),
    freshness_policy=DAILY_FRESHNESS,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    automation_condition=on_upstream_change(SILVER_PRODUCTS),
)
@emits_lineage(column_lineage={"gold/daily_sales": t.DAILY_SALES_LINEAGE})
def daily_sales(context: AssetExecutionContext, delta: DeltaLakeResource) -> Results:
    """Sales per order day and product category: orders, units, revenue and distinct buyers.

    A partition is an order day; re-materializing it replaces exactly that day.
    """
    start, end = partition_dates(context)
    lines = delta.read("silver/orders", between("order_date", start, end))
    sales = t.daily_sales(lines, delta.read("silver/products"))
    yield replace_days(context, delta, sales, "gold/daily_sales", "order_date", start, end)
    yield from evaluate(DAILY_SALES_CHECKS, Tables(delta, start=start, end=end))


CLV_TABLE = "gold/customer_lifetime_value"


@asset(
    key=CLV,
    check_specs=check_specs(CLV_CHECKS),
    deps=[AssetDep(SILVER_ORDERS, partition_mapping=history_up_to_day_and_late)],
    group_name=GROUP,
    kinds=KINDS,
    owners=OWNERS,
    tags=tags(GROUP, "customers"),
    freshness_policy=DAILY_FRESHNESS,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    automation_condition=on_upstream_change(),
)
@emits_lineage(column_lineage={"gold/customer_lifetime_value": t.CUSTOMER_LIFETIME_VALUE_LINEAGE})
def customer_lifetime_value(context: AssetExecutionContext, delta: DeltaLakeResource) -> Results:
    """Each customer's lifetime value as of each day: orders, revenue, first/last order, average order.

    Carried forward from the previous day's values when it can be (``_carry_forward_lifetime_value``),
    else recomputed from every order up to the run's last day (the definition).
    """
    start, end = partition_dates(context)
    previous, why = cf.previous_day(delta, CLV_TABLE, start)
    carried = _carry_forward_lifetime_value(delta, previous, start, end) if previous else None
    if isinstance(carried, str):
        carried, why = None, carried
    if carried is None:
        version = delta.version(cf.ORDERS)
        slice_ = f"order_date <= DATE'{end.isoformat()}'"
        clv = t.customer_lifetime_value(delta.read_version(cf.ORDERS, version, slice_), start, end)
        computation = cf.Computation(f"full recompute: {why}", version, [slice_])
    else:
        clv, computation = carried
    context.log.info(f"{CLV_TABLE} {start}..{end}: {computation.description} "
                     f"(silver/orders version {computation.orders_version}; read {computation.slices})")
    cf.ensure_version_column(delta, CLV_TABLE)
    yield replace_days(context, delta, cf.with_version(clv, computation.orders_version), CLV_TABLE, "as_of_date",
                       start, end, **computation.metadata())
    yield from evaluate(CLV_CHECKS, Tables(delta, start=start, end=end))


def _carry_forward_lifetime_value(delta: DeltaLakeResource, previous: cf.Previous, start, end):
    """The values from the previous day's plus what silver gained since it was computed, or why not.

    Orders with an order day up to the previous day that silver gained since version ``v`` are in
    the landing days whose files changed since ``v``: those days are read at ``v`` and now, and
    compared line by line (an existing landing day can gain files, so reading it whole would count
    its earlier lines twice). A line gone or changed since ``v`` cannot be subtracted from a
    minimum or maximum: that falls back to the full recompute.
    """
    p, v = previous.day, previous.version
    changes = delta.changes_since(cf.ORDERS, v)
    if changes is None:
        return f"silver/orders version {v} (behind {p}) can no longer be loaded"
    now = changes.to_version
    in_range = between("order_date", start, end)
    slices = [in_range]
    new_lines = delta.read_version(cf.ORDERS, now, in_range).select(*t.LINE_COLUMNS)
    if changes.partitions:
        changed, before, added, removed = cf.lines_changed_since(delta, v, now, changes.partitions, p)
        slices.append(changed)
        try:
            if not changes.insert_only and removed.limit(1).count():
                return f"order lines of days up to {p} were updated or deleted in silver/orders since version {v}"
            if added.join(before.select("order_id"), "order_id", "left_semi").limit(1).count():
                return f"orders of days up to {p} gained lines since version {v}"
        except Exception as error:  # e.g. the files of version v were vacuumed: the definition needs none
            return f"silver/orders version {v} could not be compared with {now} ({type(error).__name__})"
        new_lines = new_lines.unionByName(added)
    clv = t.carry_forward_lifetime_value(previous.rows, new_lines, start, end)
    version = cf.stamp(previous, changes.files_added, changes.files_removed, now)
    return clv, cf.Computation(f"carried forward from {p.isoformat()}", version, slices)


gold_assets = [daily_sales, customer_lifetime_value]
gold_checks = [*DAILY_SALES_CHECKS, *CLV_CHECKS]

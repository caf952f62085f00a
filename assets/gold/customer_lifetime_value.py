"""gold/customer_lifetime_value: each customer's lifetime value as of each day, one as-of day per
partition.

Carried forward from the previous day's values when it can be, else recomputed from every order up
to the run's last day (the definition); ``assets/carry_forward.py`` holds what the cumulative
tables share. Transform: ``assets/transforms/gold.py``.
"""

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

from assets import carry_forward as cf
from assets.automation import on_upstream_change
from assets.lineage import emits_lineage
from assets.metadata import table_of
from assets.metadata import replace_days
from assets.ownership import catalog
from assets.partitions import between, history_up_to_day_and_late, partition_dates, single_run
from assets.quality.checks import Tables, check_specs, contract_checks, evaluate
from assets.quality.models import TOTAL, described
from assets.silver.orders import SILVER_ORDERS
from assets.transforms import gold as t
from assets.transforms.column_lineage import ColumnLineage, aggregated, identity
from resources.delta import DeltaLakeResource
from resources.lineage import LineageResource

CLV = AssetKey(["gold", "customer_lifetime_value"])
CLV_TABLE = table_of(CLV)
ORDERS = table_of(SILVER_ORDERS)
Results = Iterator[Union[MaterializeResult, AssetCheckResult]]


# -- the contract and where each column comes from ----------------------------------
class GoldCustomerLifetimeValue(DataFrameModel):
    as_of_date: T.DateType() = Field(nullable=False,
        description="The day the values hold for, counting orders placed up to it (the partition).")
    customer_id: T.StringType() = Field(nullable=False, description="The customer.")
    orders: T.LongType() = Field(nullable=False, ge=1, description="Orders placed up to the as-of day.")
    lifetime_revenue: TOTAL = Field(nullable=False, ge=0, description="Revenue of those orders.")
    first_order_date: T.DateType() = Field(nullable=False, description="Day of the customer's first order.")
    last_order_date: T.DateType() = Field(nullable=False,
        description="Day of the customer's latest order up to the as-of day.")
    average_order_value: TOTAL = Field(nullable=False, ge=0, description="lifetime_revenue / orders.")
    orders_version: T.LongType() = Field(alias="_orders_version", nullable=False, ge=0,
        description="The silver/orders Delta version the values were computed from (carrying the day forward).")

    class Config:
        strict = True


COLUMNS = described(GoldCustomerLifetimeValue)
LINEAGE: ColumnLineage = {
    "as_of_date": [],  # the partition's day, not an input column
    "customer_id": identity(ORDERS, "customer_id"),
    "orders": aggregated(ORDERS, "order_id", how="count of orders placed up to the as-of day"),
    "lifetime_revenue": aggregated(ORDERS, "line_amount", how="sum(line_amount) up to the as-of day"),
    "first_order_date": aggregated(ORDERS, "order_date", how="min(order_date)"),
    "last_order_date": aggregated(ORDERS, "order_date", how="max(order_date)"),
    "average_order_value": aggregated(ORDERS, "line_amount", "order_id", how="sum(line_amount) / count(orders)"),
    "_orders_version": [],  # the silver/orders Delta version the values are computed from, not an input column
}


# -- checks -------------------------------------------------------------------
CHECKS = contract_checks(CLV, GoldCustomerLifetimeValue, ["as_of_date", "customer_id"], "as_of_date")


# -- the step -------------------------------------------------------------------
def customer_lifetime_value(context: AssetExecutionContext, delta: DeltaLakeResource, lineage: LineageResource) -> Results:
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
    yield replace_days(context, delta, cf.with_version(clv, computation.orders_version), CLV, "as_of_date",
                       start, end, COLUMNS, LINEAGE, **computation.metadata())
    yield from evaluate(CHECKS, Tables(delta, start=start, end=end))


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


def customer_lifetime_value_asset(partitions: PartitionsDefinition) -> AssetsDefinition:
    return asset(
        key=CLV,
        check_specs=check_specs(CHECKS, partitions),
        deps=[AssetDep(SILVER_ORDERS, partition_mapping=history_up_to_day_and_late)],
        **catalog("gold", "customers"),
        partitions_def=partitions,
        backfill_policy=single_run,
        automation_condition=on_upstream_change(),
    )(emits_lineage(column_lineage={CLV_TABLE: LINEAGE})(customer_lifetime_value))

"""features/customer_features: point-in-time customer features for training and serving, one
as-of day per partition.

Per customer and as-of day, using only data known by the end of that day (orders placed and
landed by then, the customer version valid then). Carried forward from the previous day's rows
when they are still valid, else recomputed. Transforms: ``assets/transforms/features.py``.
"""


from typing import Iterator, Union

import pyspark.sql.types as T
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
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

from assets import carry_forward as cf
from assets.automation import on_upstream_change
from assets.lineage import emits_lineage
from assets.metadata import replace_days, table_of
from assets.ownership import catalog
from assets.partitions import history_up_to_day, partition_dates, single_run
from assets.quality.checks import Tables, TableCheck, check_specs, contract_checks, evaluate
from assets.quality.models import TOTAL, described
from assets.quality.results import check_result, sample_keys
from assets.silver.customers import SILVER_CUSTOMERS
from assets.silver.orders import SILVER_ORDERS
from assets.transforms import features as t
from assets.transforms.column_lineage import ColumnLineage, aggregated, identity, transformed
from assets.transforms.gold import LINE_COLUMNS
from resources.delta import DeltaLakeResource
from resources.lineage import LineageResource

CUSTOMER_FEATURES = AssetKey(["features", "customer_features"])
TABLE = table_of(CUSTOMER_FEATURES)
ORDERS, CUSTOMERS = table_of(SILVER_ORDERS), table_of(SILVER_CUSTOMERS)


# -- the contract and where each column comes from ----------------------------------
class CustomerFeatures(DataFrameModel):
    customer_id: T.StringType() = Field(nullable=False, description="The customer.")
    as_of_date: T.DateType() = Field(nullable=False,
        description="The day the features hold for, using only data known by its end (the partition).")
    city: T.StringType() = Field(nullable=True,
        description="The customer's city in the version valid at the end of the as-of day.")
    tenure_days: T.IntegerType() = Field(nullable=False, ge=0, description="Days since signup.")
    recency_days: T.IntegerType() = Field(nullable=True, ge=0,
        description="Days since the latest order; empty before the first order.")
    frequency: T.LongType() = Field(nullable=False, ge=0,
        description="Orders placed and landed by the end of the as-of day.")
    monetary: TOTAL = Field(nullable=False, ge=0, description="Revenue of those orders.")
    spend_30d: TOTAL = Field(nullable=False, ge=0, description="Revenue of the orders of the last 30 days.")
    spend_90d: TOTAL = Field(nullable=False, ge=0, description="Revenue of the orders of the last 90 days.")
    average_basket: TOTAL = Field(nullable=True, ge=0,
        description="monetary / frequency; empty before the first order.")
    orders_version: T.LongType() = Field(alias="_orders_version", nullable=False, ge=0,
        description="The silver/orders Delta version the values were computed from (carrying the day forward).")

    class Config:
        strict = True


COLUMNS = described(CustomerFeatures)
_KNOWN = "orders placed and landed by the end of the as-of day"
LINEAGE: ColumnLineage = {
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
    "_orders_version": [],  # the silver/orders Delta version the values are computed from, not an input column
}


# -- checks -------------------------------------------------------------------
def _cover_known_customers(tables: Tables) -> AssetCheckResult:
    features = tables.read(TABLE, "as_of_date")
    first_seen = tables.read("silver/customers").groupBy("customer_id").agg(F.min("valid_from").alias("first_seen"))
    as_of = features.select("as_of_date").distinct()
    expected = first_seen.join(as_of, F.to_date("first_seen") <= F.col("as_of_date")).select("customer_id", "as_of_date")
    missing = expected.join(features, ["customer_id", "as_of_date"], "left_anti")
    count = missing.count()
    return check_result(count == 0, severity=AssetCheckSeverity.WARN,
                        failed_rule="one feature row per known customer and as-of day", failure_count=count,
                        samples=sample_keys(missing, ["customer_id", "as_of_date"]) if count else None)


CHECKS = [
    *contract_checks(CUSTOMER_FEATURES, CustomerFeatures, ["customer_id", "as_of_date"], "as_of_date"),
    TableCheck(CUSTOMER_FEATURES, "features_cover_known_customers",
               "Warns when a customer known by the as-of day has no feature row.", _cover_known_customers,
               blocking=False, partitioned=True, severity=AssetCheckSeverity.WARN),
]


# -- the step -------------------------------------------------------------------
def customer_features(
    context: AssetExecutionContext, delta: DeltaLakeResource, lineage: LineageResource
) -> Iterator[Union[MaterializeResult, AssetCheckResult]]:
    """Per customer and as-of day: recency, frequency, monetary value, tenure, 30/90-day spend,
    average basket and city, using only data known by the end of the as-of day.

    Carried forward from the previous day's rows when they are still valid
    (``_carry_forward_features``), else recomputed from every order known by the run's last day.
    """
    start, end = partition_dates(context)
    history = delta.read("silver/customers")
    previous, why = cf.previous_day(delta, TABLE, start)
    carried = _carry_forward_features(delta, previous, history, start, end) if previous else None
    if isinstance(carried, str):
        carried, why = None, carried
    if carried is None:
        version = delta.version(cf.ORDERS)
        known_by_end = f"order_date <= DATE'{end.isoformat()}' AND _landed_date <= DATE'{end.isoformat()}'"
        features = t.customer_features(delta.read_version(cf.ORDERS, version, known_by_end), history, start, end)
        computation = cf.Computation(f"full recompute: {why}", version, [known_by_end])
    else:
        features, computation = carried
    context.log.info(f"{TABLE} {start}..{end}: {computation.description} "
                     f"(silver/orders version {computation.orders_version}; read {computation.slices})")
    cf.ensure_version_column(delta, TABLE)
    yield replace_days(context, delta, cf.with_version(features, computation.orders_version), CUSTOMER_FEATURES,
                       "as_of_date", start, end, COLUMNS, LINEAGE, **computation.metadata())
    yield from evaluate(CHECKS, Tables(delta, start=start, end=end))


def _carry_forward_features(delta: DeltaLakeResource, previous: cf.Previous, history, start, end):
    """The rows from the previous day's plus the changes of the run's days, or why not.

    Point in time, the previous day's rows stay right as long as no order line of a landing day
    up to it changed in silver since they were computed (files rewritten with the same lines, as a
    compaction does, are compared line by line at both versions); otherwise they are stale and
    everything is recomputed.
    The changes are read as slices (``carry_forward_slices``: landing days of the range, order
    days whose orders expire in it), plus every order of the customers the previous day has no
    row for (``newcomers``), looked up by customer id within the ids' range (file statistics).
    """
    p, v = previous.day, previous.version
    changes = delta.changes_since(cf.ORDERS, v)
    if changes is None:
        return f"silver/orders version {v} (behind {p}) can no longer be loaded"
    now = changes.to_version
    slices = t.carry_forward_slices(start, end)
    stale = sorted(d for d in changes.partitions if d <= p.isoformat())
    compared = []  # slices compared but not read: the rows of p already count their lines
    if stale:
        # Files of landing days up to p changed: the rows of p stand only if no line known by p did
        # (a compaction rewrites files, not lines).
        changed, _, added, removed = cf.lines_changed_since(delta, v, now, stale, p)
        try:
            differs = added.limit(1).count() or removed.limit(1).count()
        except Exception as error:  # e.g. the files of version v were vacuumed
            return f"silver/orders version {v} could not be compared with {now} ({type(error).__name__})"
        if differs:
            return (f"order lines of landing days {', '.join(stale)} changed in silver/orders since version {v}, "
                    f"so the features of {p} are stale")
        compared.append(f"{changed} (at versions {v} and {now}: no line changed)")
    parts = [delta.read_version(cf.ORDERS, now, s) for s in slices]
    slices += compared
    new = t.newcomers(previous.rows, history, start, end)
    low, high = new.agg(F.min("customer_id"), F.max("customer_id")).first()
    if low is not None:
        known_by_end = f"order_date <= DATE'{end.isoformat()}' AND _landed_date <= DATE'{end.isoformat()}'"
        slices.append(f"{known_by_end} AND customer_id among the customers new since {p} (ids {low}..{high})")
        parts.append(
            delta.read_version(cf.ORDERS, now, known_by_end)
            .where(F.col("customer_id").between(low, high))
            .join(F.broadcast(new), "customer_id", "left_semi")
        )
    lines = cf.union_all([part.select(*LINE_COLUMNS) for part in parts]).dropDuplicates(["order_id", "line_no"])
    features = t.carry_forward_customer_features(previous.rows, lines, history, start, end)
    version = cf.stamp(previous, changes.files_added, changes.files_removed, now)
    return features, cf.Computation(f"carried forward from {p.isoformat()}", version, slices)


def customer_features_asset(partitions: PartitionsDefinition) -> AssetsDefinition:
    return asset(
        key=CUSTOMER_FEATURES,
        check_specs=check_specs(CHECKS, partitions),
        deps=[AssetDep(SILVER_ORDERS, partition_mapping=history_up_to_day), SILVER_CUSTOMERS],
        **catalog("features", "customers"),
        partitions_def=partitions,
        backfill_policy=single_run,
        automation_condition=on_upstream_change(SILVER_CUSTOMERS),
    )(emits_lineage(column_lineage={TABLE: LINEAGE})(customer_features))

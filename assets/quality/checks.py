"""Asset checks for silver, gold and feature tables.

Every table gets its pandera contract and, where it has a key, a primary-key
check (a factory: nine tables share that shape); tables with business invariants get checks of their
own: referential integrity, reconciliation with the layer below, SCD2 sanity,
coverage. ERROR checks are blocking: when one fails, downstream assets in the
same run are skipped. WARN checks record without blocking.
"""


from typing import Optional, Sequence, Type

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    asset_check,
)
from pandera.pyspark import DataFrameModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.lineage import emits_lineage
from assets.partitions import between, daily_partitions, partition_dates
from assets.quality import models
from assets.quality.results import check_result, pandera_check, sample_keys, unique_key_check
from resources.delta import DeltaLakeResource


def _table(key: AssetKey) -> str:
    return "/".join(key.path)


def _read_slice(context, delta: DeltaLakeResource, table: str, date_column: Optional[str]) -> DataFrame:
    if date_column is None:
        return delta.read(table)
    start, end = partition_dates(context)
    return delta.read(table, between(date_column, start, end))


def contract_checks(
    key: AssetKey,
    model: Type[DataFrameModel],
    primary_key: Sequence[str],
    date_column: Optional[str] = None,
):
    """The pandera contract and primary-key uniqueness of one table (both blocking).

    ``date_column`` scopes both checks to the run's partitions; when the key does
    not contain the date column, the run's keys are looked up in the whole table,
    since a key may then collide across days.
    """
    partitions_def = daily_partitions if date_column else None
    table = _table(key)
    name = "_".join(key.path)

    @asset_check(
        asset=key,
        name="matches_contract",
        blocking=True,
        partitions_def=partitions_def,
        description=f"pandera {model.__name__}: column types, nullability and value rules.",
    )
    @emits_lineage
    def _contract(context: AssetCheckExecutionContext, delta: DeltaLakeResource) -> AssetCheckResult:
        return pandera_check(model, _read_slice(context, delta, table, date_column), primary_key)

    if not primary_key:
        _contract.__name__ = f"{name}_matches_contract"
        return [_contract]
    key_in_slice = date_column is not None and date_column in primary_key

    @asset_check(
        asset=key,
        name="primary_key_unique",
        blocking=True,
        partitions_def=partitions_def,
        description=f"({', '.join(primary_key)}) identifies one row.",
    )
    @emits_lineage
    def _unique(context: AssetCheckExecutionContext, delta: DeltaLakeResource) -> AssetCheckResult:
        rows = _read_slice(context, delta, table, date_column)
        if date_column is not None and not key_in_slice:
            # The run's keys may collide with any day's: look them up in the files whose key
            # statistics overlap the run's, rather than grouping the whole table.
            rows = delta.lookup_keys(table, rows, primary_key)
        return unique_key_check(rows, primary_key)

    _contract.__name__ = f"{name}_matches_contract"
    _unique.__name__ = f"{name}_primary_key_unique"
    return [_contract, _unique]


SILVER_ORDERS = AssetKey(["silver", "orders"])
SILVER_CUSTOMERS = AssetKey(["silver", "customers"])
SILVER_PRODUCTS = AssetKey(["silver", "products"])
DAILY_SALES = AssetKey(["gold", "daily_sales"])
CLV = AssetKey(["gold", "customer_lifetime_value"])
FEATURES = AssetKey(["features", "customer_features"])

table_contracts = [
    *contract_checks(SILVER_ORDERS, models.SilverOrderLine, ["order_id", "line_no"], "_landed_date"),
    *contract_checks(SILVER_CUSTOMERS, models.SilverCustomer, ["customer_id", "valid_from"]),
    *contract_checks(SILVER_PRODUCTS, models.SilverProduct, ["product_id"]),
    *contract_checks(AssetKey(["silver", "quarantine_orders"]), models.QuarantineRecord, [], "_landed_date"),
    *contract_checks(AssetKey(["silver", "quarantine_customers"]), models.QuarantineRecord, []),
    *contract_checks(AssetKey(["silver", "quarantine_products"]), models.QuarantineRecord, []),
    *contract_checks(DAILY_SALES, models.GoldDailySales, ["order_date", "category"], "order_date"),
    *contract_checks(CLV, models.GoldCustomerLifetimeValue, ["as_of_date", "customer_id"], "as_of_date"),
    *contract_checks(FEATURES, models.CustomerFeatures, ["customer_id", "as_of_date"], "as_of_date"),
]


# -- silver orders -------------------------------------------------------------
@asset_check(
    asset=SILVER_ORDERS,
    blocking=True,
    partitions_def=daily_partitions,
    description="Every order line's customer exists in the customer dimension.",
)
@emits_lineage
def orders_reference_known_customers(context: AssetCheckExecutionContext, delta: DeltaLakeResource) -> AssetCheckResult:
    lines = _read_slice(context, delta, "silver/orders", "_landed_date")
    orphans = lines.join(delta.read("silver/customers").select("customer_id").distinct(), "customer_id", "left_anti")
    count = orphans.count()
    return check_result(
        count == 0,
        failed_rule="silver.orders.customer_id in silver.customers",
        failure_count=count,
        samples=sample_keys(orphans, ["order_id", "line_no", "customer_id"]) if count else None,
    )


@asset_check(
    asset=SILVER_ORDERS,
    blocking=True,
    partitions_def=daily_partitions,
    description="Order lines in bronze = lines in silver + lines quarantined, for the run's landing days.",
)
@emits_lineage
def orders_reconcile_with_bronze(context: AssetCheckExecutionContext, delta: DeltaLakeResource) -> AssetCheckResult:
    start, end = partition_dates(context)
    slice_ = between("_landed_date", start, end)
    bronze_lines = (
        delta.read("bronze/orders", slice_)
        .select(F.greatest(F.coalesce(F.size("items"), F.lit(0)), F.lit(1)).alias("n"))
        .agg(F.coalesce(F.sum("n"), F.lit(0)))
        .first()[0]
    )
    silver_rows = delta.read("silver/orders", slice_).count()
    quarantined = delta.read("silver/quarantine_orders", slice_).count()
    return check_result(
        bronze_lines == silver_rows + quarantined,
        failed_rule="bronze lines == silver + quarantined",
        failure_count=abs(bronze_lines - silver_rows - quarantined),
        bronze_lines=int(bronze_lines),
        silver_rows=silver_rows,
        quarantined_rows=quarantined,
    )


QUARANTINE_RATE_LIMIT = 0.10


@asset_check(
    asset=SILVER_ORDERS,
    blocking=False,
    partitions_def=daily_partitions,
    description=f"Warns when more than {QUARANTINE_RATE_LIMIT:.0%} of a day's order lines are quarantined.",
)
@emits_lineage
def orders_quarantine_rate(context: AssetCheckExecutionContext, delta: DeltaLakeResource) -> AssetCheckResult:
    start, end = partition_dates(context)
    slice_ = between("_landed_date", start, end)
    good = delta.read("silver/orders", slice_).count()
    bad = delta.read("silver/quarantine_orders", slice_).count()
    rate = bad / (good + bad) if good + bad else 0.0
    return check_result(
        rate <= QUARANTINE_RATE_LIMIT,
        severity=AssetCheckSeverity.WARN,
        failed_rule=f"quarantine rate <= {QUARANTINE_RATE_LIMIT}",
        failure_count=bad,
        quarantine_rate=round(rate, 4),
    )


# -- silver dimensions -----------------------------------------------------------
def _dimension_reconciles(delta: DeltaLakeResource, source: str) -> AssetCheckResult:
    landed = delta.read(f"bronze/{source}").count()
    accounted = delta.read(f"silver/{source}").agg(F.coalesce(F.sum("_source_records"), F.lit(0))).first()[0]
    quarantined = delta.read(f"silver/quarantine_{source}").count()
    return check_result(
        landed == accounted + quarantined,
        failed_rule="bronze records == records behind silver rows + quarantined",
        failure_count=abs(landed - accounted - quarantined),
        bronze_records=landed,
        silver_records=int(accounted),
        quarantined_records=quarantined,
    )


@asset_check(asset=SILVER_CUSTOMERS, blocking=True, description="Every bronze customer record is accounted for.")
@emits_lineage
def customers_reconcile_with_bronze(delta: DeltaLakeResource) -> AssetCheckResult:
    return _dimension_reconciles(delta, "customers")


@asset_check(asset=SILVER_PRODUCTS, blocking=True, description="Every bronze product record is accounted for.")
@emits_lineage
def products_reconcile_with_bronze(delta: DeltaLakeResource) -> AssetCheckResult:
    return _dimension_reconciles(delta, "products")


@asset_check(
    asset=SILVER_CUSTOMERS,
    blocking=True,
    description="SCD2 history is well formed: one current version per customer, versions do not overlap.",
)
@emits_lineage
def customer_history_is_consistent(delta: DeltaLakeResource) -> AssetCheckResult:
    history = delta.read("silver/customers")
    per_customer = history.groupBy("customer_id").agg(
        F.sum(F.col("is_current").cast("int")).alias("current_versions"),
        F.sum(F.when(F.col("valid_to").isNotNull() & (F.col("valid_to") <= F.col("valid_from")), 1).otherwise(0)).alias(
            "inverted"
        ),
    )
    bad = per_customer.where((F.col("current_versions") != 1) | (F.col("inverted") > 0))
    count = bad.count()
    return check_result(
        count == 0,
        failed_rule="exactly one is_current row and valid_from < valid_to",
        failure_count=count,
        samples=sample_keys(bad, ["customer_id", "current_versions"]) if count else None,
    )


# -- gold and features -------------------------------------------------------------
@asset_check(
    asset=DAILY_SALES,
    blocking=True,
    partitions_def=daily_partitions,
    description="Revenue per day equals the sum of silver order lines of that day.",
)
@emits_lineage
def daily_sales_reconcile_with_silver(context: AssetCheckExecutionContext, delta: DeltaLakeResource) -> AssetCheckResult:
    start, end = partition_dates(context)
    gold = delta.read("gold/daily_sales", between("order_date", start, end)).groupBy("order_date").agg(
        F.sum("revenue").alias("gold_revenue")
    )
    silver = delta.read("silver/orders", between("order_date", start, end)).groupBy("order_date").agg(
        F.sum("line_amount").alias("silver_revenue")
    )
    diff = gold.join(silver, "order_date", "full_outer").where(
        ~F.coalesce(F.col("gold_revenue"), F.lit(0)).eqNullSafe(F.coalesce(F.col("silver_revenue"), F.lit(0)))
    )
    count = diff.count()
    return check_result(
        count == 0,
        failed_rule="sum(gold.revenue) == sum(silver.line_amount) per day",
        failure_count=count,
        samples=sample_keys(diff, ["order_date", "gold_revenue", "silver_revenue"]) if count else None,
    )


@asset_check(
    asset=FEATURES,
    blocking=False,
    partitions_def=daily_partitions,
    description="Warns when a customer known by the as-of day has no feature row.",
)
@emits_lineage
def features_cover_known_customers(context: AssetCheckExecutionContext, delta: DeltaLakeResource) -> AssetCheckResult:
    start, end = partition_dates(context)
    features = delta.read("features/customer_features", between("as_of_date", start, end))
    first_seen = delta.read("silver/customers").groupBy("customer_id").agg(F.min("valid_from").alias("first_seen"))
    as_of = features.select("as_of_date").distinct()
    expected = first_seen.join(as_of, F.to_date("first_seen") <= F.col("as_of_date")).select("customer_id", "as_of_date")
    missing = expected.join(features, ["customer_id", "as_of_date"], "left_anti")
    count = missing.count()
    return check_result(
        count == 0,
        severity=AssetCheckSeverity.WARN,
        failed_rule="one feature row per known customer and as-of day",
        failure_count=count,
        samples=sample_keys(missing, ["customer_id", "as_of_date"]) if count else None,
    )


quality_checks = [
    *table_contracts,
    orders_reference_known_customers,
    orders_reconcile_with_bronze,
    orders_quarantine_rate,
    customers_reconcile_with_bronze,
    products_reconcile_with_bronze,
    customer_history_is_consistent,
    daily_sales_reconcile_with_silver,
    features_cover_known_customers,
]

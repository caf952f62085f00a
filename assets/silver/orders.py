"""silver/orders and silver/quarantine_orders: one row per order line, and the lines that broke a rule.

The step explodes a landing day's bronze orders into lines, validates them against the known
customers and products and against the contract below, drops a line already in silver from an
earlier landing (the earliest landing wins) and MERGEs the day idempotently; rows in = rows out +
rows quarantined, checked in the step. Transforms: ``assets/transforms/silver.py``.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    PartitionsDefinition,
    multi_asset,
)
import pyspark.sql.types as T
from pandera.pyspark import DataFrameModel, Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.bronze import BRONZE_ORDERS
from assets.lineage import emits_lineage
from assets.metadata import per_day, write_metadata
from assets.partitions import between, partition_dates, single_run
from assets.quality.checks import Tables, TableCheck, check_specs, contract_checks, evaluate
from assets.quality.models import CHANNELS, CURRENCY_CODE, MONEY, described
from assets.quality.results import check_result, pandera_check, reconcile_result, sample_keys, unique_key_check
from assets.silver.customers import SILVER_CUSTOMERS
from assets.silver.products import SILVER_PRODUCTS
from assets.silver.quarantine import QuarantineRecord, accounting, quarantine_columns, rule_counts, with_quarantine
from assets.transforms import silver as t
from assets.transforms.rules import passed, quarantine_rows
from resources.delta import DeltaLakeResource
from resources.lineage import LineageResource

SILVER_ORDERS = AssetKey(["silver", "orders"])
QUARANTINE_ORDERS = AssetKey(["silver", "quarantine_orders"])
# Whether a line is a duplicate depends on earlier landing days, so days are processed one
# run at a time, in launch order (a pool of one slot, held per run; see platform/dagster.local.yaml).
SILVER_ORDERS_POOL = "silver_orders"


# -- the contract ----------------------------------------------------------------
class SilverOrderLine(DataFrameModel):
    order_id: T.StringType() = Field(nullable=False, str_matches=r"^O\d+$",
        description="Order identifier from the feed (O followed by digits).")
    line_no: T.IntegerType() = Field(nullable=False, ge=1, description="Line number within the order, from 1.")
    customer_id: T.StringType() = Field(nullable=False,
        description="The ordering customer; exists in silver/customers.")
    order_ts: T.TimestampType() = Field(nullable=False, description="When the order was placed (UTC).")
    order_date: T.DateType() = Field(nullable=False, description="The order's day (UTC), what gold partitions by.")
    channel: T.StringType() = Field(nullable=True, isin=CHANNELS, description="Sales channel: web, app or store.")
    currency: T.StringType() = Field(nullable=True, str_matches=CURRENCY_CODE,
        description="ISO 4217 currency code of the prices.")
    product_id: T.StringType() = Field(nullable=False,
        description="The product ordered; exists in silver/products.")
    quantity: T.IntegerType() = Field(nullable=False, gt=0, description="Units ordered, at least 1.")
    unit_price: MONEY = Field(nullable=False, ge=0, description="Price of one unit.")
    line_amount: MONEY = Field(nullable=False, ge=0, description="quantity x unit_price.")
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False,
        description="Day the line's file landed (the partition; the earliest landing wins).")
    source_file: T.StringType() = Field(alias="_source_file", nullable=False,
        description="Landed file the line came from.")
    ingested_at: T.TimestampType() = Field(alias="_ingested_at", nullable=True,
        description="When bronze ingested the file.")
    row_hash: T.StringType() = Field(alias="_row_hash", nullable=False,
        description="Hash of the line's content: a MERGE updates the row only when it changes.")

    class Config:
        strict = True


COLUMNS = described(SilverOrderLine)
QUARANTINE_COLUMNS = quarantine_columns({
    "order_id": "Order identifier of the quarantined line, if any.",
    "line_no": "Line number of the quarantined line, if any.",
    "customer_id": "Customer identifier of the quarantined line, if any.",
    "product_id": "Product identifier of the quarantined line, if any.",
})


# -- checks -------------------------------------------------------------------
QUARANTINE_RATE_LIMIT = 0.10


def _orders_reference_known_customers(lines: DataFrame, customer_ids: DataFrame) -> AssetCheckResult:
    orphans = lines.join(customer_ids.distinct(), "customer_id", "left_anti")
    count = orphans.count()
    return check_result(count == 0, failed_rule="silver.orders.customer_id in silver.customers", failure_count=count,
                        samples=sample_keys(orphans, ["order_id", "line_no", "customer_id"]) if count else None)


def _orders_reconcile(bronze_lines: int, silver_rows: int, quarantined: int) -> AssetCheckResult:
    return reconcile_result(
        int(bronze_lines), int(silver_rows) + int(quarantined),
        meaning="expected: order lines in bronze; actual: order lines in silver + quarantined",
        failed_rule="bronze lines == silver + quarantined",
        bronze_lines=int(bronze_lines), silver_rows=int(silver_rows), quarantined_rows=int(quarantined),
    )


def _orders_quarantine_rate(good: int, bad: int) -> AssetCheckResult:
    rate = bad / (good + bad) if good + bad else 0.0
    return check_result(rate <= QUARANTINE_RATE_LIMIT, severity=AssetCheckSeverity.WARN,
                        failed_rule=f"quarantine rate <= {QUARANTINE_RATE_LIMIT}", failure_count=bad,
                        quarantine_rate=round(rate, 4), quarantined_rows=int(bad))


def _bronze_lines(tables: Tables) -> int:
    return tables.read("bronze/orders", "_landed_date").select(
        F.greatest(F.coalesce(F.size("items"), F.lit(0)), F.lit(1)).alias("n")
    ).agg(F.coalesce(F.sum("n"), F.lit(0))).first()[0]


ORDERS_CHECKS = [
    *contract_checks(SILVER_ORDERS, SilverOrderLine, ["order_id", "line_no"], "_landed_date"),
    TableCheck(
        SILVER_ORDERS, "orders_reference_known_customers",
        "Every order line's customer exists in the customer dimension.",
        lambda tables: _orders_reference_known_customers(
            tables.read("silver/orders", "_landed_date"), tables.read("silver/customers").select("customer_id")),
        partitioned=True,
    ),
    TableCheck(
        SILVER_ORDERS, "orders_reconcile_with_bronze",
        "Order lines in bronze = lines in silver + lines quarantined, for the run's landing days.",
        lambda tables: _orders_reconcile(_bronze_lines(tables), tables.read("silver/orders", "_landed_date").count(),
                                         tables.read("silver/quarantine_orders", "_landed_date").count()),
        partitioned=True,
    ),
    TableCheck(
        SILVER_ORDERS, "orders_quarantine_rate",
        f"Warns when more than {QUARANTINE_RATE_LIMIT:.0%} of a day's order lines are quarantined.",
        lambda tables: _orders_quarantine_rate(tables.read("silver/orders", "_landed_date").count(),
                                               tables.read("silver/quarantine_orders", "_landed_date").count()),
        blocking=False, partitioned=True, severity=AssetCheckSeverity.WARN,
    ),
]
QUARANTINE_ORDERS_CHECKS = contract_checks(QUARANTINE_ORDERS, QuarantineRecord, [], "_landed_date")
CHECKS = [*ORDERS_CHECKS, *QUARANTINE_ORDERS_CHECKS]


# -- the step -------------------------------------------------------------------
def silver_orders(context: AssetExecutionContext, delta: DeltaLakeResource, lineage: LineageResource):
    """One landing day (or range) of order lines: exploded, validated, deduplicated against silver,
    merged; rejected lines to the quarantine; the checks from the cached validation."""
    start, end = partition_dates(context)
    slice_ = between("_landed_date", start, end)
    lines = t.explode_order_lines(delta.read("bronze/orders", slice_))
    # Only files whose order ids overlap the batch's can hold a copy of one of its lines.
    existing = delta.lookup_keys("silver/orders", lines, t.ORDER_LINE_KEY, ["_landed_date"],
                                 t.EXISTING_ORDER_KEYS_SCHEMA)
    # A late file can bring an earlier copy of lines that silver holds from a later landing day:
    # the earliest landing wins, so those later days' copies become duplicates. Their days are
    # re-processed in this step too, or their accounting would miss the lines the MERGE moves.
    displaced = sorted(r[0] for r in existing.where(F.col("_landed_date") > F.lit(end))
                       .select("_landed_date").distinct().collect())
    if displaced:
        days = ", ".join(f"DATE'{d.isoformat()}'" for d in displaced)
        context.log.warning(f"silver_orders {start}..{end}: lines already in silver from later landing days "
                            f"{[d.isoformat() for d in displaced]} landed earlier now; re-processing those days")
        slice_ = f"({slice_}) OR _landed_date IN ({days})"
        lines = t.explode_order_lines(delta.read("bronze/orders", slice_))
        existing = delta.lookup_keys("silver/orders", lines, t.ORDER_LINE_KEY, ["_landed_date"],
                                     t.EXISTING_ORDER_KEYS_SCHEMA)
    known_customer_ids = delta.read("silver/customers").select("customer_id")
    checked = t.validate_order_lines(
        lines,
        SilverOrderLine,
        known_customer_ids=known_customer_ids,
        known_product_ids=delta.read("silver/products").select("product_id"),
        existing_keys=existing,
    ).cache()
    try:
        counts = rule_counts(checked)
        valid = t.conform_order_lines(passed(checked))
        commit = delta.merge(
            valid,
            "silver/orders",
            t.ORDER_LINE_KEY,
            change_column="_row_hash",
            delete_missing_where=slice_.replace("_landed_date", "t._landed_date"),
            # A valid line never matches a copy landed before its own day (that makes it a
            # duplicate), so the MERGE reads only the landing days from `start` on.
            match_condition=f"t._landed_date >= DATE'{start.isoformat()}'",
            partition_by=["_landed_date"],
        )
        quarantine = quarantine_rows(
            checked, ["order_id", "line_no", "customer_id", "product_id"], ["_landed_date", "_source_file"]
        ).withColumn("_run_id", F.lit(context.run_id))
        q_commit = delta.replace_where(quarantine, "silver/quarantine_orders", slice_, partition_by=["_landed_date"])
        # The checks, from the cached validation: what was written is what they see.
        written, quarantined = valid.count(), quarantine.count()
        tables = Tables(delta, start=start, end=end)
        checks = [*evaluate(ORDERS_CHECKS, tables, {
            "matches_contract": lambda: pandera_check(SilverOrderLine, valid, t.ORDER_LINE_KEY),
            # Lines that copy an existing key are quarantined as duplicates by the validation's
            # lookup of existing keys, so the batch's own keys are the ones that can collide.
            "primary_key_unique": lambda: unique_key_check(valid, t.ORDER_LINE_KEY),
            "orders_reference_known_customers": lambda: _orders_reference_known_customers(valid, known_customer_ids),
            "orders_reconcile_with_bronze": lambda: _orders_reconcile(sum(counts.values()), written, quarantined),
            "orders_quarantine_rate": lambda: _orders_quarantine_rate(written, quarantined),
        }), *evaluate(QUARANTINE_ORDERS_CHECKS, tables, {
            "matches_contract": lambda: pandera_check(QuarantineRecord, quarantine, []),
        })]
    finally:
        checked.unpersist()
    summary = accounting(counts, counts.get("passed", 0))
    context.log.info(
        f"silver_orders {start}..{end}: in={summary['rows_in']} out={summary['rows_out']} "
        f"quarantined={summary['rows_quarantined']}"
    )
    yield MaterializeResult(
        asset_key=SILVER_ORDERS,
        metadata=per_day(context, SILVER_ORDERS, delta, commit, write_metadata(
            commit, valid.schema, summary["rows_out"], COLUMNS, **summary,
            later_landing_days_reprocessed=[d.isoformat() for d in displaced]), "_landed_date", start, end),
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_ORDERS,
        metadata=per_day(context, QUARANTINE_ORDERS, delta, q_commit, write_metadata(
            q_commit, quarantine.schema, summary["rows_quarantined"], QUARANTINE_COLUMNS), "_landed_date", start, end),
    )
    yield from checks


def silver_orders_asset(partitions: PartitionsDefinition) -> AssetsDefinition:
    """The step that writes silver/orders and its quarantine, one landing day per partition."""
    return multi_asset(
        name="silver_orders",
        specs=with_quarantine(
            SILVER_ORDERS,
            QUARANTINE_ORDERS,
            [BRONZE_ORDERS, SILVER_CUSTOMERS, SILVER_PRODUCTS],
            "orders",
            "One row per order line, keyed by (order_id, line_no): typed, validated against known "
            "customers and products, deduplicated (earliest landing wins), merged idempotently.",
        ),
        check_specs=check_specs(CHECKS, partitions),
        partitions_def=partitions,
        backfill_policy=single_run,
        pool=SILVER_ORDERS_POOL,
    )(emits_lineage(silver_orders))

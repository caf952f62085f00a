"""Silver: typed, validated, deduplicated, conformed tables and their quarantines.

Rows that break a row-level rule go to the layer's ``quarantine_*`` table with
the rule's name; rows in = rows out + rows quarantined, recorded on every
materialization and checked by a blocking asset check.
"""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.automation import on_upstream_change
from assets.build_state import record_tag, tagged_commits
from assets.customer_rebuild import STEP as CUSTOMERS_STEP
from assets.customer_rebuild import commit_or_nothing, plan_customer_rebuild
from assets.lineage import emits_lineage
from assets.metadata import per_day, write_metadata
from assets.ownership import DAILY_FRESHNESS, OWNERS, tags
from assets.partitions import between, daily_partitions, partition_dates, single_run
from assets.quality import models
from assets.quality.checks import Tables, TableCheck, check_specs, contract_checks, evaluate
from assets.quality.results import check_result, pandera_check, reconcile_result, sample_keys, unique_key_check
from assets.transforms import silver as t
from assets.transforms.rules import RULE, passed, quarantine_rows
from resources.delta import DeltaLakeResource

GROUP = "silver"
KINDS = {"spark", "delta"}

SILVER_ORDERS = AssetKey(["silver", "orders"])
# Whether a line is a duplicate depends on earlier landing days, so days are processed one
# run at a time, in launch order (a pool of one slot, held per run; see platform/dagster.local.yaml).
SILVER_ORDERS_POOL = "silver_orders"
QUARANTINE_ORDERS = AssetKey(["silver", "quarantine_orders"])
SILVER_CUSTOMERS = AssetKey(["silver", "customers"])
QUARANTINE_CUSTOMERS = AssetKey(["silver", "quarantine_customers"])
SILVER_PRODUCTS = AssetKey(["silver", "products"])
QUARANTINE_PRODUCTS = AssetKey(["silver", "quarantine_products"])


def with_quarantine(
    key: AssetKey, quarantine: AssetKey, deps: list[AssetKey], domain: str, description: str
) -> list[AssetSpec]:
    """A silver table and its quarantine table, written by one step, owned and tagged alike.

    The first dependency is the bronze table the step reads; the others are
    dimensions it looks records up in (which decide rules like unknown_customer,
    so the quarantine depends on them too), whose updates alone do not re-run it.
    """
    automation = on_upstream_change(*deps[1:])
    ownership = {"owners": OWNERS, "tags": tags(GROUP, domain), "freshness_policy": DAILY_FRESHNESS}
    return [
        AssetSpec(key, group_name=GROUP, kinds=KINDS, deps=deps, description=description,
                  automation_condition=automation, **ownership),
        AssetSpec(
            quarantine,
            group_name=GROUP,
            kinds=KINDS,
            deps=deps,
            description=f"Records for {key.to_user_string()} that broke a rule: the rule and the record as JSON.",
            automation_condition=automation,
            **ownership,
        ),
    ]


def rule_counts(checked: DataFrame) -> dict[str, int]:
    """Rows per outcome (``passed`` or the failed rule); computing it fills the cache."""
    return {
        (row[RULE] or "passed"): int(row["count"]) for row in checked.groupBy(RULE).count().collect()
    }


def accounting(counts: dict[str, int], rows_out: int) -> dict:
    rows_in = sum(counts.values())
    quarantined = rows_in - counts.get("passed", 0)
    return {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_quarantined": quarantined,
        "quarantine_by_rule": MetadataValue.json({k: v for k, v in sorted(counts.items()) if k != "passed"}),
    }


# -- silver/orders: checks -------------------------------------------------------
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
    *contract_checks(SILVER_ORDERS, models.SilverOrderLine, ["order_id", "line_no"], "_landed_date"),
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
QUARANTINE_ORDERS_CHECKS = contract_checks(QUARANTINE_ORDERS, models.QuarantineRecord, [], "_landed_date")


@multi_asset(
    name="silver_orders",
    specs=with_quarantine(
        SILVER_ORDERS,
        QUARANTINE_ORDERS,
        [AssetKey(["bronze", "orders"]), SILVER_CUSTOMERS, SILVER_PRODUCTS],
        "orders",
        "One row per order line, keyed by (order_id, line_no): typed, validated against known "
        "customers and products, deduplicated (earliest landing wins), merged idempotently.",
    ),
    check_specs=check_specs([*ORDERS_CHECKS, *QUARANTINE_ORDERS_CHECKS]),
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    pool=SILVER_ORDERS_POOL,
)
@emits_lineage
def silver_orders(context: AssetExecutionContext, delta: DeltaLakeResource):
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
            "matches_contract": lambda: pandera_check(models.SilverOrderLine, valid, t.ORDER_LINE_KEY),
            # Lines that copy an existing key are quarantined as duplicates by the validation's
            # lookup of existing keys, so the batch's own keys are the ones that can collide.
            "primary_key_unique": lambda: unique_key_check(valid, t.ORDER_LINE_KEY),
            "orders_reference_known_customers": lambda: _orders_reference_known_customers(valid, known_customer_ids),
            "orders_reconcile_with_bronze": lambda: _orders_reconcile(sum(counts.values()), written, quarantined),
            "orders_quarantine_rate": lambda: _orders_quarantine_rate(written, quarantined),
        }), *evaluate(QUARANTINE_ORDERS_CHECKS, tables, {
            "matches_contract": lambda: pandera_check(models.QuarantineRecord, quarantine, []),
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
            commit, valid.schema, summary["rows_out"], **summary,
            later_landing_days_reprocessed=[d.isoformat() for d in displaced]), "_landed_date", start, end),
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_ORDERS,
        metadata=per_day(context, QUARANTINE_ORDERS, delta, q_commit, write_metadata(
            q_commit, quarantine.schema, summary["rows_quarantined"]), "_landed_date", start, end),
    )
    yield from checks


# -- silver/customers and silver/products: checks ------------------------------------
def _dimension_reconciles(tables: Tables, source: str) -> AssetCheckResult:
    landed = tables.read(f"bronze/{source}").count()
    accounted = tables.read(f"silver/{source}").agg(F.coalesce(F.sum("_source_records"), F.lit(0))).first()[0]
    quarantined = tables.read(f"silver/quarantine_{source}").count()
    return reconcile_result(
        int(landed), int(accounted) + int(quarantined),
        meaning=f"expected: {source} records in bronze; actual: records behind silver rows + quarantined",
        failed_rule="bronze records == records behind silver rows + quarantined",
        bronze_records=landed, silver_records=int(accounted), quarantined_records=quarantined,
    )


def _history_is_consistent(history: DataFrame) -> AssetCheckResult:
    per_customer = history.groupBy("customer_id").agg(
        F.sum(F.col("is_current").cast("int")).alias("current_versions"),
        F.sum(F.when(F.col("valid_to").isNotNull() & (F.col("valid_to") <= F.col("valid_from")), 1).otherwise(0))
        .alias("inverted"),
    )
    bad = per_customer.where((F.col("current_versions") != 1) | (F.col("inverted") > 0))
    count = bad.count()
    return check_result(count == 0, failed_rule="exactly one is_current row and valid_from < valid_to",
                        failure_count=count,
                        samples=sample_keys(bad, ["customer_id", "current_versions"]) if count else None)


CUSTOMERS_CHECKS = [
    *contract_checks(SILVER_CUSTOMERS, models.SilverCustomer, ["customer_id", "valid_from"]),
    TableCheck(SILVER_CUSTOMERS, "customers_reconcile_with_bronze", "Every bronze customer record is accounted for.",
               lambda tables: _dimension_reconciles(tables, "customers")),
    TableCheck(SILVER_CUSTOMERS, "customer_history_is_consistent",
               "SCD2 history is well formed: one current version per customer, versions do not overlap.",
               lambda tables: _history_is_consistent(tables.read("silver/customers"))),
]
QUARANTINE_CUSTOMERS_CHECKS = contract_checks(QUARANTINE_CUSTOMERS, models.QuarantineRecord, [])
PRODUCTS_CHECKS = [
    *contract_checks(SILVER_PRODUCTS, models.SilverProduct, ["product_id"]),
    TableCheck(SILVER_PRODUCTS, "products_reconcile_with_bronze", "Every bronze product record is accounted for.",
               lambda tables: _dimension_reconciles(tables, "products")),
]
QUARANTINE_PRODUCTS_CHECKS = contract_checks(QUARANTINE_PRODUCTS, models.QuarantineRecord, [])


@multi_asset(
    name="silver_customers",
    specs=with_quarantine(
        SILVER_CUSTOMERS,
        QUARANTINE_CUSTOMERS,
        [AssetKey(["bronze", "customers"])],
        "customers",
        "Customer dimension, SCD type 2: one row per version with valid_from / valid_to / is_current, "
        "rebuilt in update-time order so re-runs and late records give the same history.",
    ),
    check_specs=check_specs([*CUSTOMERS_CHECKS, *QUARANTINE_CUSTOMERS_CHECKS]),
    backfill_policy=single_run,
)
@emits_lineage
def silver_customers(context: AssetExecutionContext, delta: DeltaLakeResource):
    # Only customers with new, changed or removed bronze records since the tables were last
    # built are rebuilt, each from all of their records (assets/customer_rebuild.py); every read
    # of bronze is pinned to one version, the one the writes are tagged with.
    bronze_version = delta.version("bronze/customers")
    if bronze_version is None:
        raise RuntimeError("bronze/customers does not exist yet: materialize it first")
    plan = plan_customer_rebuild(delta, bronze_version)
    context.log.info(f"silver_customers: {plan.computation}")
    bronze = delta.read_version("bronze/customers", bronze_version)
    ids = delta.session.createDataFrame([(i,) for i in plan.ids], "customer_id string")
    if plan.full:
        records = bronze
    elif plan.nothing_changed:
        records = bronze.where("false")
    else:
        records = t.customer_slice(bronze, ids, t.landed_on(list(plan.days)))
    checked = t.validate_customer_records(records).cache()
    try:
        counts = rule_counts(checked)
        history = t.customer_history(t.mark_unchanged(passed(checked))).cache()
        quarantine = quarantine_rows(checked, ["customer_id"], ["_landed_date", "_source_file"])
        rebuilt = len(plan.ids) if not plan.full else checked.select("customer_id").where(
            "customer_id IS NOT NULL AND customer_id <> ''").distinct().count()
        keys = ["customer_id", "valid_from"]
        # Current versions apart from closed ones: a day's changes rewrite the current files
        # and add closed versions, never rewrite the years of closed history.
        layout = {"partition_by": ["is_current"]}
        before, q_before = delta.version("silver/customers"), delta.version("silver/quarantine_customers")
        commit = q_commit = None
        with tagged_commits(delta.session, CUSTOMERS_STEP, plan.tag):
            if plan.full:
                commit = delta.merge(history, "silver/customers", keys, change_column="_row_hash",
                                     delete_missing_where="true", **layout)
                q_commit = delta.overwrite(quarantine, "silver/quarantine_customers")
            elif not plan.nothing_changed:
                if plan.ids:  # replaces exactly these customers' versions
                    commit = delta.merge(history, "silver/customers", keys, change_column="_row_hash",
                                         delete_missing_among=ids, **layout)
                # Written last: its tag is what the next run starts from.
                q_commit = delta.replace_where(quarantine, "silver/quarantine_customers",
                                               t.customer_quarantine_slice(list(plan.ids), list(plan.days)))
                if delta.version("silver/quarantine_customers") == q_before:
                    # Delta commits no write that changes nothing; the tag still needs a commit.
                    record_tag(delta, "silver/quarantine_customers", plan.tag)
        commit = commit_or_nothing(delta, "silver/customers", before, commit)
        q_commit = commit_or_nothing(delta, "silver/quarantine_customers", q_before, q_commit)
        # The rebuilt customers' whole histories are what this run wrote: checked here; the
        # reconciliation with bronze covers every customer, so it reads the tables.
        checks = [*evaluate(CUSTOMERS_CHECKS, Tables(delta), {
            "matches_contract": lambda: pandera_check(models.SilverCustomer, history, keys),
            "primary_key_unique": lambda: unique_key_check(history, keys),
            "customer_history_is_consistent": lambda: _history_is_consistent(history),
        }), *evaluate(QUARANTINE_CUSTOMERS_CHECKS, Tables(delta), {
            "matches_contract": lambda: pandera_check(models.QuarantineRecord, quarantine, []),
        })]
    finally:
        checked.unpersist()
    history.unpersist()
    dimension = delta.read("silver/customers")
    versions, current = dimension.count(), dimension.where("is_current").count()
    # rows_in / rows_out / rows_quarantined / quarantine_by_rule count the records this run
    # (re)processed (every record on a full rebuild), so rows_in = rows_out + rows_quarantined;
    # the tables as a whole are reconciled with bronze by customers_reconcile_with_bronze.
    summary = accounting(counts, counts.get("passed", 0))
    summary.update(
        versions=versions, current_customers=current, customers_rebuilt=rebuilt, computation=plan.computation,
        bronze_version=bronze_version, built_from_bronze_version=plan.built_from,
        landing_days_changed=MetadataValue.json(list(plan.days)) if not plan.full else None,
    )
    yield MaterializeResult(
        asset_key=SILVER_CUSTOMERS, metadata=write_metadata(commit, history.schema, versions, **summary)
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_CUSTOMERS,
        metadata=write_metadata(q_commit, quarantine.schema, delta.read("silver/quarantine_customers").count(),
                                rows_quarantined=summary["rows_quarantined"]),
    )
    yield from checks


@multi_asset(
    name="silver_products",
    specs=with_quarantine(
        SILVER_PRODUCTS,
        QUARANTINE_PRODUCTS,
        [AssetKey(["bronze", "products"])],
        "products",
        "Product catalogue, latest version of each product (type 1).",
    ),
    check_specs=check_specs([*PRODUCTS_CHECKS, *QUARANTINE_PRODUCTS_CHECKS]),
    backfill_policy=single_run,
)
@emits_lineage
def silver_products(context: AssetExecutionContext, delta: DeltaLakeResource):
    checked = t.validate_product_records(delta.read("bronze/products")).cache()
    try:
        counts = rule_counts(checked)
        current = t.current_products(passed(checked))
        commit = delta.merge(
            current, "silver/products", ["product_id"], change_column="_row_hash", delete_missing_where="true"
        )
        quarantine = quarantine_rows(checked, ["product_id"], ["_landed_date", "_source_file"])
        q_commit = delta.overwrite(quarantine, "silver/quarantine_products")
        checks = [*evaluate(PRODUCTS_CHECKS, Tables(delta), {
            "matches_contract": lambda: pandera_check(models.SilverProduct, current, ["product_id"]),
            "primary_key_unique": lambda: unique_key_check(current, ["product_id"]),
        }), *evaluate(QUARANTINE_PRODUCTS_CHECKS, Tables(delta), {
            "matches_contract": lambda: pandera_check(models.QuarantineRecord, quarantine, []),
        })]
    finally:
        checked.unpersist()
    summary = accounting(counts, counts.get("passed", 0))
    products = delta.read("silver/products").count()
    yield MaterializeResult(
        asset_key=SILVER_PRODUCTS, metadata=write_metadata(commit, current.schema, products, **summary)
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_PRODUCTS,
        metadata=write_metadata(q_commit, quarantine.schema, summary["rows_quarantined"]),
    )
    yield from checks


silver_assets = [silver_orders, silver_customers, silver_products]
silver_checks = [*ORDERS_CHECKS, *QUARANTINE_ORDERS_CHECKS, *CUSTOMERS_CHECKS, *QUARANTINE_CUSTOMERS_CHECKS,
                 *PRODUCTS_CHECKS, *QUARANTINE_PRODUCTS_CHECKS]

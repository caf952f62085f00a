"""Silver: typed, validated, deduplicated and conformed records.

Each function is a pure DataFrame -> DataFrame step. Validation marks each row
with the first rule it broke (``_rule``); the assets split marked rows into the
silver table and its quarantine table, so rows in = rows out + rows quarantined.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from assets.transforms.rules import RULE, blank, contract_rules, first_failed_rule, mark_repeats, row_hash

MONEY = "decimal(12,2)"

ORDER_LINE_KEY = ["order_id", "line_no"]
ORDER_LINE_COLUMNS = [
    "order_id", "line_no", "customer_id", "order_ts", "order_date", "channel", "currency",
    "product_id", "quantity", "unit_price", "line_amount",
]
EXISTING_ORDER_KEYS_SCHEMA = "order_id string, line_no int, _landed_date date"


# -- orders ------------------------------------------------------------------
def explode_order_lines(bronze_orders: DataFrame) -> DataFrame:
    """One row per order line; an order without items keeps one row with null line fields.

    ``_raw_unit_price`` keeps the landed price before it becomes money (to tell a missing price
    from NaN, infinity or one too large); ``_repeated_line_no`` marks every line of an order
    record that uses a line number twice (the order is quarantined whole, not split).
    """
    order_ts = F.try_to_timestamp(F.col("order_ts"))
    repeated = F.coalesce(F.size(F.array_distinct("items.line_no")) < F.size("items"), F.lit(False))
    return bronze_orders.select("*", repeated.alias("_repeated_line_no"),
                                F.explode_outer("items").alias("item")).select(
        "order_id",
        F.col("item.line_no").alias("line_no"),
        "customer_id",
        order_ts.alias("order_ts"),
        F.to_date(order_ts).alias("order_date"),
        "channel",
        "currency",
        F.col("item.product_id").alias("product_id"),
        F.col("item.quantity").alias("quantity"),
        F.col("item.unit_price").try_cast(MONEY).alias("unit_price"),
        (F.col("item.quantity") * F.col("item.unit_price").try_cast(MONEY)).try_cast(MONEY).alias("line_amount"),
        "_source_file",
        "_landed_date",
        "_ingested_at",
        F.col("item.unit_price").alias("_raw_unit_price"),
        "_repeated_line_no",
    )


def validate_order_lines(
    lines: DataFrame,
    contract: type,
    known_customer_ids: DataFrame,
    known_product_ids: DataFrame,
    existing_keys: DataFrame,
) -> DataFrame:
    """Mark each order line with the first rule it breaks (``_rule``), or null: the line rules
    and the row rules of the table's pandera ``contract``.

    A line is a duplicate when the same (order_id, line_no) passed every other
    rule in an earlier-landed copy: earlier in this batch, or already in
    silver from an earlier landing day. The earliest landing wins.
    """
    customers = known_customer_ids.select("customer_id", F.lit(True).alias("_customer_known")).distinct()
    products = known_product_ids.select("product_id", F.lit(True).alias("_product_known")).distinct()
    # Only the keys this batch holds matter; narrowing first keeps the join with the history
    # of keys as small as the batch (the batch's keys are broadcast when they are few).
    existing = existing_keys.join(lines.select(*ORDER_LINE_KEY).distinct(), ORDER_LINE_KEY, "left_semi").select(
        *ORDER_LINE_KEY, F.col("_landed_date").alias("_existing_landed_date")
    )
    checked = (
        lines.join(customers, "customer_id", "left")
        .join(products, "product_id", "left")
        .withColumn(
            RULE,
            first_failed_rule(
                [
                    ("missing_order_id", blank("order_id")),
                    ("invalid_order_ts", F.col("order_ts").isNull()),
                    ("missing_customer_id", blank("customer_id")),
                    ("no_line_items", F.col("line_no").isNull()),
                    ("repeated_line_no", F.col("_repeated_line_no")),
                    ("missing_product_id", blank("product_id")),
                    ("non_positive_quantity", F.col("quantity").isNull() | (F.col("quantity") <= 0)),
                    ("missing_unit_price", F.col("_raw_unit_price").isNull()),
                    ("invalid_unit_price", F.isnan("_raw_unit_price")
                     | F.col("_raw_unit_price").isin(float("inf"), float("-inf"))),
                    ("negative_unit_price", F.col("_raw_unit_price") < 0),
                    ("unit_price_out_of_range", F.col("unit_price").isNull()),  # too large for money
                    ("line_amount_out_of_range", F.col("line_amount").isNull()),  # quantity x price overflows
                    ("unknown_customer", F.col("_customer_known").isNull()),
                    ("unknown_product", F.col("_product_known").isNull()),
                    # the table's contract, so a row that passes is a row the contract accepts
                    *contract_rules(contract, lines.columns),
                ]
            ),
        )
        .join(existing, ORDER_LINE_KEY, "left")
    )
    # One shuffle by order id serves both windows below (each partitions by order_id and more):
    # without it Spark shuffles once per window.
    checked = checked.repartition("order_id")
    # An order is accepted or quarantined whole: a bad line taints its siblings
    # (within the same landed copy), so silver never holds a partial order.
    same_copy = Window.partitionBy("order_id", "_source_file")
    tainted = F.col(RULE).isNull() & F.col("order_id").isNotNull() & (F.count(RULE).over(same_copy) > 0)
    checked = checked.withColumn(RULE, F.when(tainted, F.lit("order_has_invalid_line")).otherwise(F.col(RULE)))
    first_copy = Window.partitionBy(*ORDER_LINE_KEY, F.col(RULE).isNull()).orderBy(
        "_landed_date", "_source_file", "_ingested_at"
    )
    is_duplicate = F.col(RULE).isNull() & (
        (F.row_number().over(first_copy) > 1)
        | F.coalesce(F.col("_existing_landed_date") < F.col("_landed_date"), F.lit(False))
    )
    return checked.withColumn(RULE, F.when(is_duplicate, F.lit("duplicate_order_line")).otherwise(F.col(RULE))).select(
        *lines.columns, RULE
    )


def conform_order_lines(valid_lines: DataFrame) -> DataFrame:
    """Valid lines in silver's column order, with a content hash for MERGE."""
    columns = [*ORDER_LINE_COLUMNS, "_landed_date", "_source_file"]
    return valid_lines.select(*columns, "_ingested_at").withColumn("_row_hash", row_hash(columns))


# -- customers ---------------------------------------------------------------
CUSTOMER_ATTRIBUTES = ["name", "email", "address", "city", "signup_date"]


def validate_customer_records(bronze_customers: DataFrame, contract: type) -> DataFrame:
    """Typed customer records marked with the first rule they break (the contract's row rules last)."""
    typed = bronze_customers.select(
        F.trim("customer_id").alias("customer_id"),
        "name",
        F.lower(F.trim("email")).alias("email"),
        "address",
        "city",
        F.col("signup_date").try_cast("date").alias("signup_date"),
        F.try_to_timestamp(F.col("updated_at")).alias("updated_at"),
        "_source_file",
        "_landed_date",
        "_ingested_at",
    )
    checked = typed.withColumn(
        RULE,
        first_failed_rule(
            [
                ("missing_customer_id", blank("customer_id")),
                ("missing_email", blank("email")),
                ("invalid_email", ~F.col("email").rlike(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")),
                ("invalid_signup_date", F.col("signup_date").isNull()),
                ("invalid_updated_at", F.col("updated_at").isNull()),
                ("signup_after_update", F.col("signup_date") > F.to_date("updated_at")),
                *contract_rules(contract, typed.columns),
            ]
        ),
    )
    return mark_repeats(checked, ["customer_id", "updated_at"], ["_landed_date", "_source_file"], "duplicate_record")


def mark_unchanged(valid_records: DataFrame) -> DataFrame:
    """Flag records that repeat the customer's previous attributes (``_unchanged``).

    They are accounted for but start no new version.
    """
    ordered = Window.partitionBy("customer_id").orderBy("updated_at")
    attributes = row_hash(CUSTOMER_ATTRIBUTES)
    return valid_records.withColumn("_attributes", attributes).withColumn(
        "_unchanged", F.coalesce(F.lag("_attributes").over(ordered) == F.col("_attributes"), F.lit(False))
    )


def customer_history(versions: DataFrame) -> DataFrame:
    """SCD type 2: one row per version, valid from its update until the next one.

    Rebuilt from every record ever landed, ordered by ``updated_at`` rather
    than by arrival, so a late record lands in its right place in history.
    ``_source_records`` counts the records folded into a version (the change
    itself plus later records that repeated it), which keeps every landed
    record accounted for.
    """
    by_time = Window.partitionBy("customer_id").orderBy("updated_at")
    numbered = versions.withColumn(
        "_version",
        F.sum(F.when(F.col("_unchanged"), 0).otherwise(1)).over(
            by_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        ),
    )
    records = numbered.groupBy("customer_id", "_version").agg(F.count("*").alias("_source_records"))
    ordered = Window.partitionBy("customer_id").orderBy("valid_from")
    history = (
        numbered.where(~F.col("_unchanged"))
        .join(records, ["customer_id", "_version"])
        .select(
            "customer_id", *CUSTOMER_ATTRIBUTES, F.col("updated_at").alias("valid_from"),
            "_landed_date", "_source_records",
        )
        .withColumn("valid_to", F.lead("valid_from").over(ordered))
        .withColumn("is_current", F.col("valid_to").isNull())
    )
    columns = [
        "customer_id", *CUSTOMER_ATTRIBUTES, "valid_from", "valid_to", "is_current", "_landed_date", "_source_records",
    ]
    return history.select(*columns).withColumn("_row_hash", row_hash(columns))


# An incremental rebuild (assets/silver/customers.py) recomputes only the customers whose bronze records
# changed. Everything above is per customer (the windows, the duplicate rule, the history), so
# rebuilding a customer from all of their records gives exactly the rows a full rebuild gives for
# them; records without a customer id only ever break ``missing_customer_id``, a rule of the
# record alone, so they are rebuilt per landing day.
def customer_ids(bronze_customers: DataFrame) -> DataFrame:
    """Distinct customer ids of bronze records as validation keys them (trimmed), blank ids left out."""
    trimmed = F.trim("customer_id")
    return bronze_customers.select(trimmed.alias("customer_id")).where(~blank("customer_id")).distinct()


def customer_slice(bronze_customers: DataFrame, ids: DataFrame, without_id_where: str) -> DataFrame:
    """The bronze records a rebuild of ``ids`` reads: every record of those customers (any
    landing day), plus the records without a customer id matching ``without_id_where`` (the
    changed landing days)."""
    keyed = bronze_customers.withColumn("_customer_key", F.trim("customer_id"))
    of_customers = keyed.join(
        ids.select(F.col("customer_id").alias("_customer_key")).distinct(), "_customer_key", "left_semi"
    ).drop("_customer_key")
    without_id = bronze_customers.where(blank("customer_id")).where(without_id_where)
    return of_customers.unionByName(without_id)


def sql_string(value: str) -> str:
    """``value`` as a Spark SQL string literal (backslash escapes are on by default)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def landed_on(days: list[str], column: str = "_landed_date") -> str:
    """SQL predicate: ``column`` is one of the ISO ``days`` (false for none)."""
    return f"{column} IN ({', '.join(f'DATE{sql_string(d)}' for d in days)})" if days else "false"


def customer_quarantine_slice(ids: list[str], days: list[str]) -> str:
    """SQL predicate on silver/quarantine_customers for what ``customer_slice`` rebuilds: the rows
    of the (trimmed) ``ids`` and the rows without a customer id that landed on ``days``."""
    of_customers = f"customer_id IN ({', '.join(sql_string(i) for i in ids)})" if ids else "false"
    without_id = f"((customer_id IS NULL OR trim(customer_id) = '') AND {landed_on(days)})"
    return f"{of_customers} OR {without_id}"


# -- products ----------------------------------------------------------------
def validate_product_records(bronze_products: DataFrame, contract: type) -> DataFrame:
    """Typed product records marked with the first rule they break (the contract's row rules last)."""
    typed = bronze_products.select(
        F.trim("product_id").alias("product_id"),
        "name",
        F.lower(F.trim("category")).alias("category"),
        F.col("unit_price").try_cast(MONEY).alias("unit_price"),
        "_source_file",
        "_landed_date",
        "_ingested_at",
    )
    checked = typed.withColumn(
        RULE,
        first_failed_rule(
            [
                ("missing_product_id", blank("product_id")),
                ("missing_category", blank("category")),
                ("invalid_unit_price", F.col("unit_price").isNull() | (F.col("unit_price") < 0)),
                *contract_rules(contract, typed.columns),
            ]
        ),
    )
    return mark_repeats(checked, ["product_id", "_landed_date"], ["_source_file"], "duplicate_record")


def current_products(valid_records: DataFrame) -> DataFrame:
    """The latest landed version of each product (type 1: history is not kept).

    ``_source_records`` counts the valid records behind the row (the latest
    and the ones it superseded).
    """
    latest = Window.partitionBy("product_id").orderBy(F.col("_landed_date").desc(), F.col("_source_file").desc())
    every = Window.partitionBy("product_id")
    columns = ["product_id", "name", "category", "unit_price", "_landed_date", "_source_records"]
    return (
        valid_records.withColumn("_rank", F.row_number().over(latest))
        .withColumn("_source_records", F.count("*").over(every))
        .where(F.col("_rank") == 1)
        .select(*columns)
        .withColumn("_row_hash", row_hash(columns))
    )

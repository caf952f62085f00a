"""The lakehouse pipeline as one plain PySpark script: the baseline without Dagster and checks.

``python -m bench.plain_spark --landing L --tables T --start 2026-01-01 --end 2026-01-30``, or
``--day 2026-01-31`` for one new landing day on top of the tables already in T (the year
scenario's daily runs).

It reuses the platform's pure transformations (``assets/transforms/``), so the parsing,
validation, deduplication, conforming, gold and feature logic is the same code, and writes the
same Delta tables with the same partitioning (bronze, silver orders and its quarantine by landing
day, gold and features by order or as-of day) and the same kinds of write (``replaceWhere`` on
the range's day partitions; into silver orders, once it exists, a MERGE by key whose target is
limited to the landing days from the range's first on, as the platform's), in one SparkSession
configured like the platform's ``local`` environment (``local[*]``, 8 shuffle partitions, 4 GB
driver, AQE). The silver dimensions are rebuilt from all of bronze on every run (the platform
rebuilds them too, and MERGEs the result). Lifetime value and the features of a new day are
carried forward from the day before when the table has it (``carry_forward_lifetime_value``,
``carry_forward_customer_features``, reading only the order lines that change them), else
computed from every order (a range from empty).

What it leaves out, because it is the platform's bookkeeping rather than the data's path: the
ingestion log and whole-file screening (the generator writes no bad files), row counts and
metadata for the UI, OpenLineage events and their data-quality profile pass, asset checks, and
the delta-rs report (a few KB). Like an idiomatic script, it caches a frame that feeds two writes.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path


from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

# The tables' contracts (the row rules validation derives from them) sit in the platform's table
# modules, which import Dagster's names: the only Dagster code this process runs is that import.
from assets.silver.customers import SilverCustomer
from assets.silver.orders import SilverOrderLine
from assets.silver.products import SilverProduct
from assets.transforms import bronze as tb
from assets.transforms import features as tf
from assets.transforms import gold as tg
from assets.transforms import silver as ts
from assets.transforms.rules import passed, quarantine_rows
from bench.local_spark import session as local_session


def session() -> SparkSession:
    return local_session("plain-spark-baseline")


def between(column: str, start: date, end: date) -> str:
    return f"{column} >= DATE'{start.isoformat()}' AND {column} <= DATE'{end.isoformat()}'"


class Tables:
    def __init__(self, spark: SparkSession, root: str):
        self.spark, self.root = spark, root.rstrip("/")

    def uri(self, table: str) -> str:
        return f"{self.root}/{table}"

    def exists(self, table: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.uri(table))

    def read(self, table: str, where: str | None = None) -> DataFrame:
        df = self.spark.read.format("delta").load(self.uri(table))
        return df.where(where) if where else df

    def replace(self, df: DataFrame, table: str, predicate: str, partition_by: tuple[str, ...] = ()) -> None:
        writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        if partition_by and not self.exists(table):
            writer = writer.partitionBy(*partition_by)
        writer.save(self.uri(table))

    def overwrite(self, df: DataFrame, table: str) -> None:
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(self.uri(table))


def day_dirs(landing: str, source: str, start: date, end: date) -> list[str]:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return [str(p) for d in days if (p := Path(landing) / source / f"date={d.isoformat()}").is_dir()]


def bronze(spark: SparkSession, tables: Tables, landing: str, start: date, end: date, run_id: str) -> None:
    slice_ = between("_landed_date", start, end)
    orders = tb.parse_order_lines(tb.raw_lines(spark.read.text(day_dirs(landing, "orders", start, end))), run_id)
    csv = {
        "customers": tb.CUSTOMER_COLUMNS,
        "products": tb.PRODUCT_COLUMNS,
    }
    sources = {"orders": (orders, "malformed JSON or not an order record")}
    for name, columns in csv.items():
        schema = ", ".join(f"{c} string" for c in columns) + f", {tb.CORRUPT} string"
        parsed = (
            spark.read.schema(schema).option("header", True).option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", tb.CORRUPT)
            .csv(day_dirs(landing, name, start, end))
            .select("*", tb.source_file(F.col("_metadata.file_path")).alias("_source_file"))
        )
        sources[name] = (tb.csv_records(parsed, run_id),
                         "malformed CSV row (wrong number of fields or broken quoting)")
    for name, (records, reason) in sources.items():
        records = records.cache()  # read and parsed once, written twice
        tables.replace(tb.accepted(records), f"bronze/{name}", slice_, ("_landed_date",))
        tables.replace(tb.rejected(records, name, reason), f"bronze/rejected_{name}", slice_, ("_landed_date",))
        records.unpersist()


def silver(tables: Tables, start: date, end: date, run_id: str) -> None:
    # Dimensions first: order validation looks customers and products up in them.
    checked = ts.validate_product_records(tables.read("bronze/products"), SilverProduct).cache()
    tables.overwrite(ts.current_products(passed(checked)), "silver/products")
    tables.overwrite(quarantine_rows(checked, ["product_id"], ["_landed_date", "_source_file"]),
                     "silver/quarantine_products")
    checked.unpersist()

    checked = ts.validate_customer_records(tables.read("bronze/customers"), SilverCustomer).cache()
    tables.overwrite(ts.customer_history(ts.mark_unchanged(passed(checked))), "silver/customers")
    tables.overwrite(quarantine_rows(checked, ["customer_id"], ["_landed_date", "_source_file"]),
                     "silver/quarantine_customers")
    checked.unpersist()

    slice_ = between("_landed_date", start, end)
    silver_exists = tables.exists("silver/orders")
    existing = (tables.read("silver/orders").select(*ts.ORDER_LINE_KEY, "_landed_date") if silver_exists
                else tables.spark.createDataFrame([], ts.EXISTING_ORDER_KEYS_SCHEMA))
    checked = ts.validate_order_lines(
        ts.explode_order_lines(tables.read("bronze/orders", slice_)),
        SilverOrderLine,
        known_customer_ids=tables.read("silver/customers").select("customer_id"),
        known_product_ids=tables.read("silver/products").select("product_id"),
        existing_keys=existing,
    ).cache()
    valid = ts.conform_order_lines(passed(checked))
    if silver_exists:
        # A valid line never matches a copy landed before its own day (that makes it a duplicate),
        # so the target is limited to the landing days from `start` on: the MERGE reads and
        # rewrites only those partitions. No WHEN NOT MATCHED BY SOURCE clause: Delta scans and
        # rewrites the whole target with it (delta-io/delta#7362), and a new day has nothing to
        # delete (re-running a day that lost lines would keep them; the platform handles that).
        (DeltaTable.forPath(tables.spark, tables.uri("silver/orders")).alias("t")
         .merge(valid.alias("s"), "t.order_id = s.order_id AND t.line_no = s.line_no "
                                  f"AND t._landed_date >= DATE'{start.isoformat()}'")
         .whenMatchedUpdateAll(condition="t._row_hash <> s._row_hash").whenNotMatchedInsertAll().execute())
    else:
        valid.write.format("delta").mode("overwrite").partitionBy("_landed_date").save(tables.uri("silver/orders"))
    quarantine = quarantine_rows(
        checked, ["order_id", "line_no", "customer_id", "product_id"], ["_landed_date", "_source_file"]
    ).withColumn("_run_id", F.lit(run_id))
    tables.replace(quarantine, "silver/quarantine_orders", slice_, ("_landed_date",))
    checked.unpersist()


def previous_day(tables: Tables, table: str, start: date) -> DataFrame | None:
    """The rows of the day before ``start`` of a table partitioned by ``as_of_date``, if it has them."""
    if not tables.exists(table):
        return None
    day = (start - timedelta(days=1)).isoformat()
    previous = tables.read(table, f"as_of_date = DATE'{day}'")
    return previous if previous.limit(1).count() else None


def lifetime_value(tables: Tables, start: date, end: date) -> DataFrame:
    """From the day before ``start`` when it is there (the platform's carry-forward, for a new day
    on top of a history), else from every order (the definition, for a range from empty)."""
    previous = previous_day(tables, "gold/customer_lifetime_value", start)
    if previous is None or not hasattr(tg, "carry_forward_lifetime_value"):
        return tg.customer_lifetime_value(tables.read("silver/orders", f"order_date <= DATE'{end.isoformat()}'"),
                                          start, end)
    # The lines the day before does not count: placed in the range, or placed earlier and landed
    # in it (late orders). The previous day's values saw every line landed before `start`.
    new_lines = tables.read("silver/orders", f"({between('order_date', start, end)}) OR "
                                             f"({between('_landed_date', start, end)} AND order_date < DATE'{start.isoformat()}')")
    return tg.carry_forward_lifetime_value(previous, new_lines, start, end)


def features_of(tables: Tables, start: date, end: date) -> DataFrame:
    """Like ``lifetime_value``: carried from the day before ``start`` when it is there."""
    known_by_end = f"order_date <= DATE'{end.isoformat()}' AND _landed_date <= DATE'{end.isoformat()}'"
    history = tables.read("silver/customers")
    previous = previous_day(tables, "features/customer_features", start)
    if previous is None or not hasattr(tf, "carry_forward_customer_features"):
        return tf.customer_features(tables.read("silver/orders", known_by_end), history, start, end)
    newcomers = tf.newcomers(previous, history, start, end)
    slices = " OR ".join(f"({s})" for s in tf.carry_forward_slices(start, end))
    carried_lines = tables.read("silver/orders", slices).join(newcomers, "customer_id", "left_anti")
    newcomer_lines = tables.read("silver/orders", known_by_end).join(newcomers, "customer_id", "left_semi")
    return tf.carry_forward_customer_features(previous, carried_lines.unionByName(newcomer_lines), history, start, end)


def gold_and_features(tables: Tables, start: date, end: date) -> None:
    sales = tg.daily_sales(tables.read("silver/orders", between("order_date", start, end)),
                           tables.read("silver/products"))
    tables.replace(sales, "gold/daily_sales", between("order_date", start, end), ("order_date",))
    tables.replace(lifetime_value(tables, start, end), "gold/customer_lifetime_value",
                   between("as_of_date", start, end), ("as_of_date",))
    tables.replace(features_of(tables, start, end), "features/customer_features", between("as_of_date", start, end),
                   ("as_of_date",))


def run(landing: str, table_root: str, start: date, end: date) -> float:
    started = time.monotonic()
    spark = session()
    tables = Tables(spark, table_root)
    run_id = str(uuid.uuid4())
    bronze(spark, tables, landing, start, end, run_id)
    silver(tables, start, end, run_id)
    gold_and_features(tables, start, end)
    spark.stop()
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plain_spark", description=__doc__.split("\n")[0])
    parser.add_argument("--landing", required=True, help="landing zone directory")
    parser.add_argument("--tables", required=True, help="Delta table root")
    parser.add_argument("--start", type=date.fromisoformat, help="first landing day of the range")
    parser.add_argument("--end", type=date.fromisoformat, help="last landing day of the range")
    parser.add_argument("--day", type=date.fromisoformat,
                        help="one landing day on top of the existing tables (instead of --start/--end)")
    args = parser.parse_args(argv)
    if args.day:
        args.start = args.end = args.day
    if not (args.start and args.end):
        parser.error("give --start and --end, or --day")
    seconds = run(str(Path(args.landing).resolve()), str(Path(args.tables).resolve()), args.start, args.end)
    sys.stdout.write(f"plain spark pipeline: {seconds:.2f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

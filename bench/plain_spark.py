"""The lakehouse pipeline as one plain PySpark script: the baseline without Dagster and checks.

``python -m bench.plain_spark --landing L --tables T --start 2026-01-01 --end 2026-01-30``

It reuses the platform's pure transformations (``assets/transforms/``), so the parsing,
validation, deduplication, conforming, gold and feature logic is the same code, and writes the
same Delta tables with the same partitioning and the same kinds of write (``replaceWhere`` on
the range, MERGE into silver orders when it already exists), in one SparkSession configured like
the platform's ``local`` environment (``local[*]``, 8 shuffle partitions, 4 GB driver, AQE).

What it leaves out, because it is the platform's bookkeeping rather than the data's path: the
ingestion log and whole-file screening (the generator writes no bad files), row counts and
metadata for the UI, OpenLineage events and their data-quality profile pass, asset checks, and
the delta-rs report (a few KB). Like an idiomatic script, it caches a frame that feeds two writes.
"""

from __future__ import annotations

import argparse
import sys
import time
import types
import uuid
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# assets/__init__.py imports dagster (to silence its warnings); the transforms themselves are
# plain PySpark. Registering the package without running its __init__ keeps Dagster out of this
# process, as the baseline promises.
if "assets" not in sys.modules:
    _assets = types.ModuleType("assets")
    _assets.__path__ = [str(REPO_ROOT / "assets")]
    sys.modules["assets"] = _assets

from delta.tables import DeltaTable  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from assets.transforms import bronze as tb  # noqa: E402
from assets.transforms import features as tf  # noqa: E402
from assets.transforms import gold as tg  # noqa: E402
from assets.transforms import silver as ts  # noqa: E402
from assets.transforms.rules import passed, quarantine_rows  # noqa: E402
from resources.jars import jar_paths  # noqa: E402

# The platform's local environment (resources/spark.py BASE_CONF + platform/definitions.py "local").
SPARK_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.optimizeWrite.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "4g",
}


def session() -> SparkSession:
    builder = SparkSession.builder.appName("plain-spark-baseline").master("local[*]")
    for key, value in {**SPARK_CONF, "spark.jars": ",".join(jar_paths())}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


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
    checked = ts.validate_product_records(tables.read("bronze/products")).cache()
    tables.overwrite(ts.current_products(passed(checked)), "silver/products")
    tables.overwrite(quarantine_rows(checked, ["product_id"], ["_landed_date", "_source_file"]),
                     "silver/quarantine_products")
    checked.unpersist()

    checked = ts.validate_customer_records(tables.read("bronze/customers")).cache()
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
        known_customer_ids=tables.read("silver/customers").select("customer_id"),
        known_product_ids=tables.read("silver/products").select("product_id"),
        existing_keys=existing,
    ).cache()
    valid = ts.conform_order_lines(passed(checked))
    if silver_exists:
        (DeltaTable.forPath(tables.spark, tables.uri("silver/orders")).alias("t")
         .merge(valid.alias("s"), "t.order_id = s.order_id AND t.line_no = s.line_no")
         .whenMatchedUpdateAll(condition="t._row_hash <> s._row_hash").whenNotMatchedInsertAll()
         .whenNotMatchedBySourceDelete(condition=between("t._landed_date", start, end)).execute())
    else:
        valid.write.format("delta").mode("overwrite").save(tables.uri("silver/orders"))
    quarantine = quarantine_rows(
        checked, ["order_id", "line_no", "customer_id", "product_id"], ["_landed_date", "_source_file"]
    ).withColumn("_run_id", F.lit(run_id))
    tables.replace(quarantine, "silver/quarantine_orders", slice_)
    checked.unpersist()


def gold_and_features(tables: Tables, start: date, end: date) -> None:
    spark = tables.spark
    sales = tg.daily_sales(tables.read("silver/orders", between("order_date", start, end)),
                           tables.read("silver/products"))
    tables.replace(sales, "gold/daily_sales", between("order_date", start, end), ("order_date",))
    clv = tg.customer_lifetime_value(tables.read("silver/orders", f"order_date <= DATE'{end.isoformat()}'"), start, end)
    tables.replace(clv, "gold/customer_lifetime_value", between("as_of_date", start, end), ("as_of_date",))
    known_by_end = f"order_date <= DATE'{end.isoformat()}' AND _landed_date <= DATE'{end.isoformat()}'"
    features = tf.customer_features(tables.read("silver/orders", known_by_end), tables.read("silver/customers"),
                                  start, end)
    tables.replace(features, "features/customer_features", between("as_of_date", start, end), ("as_of_date",))


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
    parser.add_argument("--start", required=True, type=date.fromisoformat)
    parser.add_argument("--end", required=True, type=date.fromisoformat)
    args = parser.parse_args(argv)
    seconds = run(str(Path(args.landing).resolve()), str(Path(args.tables).resolve()), args.start, args.end)
    sys.stdout.write(f"plain spark pipeline: {seconds:.2f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bronze: every landed file's records as they came, plus where and when.

One table per source (orders as JSON lines, customers and products as CSV) and
one reject table per source for lines that do not parse. Partitioned by the
day a file landed; re-materializing a day replaces that day's rows.
"""


from dataclasses import dataclass
from typing import Callable

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    asset_check,
    multi_asset,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from assets.metadata import write_metadata
from assets.partitions import between, daily_partitions, partition_dates, single_run
from assets.quality.results import check_result
from assets.transforms import bronze as t
from resources.delta import DeltaLakeResource
from resources.landing import LandingZoneResource

GROUP = "bronze"
INGESTION_FIELDS = [
    T.StructField("_source_file", T.StringType()),
    T.StructField("_landed_date", T.DateType()),
    T.StructField("_ingested_at", T.TimestampType()),
    T.StructField("_run_id", T.StringType()),
]


@dataclass(frozen=True)
class LandedSource:
    name: str
    suffix: str
    header_lines: int  # per file, not records
    fields: list[T.StructField]
    parse: Callable[[SparkSession, list[str], str], DataFrame]
    reject_reason: str
    description: str

    @property
    def table(self) -> str:
        return f"bronze/{self.name}"

    @property
    def rejects_table(self) -> str:
        return f"bronze/rejected_{self.name}"

    def records_schema(self) -> T.StructType:
        return T.StructType([*self.fields, T.StructField(t.CORRUPT, T.StringType()), *INGESTION_FIELDS])


def _parse_json_lines(spark: SparkSession, paths: list[str], run_id: str) -> DataFrame:
    raw = spark.read.text(paths).select("value", F.col("_metadata.file_path").alias("_source_file"))
    return t.parse_order_lines(raw, run_id)


def _csv_parser(columns: list[str]) -> Callable[[SparkSession, list[str], str], DataFrame]:
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns] + [T.StructField(t.CORRUPT, T.StringType())])

    def parse(spark: SparkSession, paths: list[str], run_id: str) -> DataFrame:
        parsed = (
            spark.read.schema(schema)
            .option("header", True)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", t.CORRUPT)
            .csv(paths)
            .select("*", F.col("_metadata.file_path").alias("_source_file"))
        )
        return t.csv_records(parsed, run_id)

    return parse


SOURCES = [
    LandedSource(
        name="orders",
        suffix=".jsonl",
        header_lines=0,
        fields=list(t.ORDER_SCHEMA.fields),
        parse=_parse_json_lines,
        reject_reason="malformed JSON or not an order record",
        description="Orders as landed (JSON lines, line items nested), one row per parseable line.",
    ),
    LandedSource(
        name="customers",
        suffix=".csv",
        header_lines=1,
        fields=[T.StructField(c, T.StringType()) for c in t.CUSTOMER_COLUMNS],
        parse=_csv_parser(t.CUSTOMER_COLUMNS),
        reject_reason="malformed CSV row (wrong number of fields or broken quoting)",
        description="Customer records as landed (CSV, all text), including every change over time.",
    ),
    LandedSource(
        name="products",
        suffix=".csv",
        header_lines=1,
        fields=[T.StructField(c, T.StringType()) for c in t.PRODUCT_COLUMNS],
        parse=_csv_parser(t.PRODUCT_COLUMNS),
        reject_reason="malformed CSV row (wrong number of fields or broken quoting)",
        description="Product catalogue records as landed (CSV, all text).",
    ),
]


def _bronze_asset(source: LandedSource):
    table_key = AssetKey(["bronze", source.name])
    rejects_key = AssetKey(["bronze", f"rejected_{source.name}"])

    @multi_asset(
        name=f"bronze_{source.name}",
        specs=[
            AssetSpec(table_key, group_name=GROUP, description=source.description, kinds={"spark", "delta"}),
            AssetSpec(
                rejects_key,
                group_name=GROUP,
                description=f"Landed {source.name} lines that could not be parsed: raw text and reason.",
                kinds={"spark", "delta"},
            ),
        ],
        partitions_def=daily_partitions,
        backfill_policy=single_run,
    )
    def ingest(context: AssetExecutionContext, delta: DeltaLakeResource, landing: LandingZoneResource):
        start, end = partition_dates(context)
        spark = delta.session
        files = landing.list_files(source.name, start, end, source.suffix)
        context.log.info(f"{source.name}: {len(files)} landed file(s) for {start}..{end}")
        if files:
            records = source.parse(spark, [f.path for f in files], context.run_id)
        else:
            records = spark.createDataFrame([], source.records_schema())
        records = records.cache()
        try:
            slice_ = between("_landed_date", start, end)
            commit = delta.replace_where(t.accepted(records), source.table, slice_, partition_by=["_landed_date"])
            reject_commit = delta.replace_where(
                t.rejected(records, source.name, source.reject_reason), source.rejects_table, slice_,
                partition_by=["_landed_date"],
            )
        finally:
            records.unpersist()
        accepted_rows = commit.metrics.get("rows_written", 0)
        rejected_rows = reject_commit.metrics.get("rows_written", 0)
        if rejected_rows:
            context.log.warning(f"{source.name}: {rejected_rows} line(s) rejected into {source.rejects_table}")
        yield MaterializeResult(
            asset_key=table_key,
            metadata=write_metadata(
                commit, t.accepted(records).schema, accepted_rows,
                files=len(files), bytes_landed=sum(f.size for f in files), rows_rejected=rejected_rows,
            ),
        )
        yield MaterializeResult(
            asset_key=rejects_key,
            metadata=write_metadata(reject_commit, t.rejected(records, "", "").schema, rejected_rows),
        )

    @asset_check(
        asset=table_key,
        name="landed_lines_accounted",
        blocking=True,
        partitions_def=daily_partitions,
        description="Every landed line is in bronze or in the reject table: landed = bronze + rejected.",
    )
    def landed_lines_accounted(
        context: AssetCheckExecutionContext, delta: DeltaLakeResource, landing: LandingZoneResource
    ) -> AssetCheckResult:
        start, end = partition_dates(context)
        files = landing.list_files(source.name, start, end, source.suffix)
        landed = 0
        if files:
            text = delta.session.read.text([f.path for f in files])
            landed = text.where(F.trim("value") != "").count() - source.header_lines * len(files)
        slice_ = between("_landed_date", start, end)
        in_bronze = delta.read(source.table, slice_).count()
        rejected = delta.read(source.rejects_table, slice_).count()
        return check_result(
            landed == in_bronze + rejected,
            failed_rule="landed == bronze + rejected",
            failure_count=abs(landed - in_bronze - rejected),
            landed_lines=landed,
            bronze_rows=in_bronze,
            rejected_rows=rejected,
        )

    return ingest, landed_lines_accounted


_built = [_bronze_asset(source) for source in SOURCES]
bronze_orders, bronze_orders_accounted = _built[0]
bronze_customers, bronze_customers_accounted = _built[1]
bronze_products, bronze_products_accounted = _built[2]

bronze_assets = [asset for asset, _ in _built]
bronze_checks = [check for _, check in _built]

"""Bronze: landed text parsed as it is, with where and when it came from.

Nothing is dropped here. A line that does not parse becomes a reject row that
keeps its raw text and the reason, so bronze rows + rejects = landed lines.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

CORRUPT = "_corrupt_record"
# The schema a JSON line was observed to have (``schema_of_variant``), kept beside the parsed
# record so the file's schema comes from the same pass over the text; never written to bronze.
OBSERVED_SCHEMA = "_observed_schema"

ORDER_SCHEMA = T.StructType(
    [
        T.StructField("order_id", T.StringType()),
        T.StructField("customer_id", T.StringType()),
        T.StructField("order_ts", T.StringType()),
        T.StructField("channel", T.StringType()),
        T.StructField("currency", T.StringType()),
        T.StructField(
            "items",
            T.ArrayType(
                T.StructType(
                    [
                        T.StructField("line_no", T.IntegerType()),
                        T.StructField("product_id", T.StringType()),
                        T.StructField("quantity", T.IntegerType()),
                        T.StructField("unit_price", T.DoubleType()),
                    ]
                )
            ),
        ),
    ]
)

CUSTOMER_COLUMNS = ["customer_id", "name", "email", "address", "city", "signup_date", "updated_at"]
PRODUCT_COLUMNS = ["product_id", "name", "category", "unit_price"]

REJECT_SCHEMA = (
    "source string, raw_record string, reason string, _source_file string, "
    "_landed_date date, _ingested_at timestamp, _run_id string"
)


def landed_date(path: Column) -> Column:
    """The landing day encoded in a file path (``.../date=YYYY-MM-DD/...``)."""
    return F.to_date(F.regexp_extract(path, r"date=(\d{4}-\d{2}-\d{2})", 1))


def _ingestion_columns(run_id: str) -> list[Column]:
    return [
        landed_date(F.col("_source_file")).alias("_landed_date"),
        F.current_timestamp().alias("_ingested_at"),
        F.lit(run_id).alias("_run_id"),
    ]


def is_blank(value: Column) -> Column:
    """A line with nothing but whitespace and control characters (code points up to U+0020).

    The same test Spark's CSV reader uses to skip a line (Java's ``String.trim``), so a line
    counted as landed is a line some parser saw: a tab-only line is blank, not a lost record.
    """
    return ~value.rlike(r"[^\x00-\x20]")


def _without_bom(value: Column) -> Column:
    return F.regexp_replace(value, "^\ufeff", "")


def single_json_value(text: Column) -> Column:
    """True when ``text`` is exactly one JSON value, with nothing after it.

    Spark's JSON parser stops after the first value and ignores the rest of the line, so
    ``{...}{...}`` and ``{...} xyz`` parse as their first object. Parsed as ``[text,0]``, an
    array of exactly two elements means ``text`` held one value and nothing else: a second
    value makes three elements or invalid JSON, and trailing text invalid JSON or an array
    that closes early.
    """
    wrapped = F.from_json(F.concat(F.lit("["), text, F.lit(",0]")), "array<string>")
    return F.coalesce(F.size(wrapped) == 2, F.lit(False))


def observed_schema(text: Column) -> Column:
    """The JSON schema ``text`` holds, as Spark's ``schema_of_variant`` spells it
    (``OBJECT<a: BIGINT, items: ARRAY<OBJECT<...>>>``), or null when it is not JSON.

    Unlike the bronze parser, which fits every line to the order schema, this sees every field
    a line sends, with its JSON type, at any depth. Decimal and double types become ``NUMBER``
    (their precision varies line by line and is not a schema change), so a file's lines group
    into a handful of distinct schemas. The lookahead keeps a field *named* ``DOUBLE`` as it is.
    """
    return F.regexp_replace(F.schema_of_variant(F.try_parse_json(text)),
                            r"(DECIMAL\(\d+,\d+\)|DOUBLE|FLOAT)(?=[,>]|$)", "NUMBER")


def parse_order_lines(raw_lines: DataFrame, run_id: str) -> DataFrame:
    """JSON lines (``value``, ``_source_file``) -> parsed orders plus ``_corrupt_record`` and
    ``_observed_schema``.

    ``_corrupt_record`` holds the raw text of a line that is not exactly one JSON object
    fitting the order schema; it is null for good lines. A leading byte-order mark is not
    part of the record. ``_observed_schema`` is the schema the line actually sent (null unless
    it is exactly one JSON value): schema drift is read from it in the same pass over the text.
    """
    schema = T.StructType([*ORDER_SCHEMA.fields, T.StructField(CORRUPT, T.StringType())])
    text = _without_bom(F.col("value"))
    parsed = F.from_json(text, schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}).alias("o")
    return (
        raw_lines.where(~is_blank(F.col("value")))
        .select(parsed, single_json_value(text).alias("_single"), observed_schema(text).alias("_observed"),
                "value", "_source_file")
        .select(
            *[F.col(f"o.{f.name}") for f in ORDER_SCHEMA.fields],
            # from_json nulls the whole struct for some malformed input; keep the raw text then too
            F.when(F.col("o").isNull() | F.col(f"o.{CORRUPT}").isNotNull() | ~F.col("_single"),
                   F.col("value")).alias(CORRUPT),
            F.when(F.col("_single"), F.col("_observed")).alias(OBSERVED_SCHEMA),
            "_source_file",
            *_ingestion_columns(run_id),
        )
    )


def csv_records(parsed_csv: DataFrame, run_id: str) -> DataFrame:
    """CSV rows read with a ``_corrupt_record`` column -> rows with ingestion metadata."""
    return parsed_csv.select("*", *_ingestion_columns(run_id))


def accepted(records: DataFrame) -> DataFrame:
    """The rows that parsed, without the corrupt-record and observed-schema columns."""
    return records.where(F.col(CORRUPT).isNull()).drop(CORRUPT, OBSERVED_SCHEMA)


def rejected(records: DataFrame, source: str, reason: str) -> DataFrame:
    """The rows that did not parse, as reject rows with raw text and reason."""
    return records.where(F.col(CORRUPT).isNotNull()).select(
        F.lit(source).alias("source"),
        F.col(CORRUPT).alias("raw_record"),
        F.lit(reason).alias("reason"),
        "_source_file",
        "_landed_date",
        "_ingested_at",
        "_run_id",
    )


def source_file(file_path: Column) -> Column:
    """Spark's ``_metadata.file_path`` in the landing zone's canonical spelling
    (``resources.landing.canonical_path``): a plain absolute path, or ``s3://``.

    Spark gives the path URI-encoded (a space is ``%20``, ``#`` is ``%23``); ``+`` is kept as
    it is (form decoding would turn it into a space)."""
    decoded = F.url_decode(F.replace(file_path, F.lit("+"), F.lit("%2B")))
    local = F.regexp_replace(decoded, r"^file:/+", "/")
    return F.regexp_replace(local, r"^s3a://", "s3://")


def raw_lines(text: DataFrame) -> DataFrame:
    """``spark.read.text`` output -> (``value``, ``_source_file``) in canonical spelling."""
    return text.select("value", source_file(F.col("_metadata.file_path")).alias("_source_file"))


def file_stats(lines: DataFrame) -> DataFrame:
    """Per landed file: non-blank lines and lines holding bytes that are not UTF-8.

    Spark's text source keeps a line's bytes as they are, so invalid UTF-8
    survives into the string and ``is_valid_utf8`` finds it.
    """
    return lines.groupBy("_source_file").agg(
        F.sum(F.when(~is_blank(F.col("value")), 1).otherwise(0)).cast("long").alias("lines"),
        F.sum(F.when(~F.is_valid_utf8("value"), 1).otherwise(0)).cast("long").alias("undecodable_lines"),
    )


def file_observations(records: DataFrame) -> DataFrame:
    """Per landed file and observed schema: parsed and unparseable records, in one aggregation.

    One pass over the (cached) records gives both what the ingestion log counts per file and
    which schemas each file's lines sent, with how many lines sent each. Records without an
    observed schema (CSV, or lines that are not JSON) group under a null schema.
    """
    schema = F.col(OBSERVED_SCHEMA) if OBSERVED_SCHEMA in records.columns else F.lit(None).cast("string")
    return records.groupBy("_source_file", schema.alias(OBSERVED_SCHEMA)).agg(
        F.count(F.when(F.col(CORRUPT).isNull(), 1)).alias("parsed"),
        F.count(F.when(F.col(CORRUPT).isNotNull(), 1)).alias("unparseable"),
    )


def records_per_file(records: DataFrame) -> dict[str, tuple[int, int]]:
    """``(parsed, unparseable)`` record counts per ``_source_file``, in one pass."""
    counts = records.groupBy("_source_file").agg(
        F.count(F.when(F.col(CORRUPT).isNull(), 1)).alias("parsed"),
        F.count(F.when(F.col(CORRUPT).isNotNull(), 1)).alias("unparseable"),
    )
    return {row["_source_file"]: (int(row["parsed"]), int(row["unparseable"])) for row in counts.collect()}

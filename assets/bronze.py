"""Bronze: every landed file's records as they came, plus where and when.

One table per source (orders as JSON lines, customers and products as CSV) and
one reject table per source for lines that do not parse, partitioned by the day
a file landed. A run ingests files, not days: the files the landing sensor
chose, or else every file of its day(s) that is new or changed since the
ingestion log saw it. Each file's rows are replaced by ``_source_file``, so a
file ingested twice is held once, and a changed file's old rows are replaced.
A file that cannot be ingested at all is quarantined whole with its reason in
the ingestion log (see ``assets/transforms/landed_files.py``).

Bronze also records what each file sent, field by field with JSON types, in the landing
schema history (``resources/landing_schemas.py``), from the same pass that parses the lines;
the ``no_schema_drift`` check (WARN) compares it with the fields silver reads and with the
source's history (``assets/quality/schema_drift.py``).
"""


from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Optional

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    multi_asset,
)
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from assets.lineage import emits_lineage
from assets.metadata import per_day, table_of, write_metadata
from assets.ownership import catalog
from assets.partitions import partition_dates, single_run
from assets.quality.checks import Tables, TableCheck, check_specs, evaluate
from assets.quality import schema_drift as sd
from assets.quality.models import INGESTION_COLUMNS
from assets.quality.results import reconcile_result
from assets.transforms import bronze as t
from assets.transforms import landed_files as lf
from resources.delta import DeltaLakeResource
from resources.ingestion_log import INGESTED, QUARANTINED, IngestionEntry, IngestionLogResource
from resources.landing import LandedFile, LandingZoneResource, spark_path
from resources.landing_schemas import FileFields, LandingSchemaHistory
from resources.lineage import LineageResource

DRIFT_CHECK = "no_schema_drift"
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
    parse: Callable[[SparkSession, list[str], DataFrame, str], DataFrame]
    reject_reason: str
    description: str
    columns: dict[str, str]  # what each landed column holds, for the UI
    header: Optional[list[str]] = None  # CSV sources: the header every file must start with

    @property
    def key(self) -> AssetKey:
        return AssetKey(["bronze", self.name])

    @property
    def rejects_key(self) -> AssetKey:
        return AssetKey(["bronze", f"rejected_{self.name}"])

    @property
    def step(self) -> str:
        """The step that ingests the source: what the landing sensor configures with its files."""
        return f"bronze_{self.name}"

    @property
    def table(self) -> str:
        return table_of(self.key)

    @property
    def rejects_table(self) -> str:
        return table_of(self.rejects_key)

    @property
    def expected_fields(self) -> dict[str, str]:
        """Field path -> JSON type of what silver reads from a record: the fields bronze parses
        (a CSV header's columns are all text)."""
        if self.header is not None:
            return {c: sd.STRING for c in self.header}
        return sd.expected_fields(T.StructType(self.fields))

    def records_schema(self) -> T.StructType:
        return T.StructType([*self.fields, T.StructField(t.CORRUPT, T.StringType()), *INGESTION_FIELDS])


def _parse_json_lines(spark: SparkSession, paths: list[str], lines: DataFrame, run_id: str) -> DataFrame:
    return t.parse_order_lines(lines, run_id)


def _csv_parser(columns: list[str]) -> Callable[[SparkSession, list[str], DataFrame, str], DataFrame]:
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns] + [T.StructField(t.CORRUPT, T.StringType())])

    def parse(spark: SparkSession, paths: list[str], lines: DataFrame, run_id: str) -> DataFrame:
        parsed = (
            spark.read.schema(schema)
            .option("header", True)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", t.CORRUPT)
            # RFC 4180: a quoted field may span lines, and "" inside quotes is one quote
            .option("multiLine", True)
            .option("escape", '"')
            .csv(paths)
            .select("*", t.source_file(F.col("_metadata.file_path")).alias("_source_file"))
            # in multi-line mode Spark returns a whitespace-only line as a malformed record:
            # like a blank line, it is no record (``lf.csv_records`` does not count it either)
            .where(~(F.col(t.CORRUPT).isNotNull() & t.is_blank(F.col(t.CORRUPT))))
        )
        return t.csv_records(parsed, run_id)

    return parse


_AS_LANDED = "as landed (text)"
REJECTED_COLUMNS = {
    "source": "The feed: orders, customers or products.",
    "raw_record": "The line as landed, unparsed.",
    "reason": "Why it could not be parsed.",
    **INGESTION_COLUMNS,
}

SOURCES = [
    LandedSource(
        name="orders",
        suffix=".jsonl",
        header_lines=0,
        fields=list(t.ORDER_SCHEMA.fields),
        parse=_parse_json_lines,
        reject_reason="malformed JSON or not an order record",
        description="Orders as landed (JSON lines, line items nested), one row per parseable line.",
        columns={
            "order_id": "Order identifier as landed.",
            "customer_id": "Customer identifier as landed.",
            "order_ts": f"When the order was placed, {_AS_LANDED}.",
            "channel": "Sales channel as landed.",
            "currency": "Currency code as landed.",
            "items": "Line items as landed: line_no, product_id, quantity, unit_price.",
            **INGESTION_COLUMNS,
        },
    ),
    LandedSource(
        name="customers",
        suffix=".csv",
        header_lines=1,
        fields=[T.StructField(c, T.StringType()) for c in t.CUSTOMER_COLUMNS],
        parse=_csv_parser(t.CUSTOMER_COLUMNS),
        header=t.CUSTOMER_COLUMNS,
        reject_reason="malformed CSV row (wrong number of fields or broken quoting)",
        description="Customer records as landed (CSV, all text), including every change over time.",
        columns={
            "customer_id": f"Customer identifier, {_AS_LANDED}.",
            "name": f"Name, {_AS_LANDED}.",
            "email": f"E-mail address, {_AS_LANDED}.",
            "address": f"Street address, {_AS_LANDED}.",
            "city": f"City, {_AS_LANDED}.",
            "signup_date": f"Signup day, {_AS_LANDED}.",
            "updated_at": f"When the record changed, {_AS_LANDED}.",
            **INGESTION_COLUMNS,
        },
    ),
    LandedSource(
        name="products",
        suffix=".csv",
        header_lines=1,
        fields=[T.StructField(c, T.StringType()) for c in t.PRODUCT_COLUMNS],
        parse=_csv_parser(t.PRODUCT_COLUMNS),
        header=t.PRODUCT_COLUMNS,
        reject_reason="malformed CSV row (wrong number of fields or broken quoting)",
        description="Product catalogue records as landed (CSV, all text).",
        columns={
            "product_id": f"Product identifier, {_AS_LANDED}.",
            "name": f"Name, {_AS_LANDED}.",
            "category": f"Category, {_AS_LANDED}.",
            "unit_price": f"List price of one unit, {_AS_LANDED}.",
            **INGESTION_COLUMNS,
        },
    ),
]
SOURCE_BY_NAME = {source.name: source for source in SOURCES}
BRONZE_ORDERS, BRONZE_CUSTOMERS, BRONZE_PRODUCTS = (SOURCE_BY_NAME[n].key for n in ("orders", "customers", "products"))


class BronzeIngestConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="Landed files to ingest (as the landing sensor names them). Empty: every file of the "
        "partition(s) that is not in the ingestion log or changed since it was logged.",
    )
    reingest: bool = Field(
        default=False, description="Ingest every file of the partition(s) again, replacing its rows."
    )


def files_to_ingest(
    landed: list[LandedFile], logged: dict[str, IngestionEntry], config: BronzeIngestConfig
) -> list[LandedFile]:
    """The files this run ingests: the sensor's choice, all of them, or the new and changed ones."""
    if config.files:
        wanted = set(config.files)
        return [f for f in landed if f.path in wanted]
    if config.reingest:
        return landed
    return [f for f in landed if f.path not in logged or logged[f.path].fingerprint != f.fingerprint]


# What one Spark read of some landed files gives: the parsed records (cached), per-file line
# stats, per-file (parsed, unparseable) record counts, and per-file observed fields.
Read = tuple[DataFrame, dict[str, dict], dict[str, tuple[int, int]], dict[str, FileFields]]


def _read_landed(
    spark: SparkSession, source: LandedSource, files: list[LandedFile], run_id: str, quarantined: dict[str, str]
) -> Read:
    """Parse ``files`` in one Spark read: (records, per-file line stats, per-file record counts,
    per-file observed fields).

    One file Spark cannot open must not stop the others: when the read fails, each file is
    tried alone, the ones that fail are quarantined (into ``quarantined``) with Spark's error,
    and the rest are read together. A file Spark reads no lines from although it has bytes (its
    path does not come back as listed) is quarantined too.
    """
    if not files:
        return spark.createDataFrame([], source.records_schema()), {}, {}, {}
    try:
        records, stats, per_file, observed = _parse(spark, source, files, run_id)
    except Exception as error:  # Py4J / Spark errors: find the file(s) to blame
        failing = {}
        for f in files:
            try:
                _parse(spark, source, [f], run_id)[0].unpersist()
            except Exception as alone:
                failing[f.path] = f"unreadable by Spark: {_first_line(alone)}"
        if not failing:
            raise RuntimeError(f"{source.name}: reading {len(files)} landed file(s) failed, though each reads "
                               f"alone: {_first_line(error)}") from error
        quarantined.update(failing)
        return _read_landed(spark, source, [f for f in files if f.path not in failing], run_id, quarantined)
    for f in files:
        if f.path not in stats:
            quarantined[f.path] = (f"Spark read no lines from this file ({f.size:,} bytes): the path it reports "
                                   f"does not match the landing zone's listing")
    return records, stats, per_file, observed


def _parse(spark: SparkSession, source: LandedSource, files: list[LandedFile], run_id: str) -> Read:
    paths = [spark_path(f.path) for f in files]
    # Records are cached (parsed once, counted and written twice); the text is not, since
    # scanning it again for the per-file line counts costs less than holding it in memory.
    # Each JSON record carries the schema its line sent, so the observed schemas come from the
    # same aggregation over the cache as the record counts: no further pass over the text.
    lines = t.raw_lines(spark.read.text(paths))
    records = source.parse(spark, paths, lines, run_id).cache()
    try:
        stats = {row["_source_file"]: row.asDict() for row in t.file_stats(lines).collect()}
        per_file, observed = _fold_observations(t.file_observations(records).collect())
        return records, stats, per_file, observed
    except Exception:
        records.unpersist()
        raise


def _fold_observations(rows: list) -> tuple[dict[str, tuple[int, int]], dict[str, FileFields]]:
    """``t.file_observations`` rows -> per-file (parsed, unparseable) counts and observed fields."""
    counts: dict[str, tuple[int, int]] = {}
    schemas: dict[str, list[tuple[Optional[str], int]]] = {}
    for row in rows:
        path = row["_source_file"]
        parsed, unparseable = counts.get(path, (0, 0))
        counts[path] = (parsed + int(row["parsed"]), unparseable + int(row["unparseable"]))
        schemas.setdefault(path, []).append((row[t.OBSERVED_SCHEMA], int(row["parsed"]) + int(row["unparseable"])))
    return counts, {path: sd.fold_schemas(found) for path, found in schemas.items()}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]


def _sql_strings(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def source_checks(source: LandedSource) -> list[TableCheck]:
    """A source's checks: every landed line accounted for (blocking), and schema drift (WARN)."""

    def landed_lines_accounted(tables: Tables) -> AssetCheckResult:
        entries = {e.path: e for e in tables.ingestion_log.entries(source.name).values()
                   if tables.start <= e.landed_date <= tables.end}
        in_tables: dict[str, int] = {}
        for table in (source.table, source.rejects_table):
            for row in tables.read(table, "_landed_date").groupBy("_source_file").count().collect():
                in_tables[row["_source_file"]] = in_tables.get(row["_source_file"], 0) + int(row["count"])
        expected = {
            path: (e.lines - source.header_lines if e.status == INGESTED and e.lines else 0)
            for path, e in entries.items()
        }
        wrong = sorted(p for p in set(expected) | set(in_tables) if expected.get(p, 0) != in_tables.get(p, 0))
        quarantined = {p: e.reason for p, e in entries.items() if e.status == QUARANTINED}
        return reconcile_result(
            sum(expected.values()), sum(in_tables.values()),
            meaning=f"expected: lines of the ingested {source.name} files (ingestion log, headers excluded); "
                    "actual: bronze rows + rejected lines from those files",
            passed=not wrong,
            failed_rule="per file: logged lines == bronze rows + rejected lines",
            failure_count=len(wrong),
            samples=[{"file": p, "logged_lines": expected.get(p), "rows_in_tables": in_tables.get(p, 0)}
                     for p in wrong[:5]],
            landed_lines=sum(expected.values()),
            bronze_and_rejected_rows=sum(in_tables.values()),
            files_ingested=len(entries) - len(quarantined),
            files_quarantined=len(quarantined),
            quarantined_lines=sum(entries[p].lines or 0 for p in quarantined),
        )

    def schema_drift(tables: Tables) -> AssetCheckResult:
        history = LandingSchemaHistory(tables.delta).rows(source.name)
        ingested = [e.path for e in tables.ingestion_log.entries(source.name).values() if e.status == INGESTED
                    and (tables.start is None or tables.start <= e.landed_date <= tables.end)]
        return sd.drift_in_days(history, source.expected_fields, tables.start, tables.end, ingested)

    return [TableCheck(
        source.key, "landed_lines_accounted",
        "Every line of every ingested file is in bronze or in the reject table, once: per file, lines in the "
        "ingestion log = bronze rows + rejected lines; quarantined files are listed with their reasons.",
        landed_lines_accounted, partitioned=True,
    ), TableCheck(
        source.key, DRIFT_CHECK,
        "Schema drift (WARN): every ingested file sent the fields silver reads, with their JSON types, and no "
        "field new, gone or re-typed since the source's previous landing day (landing schema history). "
        "Metadata: the diff (field, change, expected type, observed type, files) and failure_count.",
        schema_drift, partitioned=True, blocking=False, severity=AssetCheckSeverity.WARN,
    )]


def _bronze_asset(source: LandedSource, partitions: PartitionsDefinition) -> AssetsDefinition:
    """The step that ingests one source's landed files into its table and reject table."""
    checks = source_checks(source)
    structured = source.header is None

    @multi_asset(
        name=source.step,
        specs=[
            AssetSpec(source.key, description=source.description, **catalog("bronze", source.name)),
            AssetSpec(source.rejects_key, **catalog("bronze", source.name),
                      description=f"Landed {source.name} lines that could not be parsed: raw text and reason."),
        ],
        check_specs=check_specs(checks, partitions),
        partitions_def=partitions,
        backfill_policy=single_run,
    )
    @emits_lineage(landing_source=source.name)
    def ingest(
        context: AssetExecutionContext,
        config: BronzeIngestConfig,
        delta: DeltaLakeResource,
        landing: LandingZoneResource,
        ingestion_log: IngestionLogResource,
        lineage: LineageResource,
    ):
        start, end = partition_dates(context)
        logged = {path: e for (_, path), e in ingestion_log.entries(source.name).items()}
        chosen = files_to_ingest(landing.list_files(source.name, start, end), logged, config)
        missing = set(config.files) - {f.path for f in chosen}
        if missing:
            context.log.warning(f"{source.name}: {len(missing)} requested file(s) are gone from the landing zone: "
                                f"{sorted(missing)[:5]}")
        context.log.info(f"{source.name}: {len(chosen)} file(s) to ingest for {start}..{end}")
        spark = delta.session

        # Whole-file quarantine first from size and header, then from content.
        quarantined: dict[str, str] = {}
        heads: dict[str, bytes] = {}
        for f in chosen:
            readable_header = source.header and f.name.endswith(source.suffix) and 0 < f.size <= landing.max_file_bytes
            head = heads[f.path] = landing.read_head(f.path) if readable_header else b""
            reason = lf.screen_file(f.name, f.size, head, suffix=source.suffix, max_bytes=landing.max_file_bytes,
                                    header=source.header)
            if reason:
                quarantined[f.path] = reason
        readable = [f for f in chosen if f.path not in quarantined]
        records, stats, per_file, observed = _read_landed(spark, source, readable, context.run_id, quarantined)
        if source.header is not None:  # CSV: a record may span lines; account for records
            for f in readable:
                if f.path in stats:
                    with landing.open(f.path) as stream:
                        stats[f.path]["lines"] = lf.csv_records(stream)
        for f in readable:
            if f.path in quarantined:
                continue
            counts = per_file.get(f.path, (0, 0))
            reason = lf.screen_content(stats[f.path]["lines"], stats[f.path]["undecodable_lines"], counts[0],
                                       header_lines=source.header_lines, structured=structured)
            if reason:
                quarantined[f.path] = reason
        for path, reason in sorted(quarantined.items()):
            context.log.warning(f"{source.name}: quarantined {path}: {reason}")

        kept = records.where(~F.col("_source_file").isin(list(quarantined))) if quarantined else records
        if chosen or not delta.exists(source.table):
            # Replacing exactly these files' rows makes ingesting a file twice (a replayed
            # tick, a manual re-run, a crash before the log commit) leave one copy.
            day_list = _sql_strings(sorted({f.landed_date.isoformat() for f in chosen}))
            slice_ = (f"_landed_date IN ({day_list}) AND _source_file IN ({_sql_strings([f.path for f in chosen])})"
                      if chosen else "false")
            commit = delta.replace_where(t.accepted(kept), source.table, slice_, partition_by=["_landed_date"])
            reject_commit = delta.replace_where(
                t.rejected(kept, source.name, source.reject_reason), source.rejects_table, slice_,
                partition_by=["_landed_date"],
            )
        else:
            commit, reject_commit = delta.last_commit(source.table), delta.last_commit(source.rejects_table)
        records.unpersist()

        now = datetime.now(timezone.utc)
        # Before the log: a file the log holds has its schema recorded (a crash in between
        # re-ingests the file, replacing its rows here too).
        sent = {f.path: _observed_fields(source, f.path, observed, per_file, heads) for f in chosen}
        LandingSchemaHistory(delta).record(source.name, chosen, {p: s for p, s in sent.items() if s},
                                           context.run_id, now)
        ingestion_log.record([
            IngestionEntry(
                source=source.name, path=f.path, landed_date=f.landed_date, size=f.size, mtime_ns=f.mtime_ns,
                modified_at=f.modified_at, status=QUARANTINED if f.path in quarantined else INGESTED,
                reason=quarantined.get(f.path),
                lines=int(stats[f.path]["lines"]) if f.path in stats else None,  # None: not read
                rows_accepted=0 if f.path in quarantined else per_file.get(f.path, (0, 0))[0],
                rows_rejected=0 if f.path in quarantined else per_file.get(f.path, (0, 0))[1],
                table_version=commit.version, run_id=context.run_id, ingested_at=now,
            )
            for f in chosen
        ])
        accepted_rows = sum(per_file.get(f.path, (0, 0))[0] for f in chosen if f.path not in quarantined)
        rejected_rows = sum(per_file.get(f.path, (0, 0))[1] for f in chosen if f.path not in quarantined)
        if rejected_rows:
            context.log.warning(f"{source.name}: {rejected_rows} line(s) rejected into {source.rejects_table}")
        yield MaterializeResult(
            asset_key=source.key,
            metadata=per_day(context, source.key, delta, commit, write_metadata(
                commit, t.accepted(records).schema, accepted_rows, source.columns,
                files_ingested=len(chosen) - len(quarantined), files_quarantined=len(quarantined),
                quarantined_files=MetadataValue.json(quarantined) if quarantined else None,
                bytes_landed=sum(f.size for f in chosen), rows_rejected=rejected_rows,
            ), "_landed_date", start, end),
        )
        yield MaterializeResult(
            asset_key=source.rejects_key,
            metadata=per_day(context, source.rejects_key, delta, reject_commit, write_metadata(
                reject_commit, t.rejected(records, "", "").schema, rejected_rows, REJECTED_COLUMNS), "_landed_date", start, end),
        )
        for result in evaluate(checks, Tables(delta, ingestion_log, start, end)):
            if isinstance(result, AssetCheckResult) and result.check_name == DRIFT_CHECK and not result.passed:
                context.log.warning(f"{source.name}: schema drift in {start}..{end}: "
                                    f"{sd.summary(result.metadata['drifted_fields'].value)}")
            yield result

    return ingest


def _observed_fields(source: LandedSource, path: str, observed: dict[str, FileFields],
                     per_file: dict[str, tuple[int, int]], heads: dict[str, bytes]) -> FileFields:
    """What a file sent, also when it was quarantined (a feed that re-types a field in every line,
    or renames a CSV column, is quarantined whole: that is drift the history must show).

    JSON lines: the fields its lines were observed with (nothing when it was never read). CSV: the
    columns its header names, all text, each in every record (0 when the file was not parsed).
    """
    if source.header is None:
        return observed.get(path, {})
    columns = lf.header_columns(heads.get(path, b"")) if heads.get(path) else None
    records = sum(per_file.get(path, (0, 0)))
    return {(column.strip(), sd.STRING): records for column in columns or []}


def bronze_assets(partitions: PartitionsDefinition) -> list[AssetsDefinition]:
    return [_bronze_asset(source, partitions) for source in SOURCES]


BRONZE_CHECKS = [check for source in SOURCES for check in source_checks(source)]

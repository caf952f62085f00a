"""Materialization metadata the UI shows for every table write.

``dagster/column_schema`` describes every column: what it holds (the descriptions its table module
declares, for a table with a contract its pandera model's field descriptions) and, for a table with
declared column lineage (its module's ``LINEAGE``), where it comes from. Dagster's open-source UI
shows a column's description in the asset's *Columns* table, but not ``dagster/column_lineage``
(which the lineage wrapper, ``assets/lineage.py``, adds), so each such write also carries
``column_lineage_table``: the lineage as a Markdown table.

Day-partitioned tables get their counts per day. A run over a range of days is one step, and
Dagster records one materialization per day from its result, each with the result's metadata; so
each day's own row count (``dagster/row_count``: the table's rows of that day after the write,
from the Delta log's file statistics) is added per partition (``add_asset_metadata`` with a
``partition_key``), and what covers more than the day carries a name that says so:
``run_row_count`` (rows the run wrote over its whole range, ``run_partition_range``) and
``table_row_count`` (every row of the table).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any, Mapping, Optional

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, TableColumn, TableSchema
from pyspark.sql import functions as F
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from assets.partitions import between
from assets.transforms.column_lineage import ColumnLineage, InputColumn
from resources.delta import DeltaCommit, DeltaLakeResource

NOT_FROM_AN_INPUT = "computed by the step, not from an input column"


def table_of(key: AssetKey) -> str:
    """A table's path under the table root: its asset key's path (``silver/orders``)."""
    return "/".join(key.path)


def _source(source: InputColumn) -> str:
    return f"{source.table}.{source.column}"


def _transformation(sources: list[InputColumn]) -> str:
    """How the column is computed from its sources: their subtypes and descriptions, once each."""
    if not sources:
        return NOT_FROM_AN_INPUT
    hows = dict.fromkeys(f"{s.subtype.lower()}" + (f": {s.description}" if s.description else "") for s in sources)
    return "; ".join(hows)


def lineage_description(sources: list[InputColumn]) -> str:
    """One column's declared lineage in words, e.g.
    ``Lineage: from silver/orders.line_amount (aggregation: sum(line_amount)).``"""
    if not sources:
        return f"Lineage: {NOT_FROM_AN_INPUT}."
    return f"Lineage: from {', '.join(_source(s) for s in sources)} ({_transformation(sources)})."


def column_schema(
    schema: StructType, descriptions: Mapping[str, str] = {}, lineage: Optional[ColumnLineage] = None,
) -> TableSchema:
    """The columns of ``schema`` with their types, their ``descriptions`` and declared ``lineage``."""

    def description(name: str) -> Optional[str]:
        parts = [descriptions.get(name)]
        if lineage is not None:
            parts.append(lineage_description(lineage.get(name, [])))
        return " ".join(p for p in parts if p) or None

    return TableSchema(
        columns=[TableColumn(name=f.name, type=f.dataType.simpleString(), description=description(f.name))
                 for f in schema.fields]
    )


def column_lineage_table(schema: StructType, lineage: ColumnLineage) -> str:
    """The declared lineage as a Markdown table: one row per column, its sources, the transformation."""
    rows = ["| Column | Source columns | Transformation |", "|---|---|---|"]
    for f in schema.fields:
        sources = lineage.get(f.name, [])
        rows.append(f"| {f.name} | {', '.join(_source(s) for s in sources) or '—'} | "
                    f"{_transformation(sources).replace('|', '/')} |")
    return "\n".join(rows)


def write_metadata(
    commit: DeltaCommit, schema: StructType, rows: int, columns: Mapping[str, str] = {},
    lineage: Optional[ColumnLineage] = None, **extra: Any,
) -> dict[str, Any]:
    """Row count, the schema described by ``columns`` (and ``lineage``), Delta version and the
    commit's operation metrics, and the column lineage table of a table that declares its lineage."""
    metadata: dict[str, Any] = {
        "dagster/row_count": int(rows),
        "dagster/uri": MetadataValue.path(commit.uri),
        "dagster/column_schema": column_schema(schema, columns, lineage),
        "delta_version": commit.version,
        "delta_operation": commit.operation,
    }
    if lineage is not None:
        metadata["column_lineage_table"] = MetadataValue.md(column_lineage_table(schema, lineage))
    metadata.update({f"delta_{name}": value for name, value in sorted(commit.metrics.items())})
    metadata.update({k: v for k, v in extra.items() if v is not None})
    return metadata


def rows_by_day(delta: DeltaLakeResource, table: str, version: int, date_column: str) -> Counter:
    """Rows per day (ISO date) of a table partitioned by ``date_column``, at ``version``.

    From the ``numRecords`` statistics Delta keeps for every data file (delta-rs reads the log; no
    data is read). A table whose files lack them, or that uses deletion vectors (its files' counts
    would include deleted rows), is counted by Spark instead.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    snapshot = delta.delta_rs_table(table, version=version)
    deletion_vectors = snapshot.metadata().configuration.get("delta.enableDeletionVectors", "false") == "true"
    files = pa.table(snapshot.get_add_actions(flatten=True))
    column = f"partition.{date_column}"
    if not deletion_vectors and column in files.column_names and files.column("num_records").null_count == 0:
        days = pc.cast(files.column(column), pa.string())
        counts: Counter = Counter()
        for day, rows in zip(days.to_pylist(), files.column("num_records").to_pylist()):
            counts[day] += int(rows)
        return counts
    rows = delta.read_version(table, version).groupBy(F.col(date_column).cast("string")).count().collect()
    return Counter({day: int(n) for day, n in rows})


def per_day(
    context: AssetExecutionContext, key: AssetKey, delta: DeltaLakeResource, commit: DeltaCommit,
    metadata: dict[str, Any], date_column: str, start: date, end: date,
) -> dict[str, Any]:
    """``metadata`` of a day-partitioned table's write, with each day's own row count.

    Each day ``start..end`` of the run gets ``dagster/row_count``: its rows in the table at the
    committed version. The write's own count becomes ``run_row_count`` (over
    ``run_partition_range``), and ``table_row_count`` is the whole table's.
    """
    counts = rows_by_day(delta, commit.table, commit.version, date_column)
    day = start
    while day <= end:
        context.add_asset_metadata({"dagster/row_count": int(counts.get(day.isoformat(), 0))},
                                   asset_key=key, partition_key=day.isoformat())
        day += timedelta(days=1)
    out = {k: v for k, v in metadata.items() if k != "dagster/row_count"}
    out["run_row_count"] = metadata["dagster/row_count"]
    out["run_partition_range"] = f"{start.isoformat()}..{end.isoformat()}"
    out["table_row_count"] = int(sum(counts.values()))
    return out


def replace_days(
    context: AssetExecutionContext, delta: DeltaLakeResource, df: DataFrame, key: AssetKey, date_column: str,
    start: date, end: date, columns: Mapping[str, str] = {}, lineage: Optional[ColumnLineage] = None, **extra: Any,
) -> MaterializeResult:
    """Replace the ``start..end`` slice of a day-partitioned table with ``df`` and describe the write,
    with each day's own row count (``per_day``).

    The run's row count is the commit's own (``numOutputRows``): counting ``df`` would compute it
    twice. ``extra`` metadata (e.g. how the rows were computed) is added to the write's.
    """
    table = table_of(key)
    commit = delta.replace_where(df, table, between(date_column, start, end), [date_column])
    rows = commit.metrics["rows_written"] if "rows_written" in commit.metrics else delta.read(
        table, between(date_column, start, end)).count()
    metadata = write_metadata(commit, df.schema, rows, columns, lineage, **extra)
    return MaterializeResult(metadata=per_day(context, key, delta, commit, metadata, date_column, start, end))

"""Materialization metadata the UI shows for every table write.

``dagster/column_schema`` describes every column: what it holds (the table's pandera model field
descriptions, ``assets/quality/models.py``) and, for tables with declared column lineage
(``*_LINEAGE`` in ``assets/transforms/``), where it comes from. Dagster's open-source UI shows a
column's description in the asset's *Columns* table, but not ``dagster/column_lineage`` (which the
lineage wrapper, ``assets/lineage.py``, adds), so each such write also carries
``column_lineage_table``: the lineage as a Markdown table.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping, Optional

from dagster import MaterializeResult, MetadataValue, TableColumn, TableSchema
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from assets.partitions import between
from assets.quality.models import column_descriptions
from assets.transforms import features as feature_transforms
from assets.transforms import gold as gold_transforms
from assets.transforms.column_lineage import ColumnLineage, InputColumn
from resources.delta import DeltaCommit, DeltaLakeResource

# Every table with declared column lineage, by table (its asset key's path).
DECLARED_LINEAGE: Mapping[str, ColumnLineage] = {
    "gold/daily_sales": gold_transforms.DAILY_SALES_LINEAGE,
    "gold/customer_lifetime_value": gold_transforms.CUSTOMER_LIFETIME_VALUE_LINEAGE,
    "features/customer_features": feature_transforms.CUSTOMER_FEATURES_LINEAGE,
}
NOT_FROM_AN_INPUT = "computed by the step, not from an input column"


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


def column_schema(schema: StructType, table: Optional[str] = None) -> TableSchema:
    """The columns of ``schema`` with their types and, when ``table`` is given, their descriptions
    and declared lineage."""
    descriptions = column_descriptions(table) if table else {}
    lineage = DECLARED_LINEAGE.get(table) if table else None

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


def write_metadata(commit: DeltaCommit, schema: StructType, rows: int, **extra: Any) -> dict[str, Any]:
    """Row count, described schema, Delta version and the commit's operation metrics, and the
    column lineage table of a table that declares its lineage."""
    metadata: dict[str, Any] = {
        "dagster/row_count": int(rows),
        "dagster/uri": MetadataValue.path(commit.uri),
        "dagster/column_schema": column_schema(schema, commit.table),
        "delta_version": commit.version,
        "delta_operation": commit.operation,
    }
    if commit.table in DECLARED_LINEAGE:
        lineage_table = column_lineage_table(schema, DECLARED_LINEAGE[commit.table])
        metadata["column_lineage_table"] = MetadataValue.md(lineage_table)
    metadata.update({f"delta_{name}": value for name, value in sorted(commit.metrics.items())})
    metadata.update({k: v for k, v in extra.items() if v is not None})
    return metadata


def replace_days(
    delta: DeltaLakeResource, df: DataFrame, table: str, date_column: str, start: date, end: date, **extra: Any
) -> MaterializeResult:
    """Replace the ``start..end`` slice of a day-partitioned table with ``df`` and describe the write.

    The row count is the commit's own (``numOutputRows``): counting ``df`` would compute it twice.
    ``extra`` metadata (e.g. how the rows were computed) is added to the write's.
    """
    commit = delta.replace_where(df, table, between(date_column, start, end), [date_column])
    rows = commit.metrics["rows_written"] if "rows_written" in commit.metrics else delta.read(
        table, between(date_column, start, end)).count()
    return MaterializeResult(metadata=write_metadata(commit, df.schema, rows, **extra))

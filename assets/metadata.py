"""Materialization metadata the UI shows for every table write."""

from __future__ import annotations

from typing import Any

from datetime import date

from dagster import MaterializeResult, MetadataValue, TableColumn, TableSchema
from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from assets.partitions import between
from resources.delta import DeltaCommit, DeltaLakeResource


def column_schema(schema: StructType) -> TableSchema:
    return TableSchema(
        columns=[TableColumn(name=f.name, type=f.dataType.simpleString()) for f in schema.fields]
    )


def write_metadata(commit: DeltaCommit, schema: StructType, rows: int, **extra: Any) -> dict[str, Any]:
    """Row count, schema, Delta version and the commit's operation metrics."""
    metadata: dict[str, Any] = {
        "dagster/row_count": int(rows),
        "dagster/uri": MetadataValue.path(commit.uri),
        "dagster/column_schema": column_schema(schema),
        "delta_version": commit.version,
        "delta_operation": commit.operation,
    }
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

"""Column lineage as data: which input columns each output column comes from, and how.

Declared next to the transformations (gold.py, features.py) and turned by
``assets/lineage.py`` into both the OpenLineage ``columnLineage`` facet and
Dagster's ``dagster/column_lineage`` metadata, so both tell the same story.
Types follow the OpenLineage column-lineage spec: DIRECT transformations with
subtype IDENTITY (copied as is), TRANSFORMATION (computed from the value) or
AGGREGATION (computed from many rows' values).
"""

from __future__ import annotations

from dataclasses import dataclass

IDENTITY = "IDENTITY"
TRANSFORMATION = "TRANSFORMATION"
AGGREGATION = "AGGREGATION"


@dataclass(frozen=True)
class InputColumn:
    table: str  # "<layer>/<name>", the table's asset key
    column: str
    subtype: str  # IDENTITY | TRANSFORMATION | AGGREGATION
    description: str = ""
    type: str = "DIRECT"


# output column -> the input columns it is computed from (empty: not from any input column)
ColumnLineage = dict[str, list[InputColumn]]


def identity(table: str, column: str) -> list[InputColumn]:
    return [InputColumn(table, column, IDENTITY)]


def transformed(table: str, *columns: str, how: str) -> list[InputColumn]:
    return [InputColumn(table, c, TRANSFORMATION, how) for c in columns]


def aggregated(table: str, *columns: str, how: str) -> list[InputColumn]:
    return [InputColumn(table, c, AGGREGATION, how) for c in columns]

"""Row-level rules: every row either passes or names the first rule it broke."""

from __future__ import annotations

from typing import Optional, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

RULE = "_rule"


def first_failed_rule(rules: Sequence[tuple[str, Column]]) -> Column:
    """The name of the first rule whose failure condition holds, else null.

    A condition that evaluates to null (a comparison with a missing value)
    counts as passing; each rule about missing values says so explicitly.
    """
    result = F.lit(None).cast("string")
    for name, failed in reversed(rules):
        result = F.when(F.coalesce(failed, F.lit(False)), F.lit(name)).otherwise(result)
    return result


def blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def row_hash(columns: Sequence[str]) -> Column:
    """A content hash, so MERGE can skip rows that did not change."""
    return F.sha2(F.concat_ws("\u241f", *[F.coalesce(F.col(c).cast("string"), F.lit("\u2400")) for c in columns]), 256)


def passed(df: DataFrame) -> DataFrame:
    return df.where(F.col(RULE).isNull()).drop(RULE)


def failed(df: DataFrame) -> DataFrame:
    return df.where(F.col(RULE).isNotNull())


def quarantine_rows(df: DataFrame, key_columns: Sequence[str], context_columns: Sequence[str]) -> DataFrame:
    """Failed rows as quarantine records: keys, the rule, and the record's content as JSON.

    Ingestion metadata (``_``-prefixed) stays out of the JSON so that re-running
    a day reproduces the same quarantine rows; where a row came from is kept in
    ``context_columns``.
    """
    record_columns = [c for c in df.columns if not c.startswith("_")]
    return failed(df).select(
        *key_columns,
        F.col(RULE).alias("rule"),
        F.to_json(F.struct(*record_columns)).alias("record"),
        *context_columns,
    )


def mark_repeats(checked: DataFrame, key: Sequence[str], first_by: Sequence[str], rule: str) -> DataFrame:
    """Among rows that passed, every copy of ``key`` after the first (by ``first_by``) breaks ``rule``."""
    first_copy = Window.partitionBy(*key, F.col(RULE).isNull()).orderBy(*first_by)
    repeat = F.col(RULE).isNull() & (F.row_number().over(first_copy) > 1)
    return checked.withColumn(RULE, F.when(repeat, F.lit(rule)).otherwise(F.col(RULE)))



def failing_rows(column: str, kind: str, statistics: dict) -> Optional[Column]:
    """The rows that break one pandera column check (by its kind and statistics), or None for a
    kind with no predicate here."""
    c = F.col(f"`{column}`")
    if kind == "not_nullable":
        return c.isNull()
    if kind == "greater_than_or_equal_to":
        return c < F.lit(statistics["min_value"])
    if kind == "greater_than":
        return c <= F.lit(statistics["min_value"])
    if kind == "less_than_or_equal_to":
        return c > F.lit(statistics["max_value"])
    if kind == "less_than":
        return c >= F.lit(statistics["max_value"])
    if kind == "isin":
        return ~c.isin(list(statistics["allowed_values"]))
    if kind == "str_startswith":
        return ~c.startswith(str(statistics["string"]))
    if kind == "str_matches":
        return ~c.rlike(str(statistics["pattern"]))
    return None


def data_rules(model, columns: Sequence[str]) -> list[tuple[str, str, str, Column]]:
    """Every row-level rule a pandera model declares for its columns among ``columns``, as
    (column, check kind, pandera's check label, failing-row predicate).

    Raises ``NotImplementedError`` for a check with no predicate here (or a dataframe-wide one).
    """
    schema = model.to_schema()
    if schema.checks:
        raise NotImplementedError("dataframe-wide pandera checks")
    rules: list[tuple[str, str, str, Column]] = []
    for name, column in schema.columns.items():
        if name not in columns:
            continue  # pandera reports a missing column itself
        if not column.nullable:
            rules.append((name, "not_nullable", "not_nullable", failing_rows(name, "not_nullable", {})))
        for check in column.checks:
            predicate = failing_rows(name, check.name, check.statistics)
            if predicate is None:
                raise NotImplementedError(f"no row predicate for pandera check {check.name} on {name}")
            rules.append((name, check.name, check.error or check.name, predicate))
    return rules


_RULE_PREFIX = {"not_nullable": "missing_", "isin": "unknown_", "str_matches": "invalid_", "str_startswith": "invalid_"}


def contract_rules(model, columns: Sequence[str]) -> list[tuple[str, Column]]:
    """Row rules derived from a table's pandera contract, for ``first_failed_rule``.

    The contract a table is validated against after it is written is the declaration its rows
    are screened with before: a row that would break a column's nullability, range, set or
    pattern is quarantined with a rule naming the column (``missing_line_no``,
    ``line_no_out_of_range``, ``unknown_channel``, ``invalid_order_id``) instead of reaching the
    table and failing the contract there. A check kind with no predicate raises, so a new kind
    of contract check cannot be silently left out of the row rules.
    """
    rules = []
    for column, kind, _, predicate in data_rules(model, columns):
        label = column.lstrip("_")
        prefix = _RULE_PREFIX.get(kind)
        rules.append((f"{prefix}{label}" if prefix else f"{label}_out_of_range", predicate))
    return rules

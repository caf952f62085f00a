"""Row-level rules: every row either passes or names the first rule it broke."""

from __future__ import annotations

from typing import Sequence

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

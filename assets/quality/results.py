"""Turning validations into Dagster asset check results with evidence.

pandera declares every table's contract. Its PySpark backend reports *which* rules
failed but not how many rows or which ones, and runs one Spark job per rule; for its
built-in checks we rebuild the failing-row predicate from the check's statistics, which
lets one aggregation count every rule's failures and lets us sample failing keys.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping, Optional, Sequence, Type, Union

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue
from pandera.pyspark import DataFrameModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from assets.transforms.rules import data_rules, failing_rows

SAMPLE_SIZE = 5


def sample_keys(rows: DataFrame, keys: Sequence[str]) -> list[dict]:
    return [
        {k: (str(v) if v is not None else None) for k, v in row.asDict().items()}
        for row in rows.select(*keys).limit(SAMPLE_SIZE).collect()
    ]


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` as a Markdown table, one column per key (in order of first appearance)."""
    if not rows:
        return "_no rows sampled_"
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def check_result(
    passed: bool,
    *,
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
    failed_rule: Optional[str] = None,
    failure_count: Optional[int] = None,
    samples: Optional[list] = None,
    **metadata,
) -> AssetCheckResult:
    """An AssetCheckResult whose metadata always has ``failure_count`` (0 when it passed, so the
    UI plots it as a line over time) and, on failure, names the rule and samples failing keys, as
    JSON (``sample_failing_keys``) and as a Markdown table (``sample_failing_keys_table``).

    A failure whose size is unknown counts its samples (at least 1)."""
    meta = {k: v for k, v in metadata.items() if v is not None}
    if passed:
        meta["failure_count"] = 0
    else:
        meta["failed_rule"] = failed_rule or "unknown"
        meta["failure_count"] = int(failure_count) if failure_count is not None else max(len(samples or []), 1)
        meta["sample_failing_keys"] = MetadataValue.json(samples or [])
        meta["sample_failing_keys_table"] = MetadataValue.md(markdown_table(samples or []))
    return AssetCheckResult(passed=passed, severity=severity, metadata=meta)


def reconcile_result(
    expected: Union[int, float, Decimal],
    actual: Union[int, float, Decimal],
    *,
    meaning: str,
    failed_rule: str,
    passed: Optional[bool] = None,
    failure_count: Optional[int] = None,
    samples: Optional[list] = None,
    **details,
) -> AssetCheckResult:
    """A reconciliation: ``expected`` (what the source says) against ``actual`` (what the tables
    hold), both as numeric metadata the UI plots, with ``meaning`` saying what each one counts.
    Passed when they are equal, unless ``passed`` says otherwise (e.g. per day); the failure count
    is their difference unless given."""

    def number(value: Union[int, float, Decimal]) -> MetadataValue:
        return MetadataValue.int(int(value)) if isinstance(value, int) else MetadataValue.float(float(value))

    return check_result(
        expected == actual if passed is None else passed,
        failed_rule=failed_rule,
        failure_count=abs(expected - actual) if failure_count is None else failure_count,
        samples=samples,
        expected=number(expected),
        actual=number(actual),
        reconciliation=MetadataValue.text(meaning),
        **details,
    )


def pandera_check(
    model: Type[DataFrameModel], df: DataFrame, keys: Sequence[str], severity=AssetCheckSeverity.ERROR
) -> AssetCheckResult:
    """Validate ``df`` against ``model`` and report each failed rule with evidence.

    pandera's PySpark backend runs one Spark job per rule, each a scan of the table. Instead,
    pandera validates the structure (columns, strictness, types) on a zero-row view of
    ``df``, and every row-level rule it declares is counted in a single aggregation over
    the data, which also gives each failed rule's row count. A model with a check this
    module cannot express falls back to pandera's own per-rule validation.
    """
    try:
        rules = data_rules(model, df.columns)
    except NotImplementedError:
        rules = None
    failing: dict[tuple[str, str], Column] = {}  # failed rule -> its failing-row predicate
    validated = model.validate(check_obj=df.limit(0) if rules is not None else df)
    failures: list[dict] = []
    for category in dict(validated.pandera.errors or {}).values():
        for entries in category.values():
            for entry in entries:
                failures.append({k: str(entry.get(k)) for k in ("column", "check", "error")})
    if rules is None:
        failing = _count_failures(model, df, failures)
    elif rules:
        counts = df.agg(*[F.count_if(F.coalesce(p, F.lit(False))).alias(f"r{i}") for i, (_, _, _, p) in enumerate(rules)]).first()
        for i, (column, _, check, predicate) in enumerate(rules):
            if counts[f"r{i}"]:
                failures.append({"column": column, "check": check, "failure_count": int(counts[f"r{i}"]),
                                 "error": f"{counts[f'r{i}']} row(s) of column '{column}' failed {check}"})
                failing[(column, check)] = predicate
    assertions = MetadataValue.json(rule_outcomes(model, failures))
    if not failures:
        return check_result(True, severity=severity, rules_checked=_rule_count(model), assertions=assertions)

    samples: list[dict] = []
    keyed = [k for k in keys if k in df.columns] or df.columns[:3]
    for (column, check), predicate in failing.items():
        samples.extend({"rule": f"{column}:{check}", **s} for s in sample_keys(df.where(predicate), keyed))
    counted = [f["failure_count"] for f in failures if "failure_count" in f]
    return check_result(
        False,
        severity=severity,
        failed_rule=", ".join(f"{f['column']}:{f['check']}" for f in failures),
        # rows failing the counted rules; structural failures alone (no row count): how many
        failure_count=sum(counted) if counted else len(failures),
        samples=samples[: SAMPLE_SIZE * 2],
        failures=MetadataValue.json(failures),
        assertions=assertions,
    )


def _count_failures(model: Type[DataFrameModel], df: DataFrame, failures: list[dict]) -> dict[tuple[str, str], Column]:
    """The fallback path: row counts (in ``failures``) and predicates of the rules pandera itself
    found failing, where a predicate can be rebuilt."""
    schema = model.to_schema()
    failing: dict[tuple[str, str], Column] = {}
    for failure in failures:
        column, name = failure["column"], failure["check"].split("(")[0]
        if column not in schema.columns or column not in df.columns:
            continue
        if name == "not_nullable":
            predicate = F.col(f"`{column}`").isNull()
        else:
            stats = next((c.statistics for c in schema.columns[column].checks if c.name == name), None)
            predicate = failing_rows(column, name, stats) if stats is not None else None
        if predicate is not None:
            failure["failure_count"] = df.where(predicate).count()
            failing[(column, failure["check"])] = predicate
    return failing


def rule_outcomes(model: Type[DataFrameModel], failures: list[dict]) -> list[dict]:
    """One outcome per pandera rule and column: its type, nullability and value checks, plus
    strictness; a failure pandera reports that no declared rule matches is listed as failed too.
    ``assets/lineage.py`` turns these into OpenLineage data-quality assertions."""
    failed = {(f["column"], f["check"].split("(")[0]) for f in failures}
    outcomes: list[dict] = []

    def outcome(column: Optional[str], rule: str, expected: object = None) -> None:
        item = {"assertion": rule, "success": (str(column), rule) not in failed}
        if column is not None:
            item["column"] = column
        if expected is not None:
            item["expected"] = str(expected)
        outcomes.append(item)

    schema = model.to_schema()
    for name, column in schema.columns.items():
        outcome(name, "dtype", column.dtype)
        if not column.nullable:
            outcome(name, "not_nullable")
        if column.unique:
            outcome(name, "unique")
        for c in column.checks:
            outcome(name, c.name, c.statistics or None)
    for c in schema.checks:
        outcome(None, c.name, c.statistics or None)
    if getattr(schema, "strict", False):
        strict_failures = [f for f in failures if f["check"].split("(")[0] in ("column_in_schema", "column_in_dataframe")]
        outcomes.append({"assertion": "strict_columns", "success": not strict_failures,
                         "expected": "exactly the declared columns"})
    declared = {(o.get("column", "None"), o["assertion"]) for o in outcomes}
    for column, rule in sorted(failed - declared):
        if rule not in ("column_in_schema", "column_in_dataframe"):
            outcome(column, rule)
    return outcomes


def _rule_count(model: Type[DataFrameModel]) -> int:
    schema = model.to_schema()
    return sum(len(c.checks) + 1 for c in schema.columns.values())


def unique_key_check(df: DataFrame, keys: Sequence[str]) -> AssetCheckResult:
    """Every key appears once."""
    duplicates = df.groupBy(*keys).count().where(F.col("count") > 1)
    count = duplicates.count()
    return check_result(
        count == 0,
        failed_rule=f"unique({', '.join(keys)})",
        failure_count=count,
        samples=sample_keys(duplicates, keys) if count else None,
        key=", ".join(keys),
    )


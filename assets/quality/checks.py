"""How a table's checks are declared, evaluated in its asset step, and audited.

A table declares its checks beside its asset as ``TableCheck``s: the asset carries them as
``check_specs`` and evaluates them in the step that writes the table, from what the step
already holds (the validated frame, the rule counts, the commit's metrics) or, where it holds
nothing cheaper, from the slice it just committed. A failed blocking ERROR check fails the step,
so everything downstream in the run is skipped. Every check also has an ``audit``: the same
rule computed from the committed tables alone, which the ``audit_tables`` job re-runs on a
schedule (or from the UI) so a write bug is still caught by a check that reads what was stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, Type, Union

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    PartitionsDefinition,
)
from pandera.pyspark import DataFrameModel
from pyspark.sql import DataFrame

from assets.partitions import between
from assets.quality.results import pandera_check, unique_key_check


@dataclass(frozen=True)
class Tables:
    """What an audit reads: the lakehouse's resources and the days it covers (None: unpartitioned)."""

    delta: Any  # DeltaLakeResource
    ingestion_log: Any = None  # IngestionLogResource, for bronze's checks
    start: Optional[date] = None
    end: Optional[date] = None

    def read(self, table: str, date_column: Optional[str] = None) -> DataFrame:
        """The table, or its slice of the covered days when ``date_column`` is given."""
        if date_column is None or self.start is None:
            return self.delta.read(table)
        return self.delta.read(table, between(date_column, self.start, self.end))


@dataclass(frozen=True)
class TableCheck:
    """One check of one table: its spec and the audit that computes it from the stored tables."""

    asset: AssetKey
    name: str
    description: str
    audit: Callable[[Tables], AssetCheckResult]
    blocking: bool = True
    partitioned: bool = False
    severity: AssetCheckSeverity = field(default=AssetCheckSeverity.ERROR)

    def spec(self, partitions: Optional[PartitionsDefinition] = None) -> AssetCheckSpec:
        """The check's spec; a partitioned check gets its table's ``partitions``."""
        return AssetCheckSpec(self.name, asset=self.asset, description=self.description, blocking=self.blocking,
                              partitions_def=partitions if self.partitioned else None)


def contract_checks(
    key: AssetKey,
    model: Type[DataFrameModel],
    primary_key: Sequence[str],
    date_column: Optional[str] = None,
) -> list[TableCheck]:
    """The pandera contract and primary-key uniqueness of one table (both blocking).

    Audited on the covered days when ``date_column`` is given; when the key does not contain the
    date column, the days' keys are looked up in the whole table, since a key may then collide
    across days.
    """
    table = "/".join(key.path)
    partitioned = date_column is not None
    checks = [TableCheck(
        key, "matches_contract", f"pandera {model.__name__}: column types, nullability and value rules.",
        lambda tables: pandera_check(model, tables.read(table, date_column), primary_key), partitioned=partitioned,
    )]
    if primary_key:
        def unique(tables: Tables) -> AssetCheckResult:
            rows = tables.read(table, date_column)
            if partitioned and date_column not in primary_key:
                rows = tables.delta.lookup_keys(table, rows, primary_key)
            return unique_key_check(rows, primary_key)

        checks.append(TableCheck(key, "primary_key_unique", f"({', '.join(primary_key)}) identifies one row.",
                                 unique, partitioned=partitioned))
    return checks


def check_specs(checks: Sequence[TableCheck], partitions: Optional[PartitionsDefinition] = None) -> list[AssetCheckSpec]:
    return [c.spec(partitions) for c in checks]


IN_STEP = "the frame the step wrote"
COMMITTED = "the tables as the step committed them"
AUDIT = "the stored tables (audit)"


def evaluate(
    checks: Sequence[TableCheck],
    tables: Tables,
    held: Optional[Mapping[str, Callable[[], AssetCheckResult]]] = None,
) -> Iterator[Union[AssetCheckResult, AssetCheckEvaluation]]:
    """The step's results for ``checks``: from ``held`` (computations on what the step holds,
    by check name) where given, else the check's audit of what the step just committed.
    For a range of days, each partitioned check also gets one evaluation per day."""
    held = held or {}
    for check in checks:
        computed = held.get(check.name)
        result = labelled(check, computed() if computed else check.audit(tables), IN_STEP if computed else COMMITTED)
        yield result
        yield from per_day(check, result, tables)


def per_day(
    check: TableCheck, result: AssetCheckResult, tables: Tables, evaluated_from: str = COMMITTED
) -> Iterator[AssetCheckEvaluation]:
    """A partitioned check's outcome for each day of a range run, so every partition shows its own.

    Dagster records a range run's check result without a partition. A range that passed passed on
    every day; a range that failed is audited day by day from the committed slices, so each day
    carries its own verdict and counts.
    """
    if not check.partitioned or tables.start is None or tables.start == tables.end:
        return
    day = tables.start
    while day <= tables.end:
        outcome = result
        if not result.passed:
            outcome = labelled(check, check.audit(replace(tables, start=day, end=day)), evaluated_from)
        metadata = {**(outcome.metadata or {})}
        if outcome is result:
            metadata["evaluated_over"] = MetadataValue.text(f"{tables.start.isoformat()}..{tables.end.isoformat()}")
        yield AssetCheckEvaluation(asset_key=check.asset, check_name=check.name, passed=outcome.passed,
                                   metadata=metadata, severity=check.severity, blocking=check.blocking,
                                   partition=day.isoformat())
        day += timedelta(days=1)


def aimed_at_its_day(instance: Any, evaluation: Any, cache: Optional[dict] = None) -> Any:
    """A day's ``AssetCheckEvaluation`` pointed at the latest materialization of that day.

    Dagster counts a partition's check result only while it targets the partition's latest
    materialization (the UI's per-partition status; otherwise the day shows as Missing). An
    ``AssetCheckResult`` is aimed by Dagster itself, but the per-day evaluations of a range are
    built by hand, so each is aimed here, when Dagster takes it from the step: after the step's
    materializations are stored. Anything else is returned as it is. ``cache`` keeps lookups
    per (asset, day) within one step.
    """
    from dagster import AssetRecordsFilter
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # no public name
        AssetCheckEvaluationTargetMaterializationData,
    )

    if not isinstance(evaluation, AssetCheckEvaluation) or evaluation.partition is None \
            or evaluation.target_materialization_data is not None:
        return evaluation
    cache = {} if cache is None else cache
    where = (evaluation.asset_key, evaluation.partition)
    if where not in cache:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=evaluation.asset_key, asset_partitions=[evaluation.partition]), limit=1).records
        cache[where] = AssetCheckEvaluationTargetMaterializationData(
            storage_id=records[0].storage_id, run_id=records[0].run_id, timestamp=records[0].timestamp,
        ) if records else None
    if cache[where] is None:
        return evaluation
    return AssetCheckEvaluation(
        asset_key=evaluation.asset_key, check_name=evaluation.check_name, passed=evaluation.passed,
        metadata=evaluation.metadata, target_materialization_data=cache[where], severity=evaluation.severity,
        description=evaluation.description, blocking=evaluation.blocking, partition=evaluation.partition,
    )


def labelled(check: TableCheck, result: AssetCheckResult, evaluated_from: str) -> AssetCheckResult:
    """``result`` addressed to ``check``, with its severity and what it was computed from."""
    return AssetCheckResult(passed=result.passed, asset_key=check.asset, check_name=check.name,
                            severity=check.severity, description=result.description,
                            metadata={**(result.metadata or {}), "evaluated_from": evaluated_from})

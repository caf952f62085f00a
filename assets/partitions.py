"""Daily partitions and the date slice a run covers.

A run materializes one day or, as a single-run backfill, a range of days; every
asset turns its partition (range) into an inclusive ``[start, end]`` date slice.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Union

from dagster import AssetCheckExecutionContext, AssetExecutionContext, BackfillPolicy, DailyPartitionsDefinition

from resources.settings import LakehouseSettings

daily_partitions = DailyPartitionsDefinition(start_date=LakehouseSettings.from_env().start_date)

# One Spark job for a whole range: the CLI's --partition-range and UI backfills
# run every selected day in a single run instead of one run per day.
single_run = BackfillPolicy.single_run()


def partition_dates(context: Union[AssetExecutionContext, AssetCheckExecutionContext]) -> tuple[date, date]:
    """The inclusive first and last day of the run's partition or partition range."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def between(column: str, start: date, end: date) -> str:
    """A SQL predicate for ``start <= column <= end``, as Delta's replaceWhere wants."""
    return f"{column} >= DATE'{start.isoformat()}' AND {column} <= DATE'{end.isoformat()}'"


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]

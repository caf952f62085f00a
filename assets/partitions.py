"""Daily partitions, how tables' days depend on each other, and the date slice a run covers.

A run materializes one day or, as a single-run backfill, a range of days; every
asset turns its partition (range) into an inclusive ``[start, end]`` date slice.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Optional, Union

from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    BackfillPolicy,
    DailyPartitionsDefinition,
    TimeWindowPartitionMapping,
)


def daily_partitions(first_day: str, last_day: Optional[str] = None) -> DailyPartitionsDefinition:
    """One partition per day from ``first_day`` to ``last_day`` (ISO dates, both included; no
    ``last_day``: up to today). Built from the settings by ``build_definitions``."""
    # The end is exclusive in Dagster; the settings name the last day.
    end = (date.fromisoformat(last_day) + timedelta(days=1)).isoformat() if last_day else None
    return DailyPartitionsDefinition(start_date=first_day, end_date=end)


# Orders land up to this many days after their order day (the generator's and the
# feeds' contract); an order day's gold partition depends on that many later landings.
MAX_LATENESS_DAYS = 3

# "Every earlier day" for day-partitioned dependencies: Dagster clips the window
# to the partitions that exist, so a century reaches back to the first one.
EVERY_EARLIER_DAY = -36_500

# A gold order day reads the landing days that can hold its orders.
landed_by_then_and_late = TimeWindowPartitionMapping(
    start_offset=0, end_offset=MAX_LATENESS_DAYS, allow_nonexistent_upstream_partitions=True
)
# Cumulative tables (lifetime value, point-in-time features) read all history up to their day.
history_up_to_day = TimeWindowPartitionMapping(start_offset=EVERY_EARLIER_DAY, end_offset=0)
history_up_to_day_and_late = TimeWindowPartitionMapping(
    start_offset=EVERY_EARLIER_DAY, end_offset=MAX_LATENESS_DAYS, allow_nonexistent_upstream_partitions=True
)

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


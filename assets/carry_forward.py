"""Carrying cumulative tables forward: the previous day's partition and the silver version behind it.

Lifetime value and the features for day D follow from day D-1's values plus D's changes. Each
row records the ``silver/orders`` Delta version it was computed from (``_orders_version``), so a
run can ask Delta's log what changed in silver since then (``DeltaLakeResource.changes_since``)
and decide whether D-1 can be carried or everything must be recomputed (the definition).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Optional

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.transforms.gold import changed_lines
from resources.delta import DeltaLakeResource

ORDERS = "silver/orders"
VERSION_COLUMN = "_orders_version"


@dataclass
class Previous:
    """The partition of the day before a run, when it can be carried forward."""

    day: date
    rows: DataFrame
    version: int  # the silver/orders version its rows were computed from


@dataclass
class Computation:
    """How a run computed its days: what the metadata and the log say."""

    description: str  # "carried forward from D" or "full recompute: <why>"
    orders_version: int  # the silver/orders version written to the rows
    slices: list[str] = field(default_factory=list)  # the silver/orders predicates read

    def metadata(self) -> dict:
        return {
            "computation": self.description,
            "incremental": self.description.startswith("carried forward"),
            "orders_version": self.orders_version,
            "orders_slices_read": self.slices,
        }


def previous_day(delta: DeltaLakeResource, table: str, start: date) -> tuple[Optional[Previous], str]:
    """The partition of ``start - 1`` and the silver version behind it, or None and why not."""
    day = start - timedelta(days=1)
    if not delta.exists(table):
        return None, f"{table} does not exist yet"
    # Pinned to the version checked here: a run for day D-1 may replace that partition meanwhile,
    # and an unpinned read would see its new rows, which already count what D adds again.
    rows = delta.read_version(table, delta.version(table), f"as_of_date = DATE'{day.isoformat()}'")
    if VERSION_COLUMN not in rows.columns:
        return None, f"{table} has no {VERSION_COLUMN} column yet"
    n, known, low, high = rows.agg(
        F.count(F.lit(1)), F.count(VERSION_COLUMN), F.min(VERSION_COLUMN), F.max(VERSION_COLUMN)
    ).first()
    if n == 0:
        return None, f"previous day {day.isoformat()} missing"
    if known != n or low != high:
        return None, f"previous day {day.isoformat()} was not computed from one silver/orders version"
    return Previous(day, rows, int(low)), ""


def stamp(previous: Previous, files_added: int, files_removed: int, now: int) -> int:
    """The version to record for a carried run: the previous one when silver's files did not change
    since (the same data, so re-running a day rewrites identical rows), else the version read."""
    return previous.version if files_added == 0 and files_removed == 0 else now


def with_version(df: DataFrame, version: int) -> DataFrame:
    return df.withColumn(VERSION_COLUMN, F.lit(version).cast("long"))


def ensure_version_column(delta: DeltaLakeResource, table: str) -> None:
    """Tables written before carry-forward lack the column: add it (older rows read as null, so
    their days are recomputed in full once, when the next day needs them)."""
    if delta.exists(table) and VERSION_COLUMN not in delta.read(table).columns:
        delta.session.sql(f"ALTER TABLE {delta.sql_name(table)} ADD COLUMNS ({VERSION_COLUMN} BIGINT)")


def lines_changed_since(
    delta: DeltaLakeResource, version: int, now: int, landing_days, through: date
) -> tuple[str, DataFrame, DataFrame, DataFrame]:
    """The order lines of ``landing_days`` with an order day up to ``through``, at ``version`` and
    ``now``: (predicate, lines at ``version``, lines added since, lines removed since). A landing
    day whose files were only rewritten (compaction) has neither added nor removed lines."""
    days = ", ".join(f"DATE'{d}'" for d in sorted(landing_days))
    where = f"_landed_date IN ({days}) AND order_date <= DATE'{through.isoformat()}'"
    before = delta.read_version(ORDERS, version, where)
    added, removed = changed_lines(before, delta.read_version(ORDERS, now, where))
    return where, before, added, removed


def union_all(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out

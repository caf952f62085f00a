"""The landing sensor: notices new and changed files and requests bronze runs for them.

Each tick lists the landing zone (a directory or an object-store prefix, through
the same ``LandingZoneResource``) and compares it with the ingestion log, which
says which version of every file bronze already holds. The cursor stays small
however many files have landed: a modification-time watermark (files older than
it, minus a safety overlap, are not looked at again) and the few files seen once
but not yet known to be complete.

- A file is complete when its modification time is ``settle_seconds`` old, or its
  size and modification time held across two ticks; writers that name files
  ``_*``/``.*`` until they are done are never seen half-written.
- Ready files are grouped by day; consecutive days share a run, one partition
  range and one Spark session (a source ingests only the files listed for it). The run key is a digest of
  the files' paths, sizes and modification times: a replayed tick requests
  nothing new, and a file rewritten under the same name gets a new run.
- Files outside the daily partitions (no ``date=`` folder, or a day before the
  first partition) cannot be routed; they are reported, never silently dropped.
- The backlog (files not yet in the log, oldest waiting age) is recorded as an
  observation of each bronze asset whenever it changes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import groupby
from typing import Iterable, Optional, Sequence

from dagster import (
    AssetKey,
    AssetObservation,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
# Private but unavoidable: dagster 1.13 has no public RunRequest argument or name for a partition-range run's tags.
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from assets.bronze import SOURCE_BY_NAME
from resources.ingestion_log import IngestionEntry, IngestionLogResource
from resources.landing import LandedFile, LandingZoneResource

SOURCES = tuple(SOURCE_BY_NAME)
# Object stores date an object by the start of its upload, and clocks drift: look
# back this far behind the watermark so a slow upload is not skipped.
OVERLAP_NS = 15 * 60 * 10**9
INGESTION_TAG = "lakehouse/ingestion"


@dataclass
class LandingCursor:
    watermark_ns: int = 0  # files modified at or before this (minus the overlap) were handled
    settling: dict[str, list[int]] = field(default_factory=dict)  # path -> [size, mtime_ns] seen once
    requested: dict[str, list[int]] = field(default_factory=dict)  # path -> [size, mtime_ns] in a run, not logged
    backlog: dict[str, list[int]] = field(default_factory=dict)  # source -> [waiting, oldest age min] reported

    def to_json(self) -> str:
        return json.dumps(
            {"w": self.watermark_ns, "s": self.settling, "r": self.requested, "b": self.backlog}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: Optional[str]) -> "LandingCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(int(data.get("w", 0)), data.get("s", {}), data.get("r", {}), data.get("b", {}))


@dataclass(frozen=True)
class TickPlan:
    ready: list[LandedFile]  # complete, not yet ingested in this version: to request
    settling: list[LandedFile]  # seen for the first time and still recent: wait a tick
    unroutable: list[tuple[LandedFile, str]]  # cannot map to a daily partition
    waiting: dict[str, list[LandedFile]]  # per source, every listed file not in the log in this version
    cursor: LandingCursor


def plan_tick(
    files: Iterable[LandedFile],
    logged: dict[tuple[str, str], IngestionEntry],
    cursor: LandingCursor,
    *,
    now_ns: int,
    settle_seconds: int,
    first_day: date,
    last_day: Optional[date],
) -> TickPlan:
    """Decide what a tick requests. Pure: the listing, the log and the cursor in, a plan out."""
    ready, settling, unroutable = [], [], []
    waiting: dict[str, list[LandedFile]] = {source: [] for source in SOURCES}
    next_settling: dict[str, list[int]] = {}
    # Files requested on an earlier tick stay out of new runs until the log has them
    # (or they fall behind the watermark), so a file is not in two runs at once.
    in_flight = {
        path: version for path, version in cursor.requested.items()
        if version[1] > cursor.watermark_ns - OVERLAP_NS
    }
    newest_seen = cursor.watermark_ns
    oldest_settling: Optional[int] = None
    for f in files:
        entry = logged.get((f.source, f.path))
        if entry is not None and entry.fingerprint == f.fingerprint:
            in_flight.pop(f.path, None)
            continue  # this version is in bronze (or quarantined) already
        waiting.setdefault(f.source, []).append(f)
        if f.mtime_ns <= cursor.watermark_ns - OVERLAP_NS:
            continue  # requested on an earlier tick; a failed run is retried from the UI
        if f.landed_date is None:
            unroutable.append((f, f.unroutable_reason))
            continue
        if f.landed_date < first_day or (last_day is not None and f.landed_date > last_day):
            unroutable.append((f, f"day {f.landed_date} is outside the daily partitions"))
            continue
        if in_flight.get(f.path) == [f.size, f.mtime_ns]:
            continue
        stable = cursor.settling.get(f.path) == [f.size, f.mtime_ns]
        if stable or now_ns - f.mtime_ns >= settle_seconds * 10**9:
            ready.append(f)
            newest_seen = max(newest_seen, f.mtime_ns)
        else:
            settling.append(f)
            next_settling[f.path] = [f.size, f.mtime_ns]
            oldest_settling = f.mtime_ns if oldest_settling is None else min(oldest_settling, f.mtime_ns)
    # The watermark never passes a file still settling: it must be looked at again.
    watermark = newest_seen if oldest_settling is None else min(newest_seen, oldest_settling - 1)
    watermark = max(watermark, cursor.watermark_ns)
    in_flight.update({f.path: [f.size, f.mtime_ns] for f in ready})
    return TickPlan(ready, settling, unroutable, waiting,
                    LandingCursor(watermark, next_settling, in_flight, dict(cursor.backlog)))


def run_requests(ready: Sequence[LandedFile]) -> list[RunRequest]:
    """One run per stretch of consecutive days that received files.

    The run selects every source with a file in the stretch and lists each source's
    files, so a source that landed nothing on some day of the range ingests nothing there.
    """
    by_day: dict[date, list[LandedFile]] = {}
    for f in ready:
        by_day.setdefault(f.landed_date, []).append(f)
    stretches: list[list[date]] = []
    for day in sorted(by_day):
        if stretches and day - stretches[-1][-1] == timedelta(days=1):
            stretches[-1].append(day)
            continue
        stretches.append([day])
    requests = []
    for stretch in stretches:
        files = sorted((f for day in stretch for f in by_day[day]), key=lambda f: (f.source, f.path))
        digest = hashlib.sha256(
            "\n".join(f"{f.source}|{f.path}|{f.size}|{f.mtime_ns}" for f in files).encode()
        ).hexdigest()[:20]
        first, last = stretch[0].isoformat(), stretch[-1].isoformat()
        by_source = {source: [f.path for f in group] for source, group in groupby(files, key=lambda f: f.source)}
        tags = {INGESTION_TAG: "landing_sensor"}
        if first != last:
            tags.update({ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})
        requests.append(
            RunRequest(
                run_key=f"landing:{first}..{last}:{digest}",
                asset_selection=_bronze_keys(sorted(by_source)),
                partition_key=first if first == last else None,
                run_config={"ops": {SOURCE_BY_NAME[s].step: {"config": {"files": paths}} for s, paths in by_source.items()}},
                tags=tags,
            )
        )
    return requests


def _bronze_keys(sources: Iterable[str]) -> list[AssetKey]:
    """The tables and reject tables of ``sources``: what a bronze run of them writes."""
    sources = list(sources)
    return [SOURCE_BY_NAME[s].key for s in sources] + [SOURCE_BY_NAME[s].rejects_key for s in sources]


def backlog_observations(plan: TickPlan, now_ns: int) -> list[AssetObservation]:
    """An observation per bronze asset whose backlog changed since the last one reported."""
    observations = []
    for source, waiting in sorted(plan.waiting.items()):
        oldest = max((now_ns - f.mtime_ns) // 10**9 for f in waiting) if waiting else 0
        # Report ages at minute resolution, so a steady backlog is not re-reported every tick.
        state = [len(waiting), int(oldest // 60)]
        if plan.cursor.backlog.get(source) == state:
            continue
        plan.cursor.backlog[source] = state
        observations.append(
            AssetObservation(
                asset_key=SOURCE_BY_NAME[source].key,
                metadata={
                    "landing_files_waiting": len(waiting),
                    "landing_bytes_waiting": sum(f.size for f in waiting),
                    "oldest_waiting_file_age_seconds": int(oldest),
                },
            )
        )
    return observations


def build_landing_sensor(
    first_day: date, last_day: Optional[date], interval_seconds: int, settle_seconds: int, running: bool
) -> SensorDefinition:
    @sensor(
        name="landing_files",
        description="Requests bronze runs for landed files not yet ingested in their current version.",
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        asset_selection=_bronze_keys(SOURCES),
    )
    def landing_files(
        context: SensorEvaluationContext, landing: LandingZoneResource, ingestion_log: IngestionLogResource
    ):
        now_ns = time.time_ns()
        cursor = LandingCursor.from_json(context.cursor)
        files = [f for source in SOURCES for f in landing.iter_files(source)]
        plan = plan_tick(files, ingestion_log.entries(), cursor, now_ns=now_ns, settle_seconds=settle_seconds,
                         first_day=first_day, last_day=last_day)
        for f, reason in plan.unroutable:
            context.log.warning(f"cannot route {f.path}: {reason}; move it under <source>/date=YYYY-MM-DD/")
        observations = backlog_observations(plan, now_ns)
        requests = run_requests(plan.ready)
        waiting = sum(len(v) for v in plan.waiting.values())
        summary = (f"{len(files)} landed file(s): {len(plan.ready)} ready, {len(plan.settling)} settling "
                   f"(size and modification time must hold for a tick), {len(plan.unroutable)} unroutable, "
                   f"{waiting} not yet ingested")
        context.log.info(summary)
        if requests:
            return SensorResult(run_requests=requests, cursor=plan.cursor.to_json(), asset_events=observations)
        return SensorResult(skip_reason=SkipReason(f"No new complete files. {summary}"),
                            cursor=plan.cursor.to_json(), asset_events=observations)

    return landing_files

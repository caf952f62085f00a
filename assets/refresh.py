"""``daily_refresh``: every asset of the graph as one named, daily-partitioned job, and its schedule.

Runs of it show the job's name in the UI (not ``__ASSET_JOB``). Every partitioned asset has
``BackfillPolicy.single_run()``, so the job's own backfill policy is single-run too: a day is one
run, and a range of days launched from the job's page is also ONE run (a partition range), in
which the unpartitioned assets (the dimensions, the report) run once, whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    PartitionsDefinition,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

if TYPE_CHECKING:  # what define_asset_job returns; dagster exports no public name for it
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

JOB_NAME = "daily_refresh"
SCHEDULE_NAME = "daily_refresh_schedule"


def build_daily_refresh_job(partitions: PartitionsDefinition) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        JOB_NAME,
        selection=AssetSelection.all(),
        partitions_def=partitions,
        description="Every table for a landing day (or, as one run, a range of days): bronze ingests the day's "
        "new files, silver, gold, features and the report follow; each table's checks run in its step.",
    )


def build_daily_refresh_schedule(job: UnresolvedAssetJobDefinition, running: bool) -> ScheduleDefinition:
    """The previous day's refresh, daily at 01:00 UTC (before table maintenance at 03:00 and the
    audit at 06:00); running by default only when automation is on (``LAKEHOUSE_AUTOMATION``)."""
    return build_schedule_from_partitioned_job(
        job, hour_of_day=1, name=SCHEDULE_NAME,
        default_status=DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED,
        description="Refreshes every table for yesterday's partition.",
    )

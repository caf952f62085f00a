"""Table maintenance: the daily ``table_maintenance`` job and its schedule.

A table rewritten every day for years keeps every file it ever replaced and a commit per write,
unless something compacts and vacuums it. For every Delta table of the platform (the asset
graph's keys ``layer/name`` are the tables' paths under the table root, plus the ingestion log),
one step per table:

1. ``apply_table_properties``: log and deleted-file retention, checkpoint interval (a commit
   only when they differ);
2. ``OPTIMIZE``: bin-packs small files (the replaced ones are only tombstoned, so readers in
   flight and time travel keep working);
3. ``VACUUM`` with the retention (at least 7 days): deletes files no version within it needs.

What each step measured is its output metadata and, for asset tables, an ``AssetObservation``
on the table's asset, so the UI shows on each asset how big it is and what maintenance reclaimed.
"""

# No ``from __future__ import annotations``: Dagster reads the ops' annotations (context, config,
# resources) as types, not strings.
import re
from typing import Iterable, Optional, Sequence

from dagster import (
    AssetKey,
    AssetObservation,
    Config,
    DefaultScheduleStatus,
    DynamicOut,
    DynamicOutput,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunConfig,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from assets.metadata import table_of
from resources.delta import DeltaLakeResource
from resources.ingestion_log import LOG_TABLE
from resources.landing_schemas import SCHEMA_TABLE
from resources.settings import MIN_VACUUM_RETENTION_HOURS

JOB_NAME = "table_maintenance"
# Delta tables that are not assets but grow with every run.
SYSTEM_TABLES: tuple[str, ...] = (LOG_TABLE, SCHEMA_TABLE)
# 03:00 UTC: after the day's landings and their automation runs, before the working day.
DAILY_AT_3_UTC = "0 3 * * *"


class TableMaintenanceConfig(Config):
    vacuum_retention_hours: int = Field(
        default=MIN_VACUUM_RETENTION_HOURS,
        description="VACUUM keeps files that versions of the last this many hours need (time travel, readers "
        f"in flight); at least {MIN_VACUUM_RETENTION_HOURS}. Defaults to LAKEHOUSE_VACUUM_RETENTION_HOURS.",
    )


def _mapping_key(table: str) -> str:
    """A step name suffix Dagster accepts (letters, digits, underscores): ``silver__orders``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", table.replace("/", "__"))


def observation_metadata(
    delta: DeltaLakeResource, table: str, properties_changed: dict[str, str], compaction: dict[str, int],
    vacuum: dict[str, int],
) -> dict[str, object]:
    """What a maintenance step measured, as metadata: compaction, vacuum, and the table's size after."""
    return {
        "dagster/uri": MetadataValue.path(delta.uri(table)),
        "delta_version": vacuum["version"],
        "properties_changed": ", ".join(f"{k}={v}" for k, v in sorted(properties_changed.items())) or "none",
        "files_compacted_from": compaction["files_compacted_from"],
        "files_compacted_into": compaction["files_compacted_into"],
        "bytes_compacted_from": compaction["bytes_compacted_from"],
        "vacuum_retention_hours": vacuum["retain_hours"],
        "files_vacuumed": vacuum["files_deleted"],
        "bytes_vacuumed": vacuum["bytes_deleted"],
        "live_files": vacuum["live_files"],
        "live_bytes": vacuum["live_bytes"],
        "data_files_on_disk": vacuum["data_files_on_disk"],
        "data_bytes_on_disk": vacuum["data_bytes_on_disk"],
        "unreferenced_bytes": vacuum["unreferenced_bytes"],
        "log_bytes": vacuum["log_bytes"],
    }


def build_table_maintenance_job(
    asset_keys: Iterable[AssetKey],
    *,
    system_tables: Sequence[str] = SYSTEM_TABLES,
    vacuum_retention_hours: int = MIN_VACUUM_RETENTION_HOURS,
) -> JobDefinition:
    """The ``table_maintenance`` job over the tables of ``asset_keys`` and ``system_tables``.

    ``vacuum_retention_hours`` (``LakehouseSettings.vacuum_retention_hours``) becomes the job's
    default run config, which a launch may override. Tables that do not exist yet (never
    materialized, or assets that are not Delta tables, like the reports) are skipped.
    """
    DeltaLakeResource.require_safe_vacuum_retention(vacuum_retention_hours)
    asset_by_table: dict[str, Optional[AssetKey]] = {table_of(key): key for key in sorted(set(asset_keys))}
    asset_by_table.update({table: None for table in system_tables})

    @op(out=DynamicOut(str), description="The platform's Delta tables that exist, one output per table.")
    def existing_delta_tables(context: OpExecutionContext, delta: DeltaLakeResource):
        for table in asset_by_table:
            if delta.exists(table):
                yield DynamicOutput(table, mapping_key=_mapping_key(table))
            else:
                context.log.info(f"table={table} skipped: no Delta table at {delta.uri(table)} yet")

    @op(description="Retention properties, OPTIMIZE, then VACUUM of one table; what was measured as metadata.")
    def maintain_table(
        context: OpExecutionContext, config: TableMaintenanceConfig, delta: DeltaLakeResource, table: str
    ) -> Output[dict]:
        retain_hours = config.vacuum_retention_hours
        delta.require_safe_vacuum_retention(retain_hours)  # before touching anything
        changed = delta.apply_table_properties(table, retain_hours)
        compaction = delta.optimize(table)
        vacuum = delta.vacuum(table, retain_hours)
        metadata = observation_metadata(delta, table, changed, compaction, vacuum)
        context.log.info(
            f"table={table} properties_changed={sorted(changed) or 'none'} "
            f"files_compacted_from={compaction['files_compacted_from']} "
            f"files_compacted_into={compaction['files_compacted_into']} "
            f"files_vacuumed={vacuum['files_deleted']} bytes_vacuumed={vacuum['bytes_deleted']} "
            f"live_files={vacuum['live_files']} live_bytes={vacuum['live_bytes']} "
            f"data_bytes_on_disk={vacuum['data_bytes_on_disk']} version={vacuum['version']}"
        )
        asset_key = asset_by_table[table]
        if asset_key is not None:
            context.log_event(AssetObservation(asset_key=asset_key, metadata=metadata))
        return Output({"table": table, **compaction, **vacuum}, metadata=metadata)

    @job(
        name=JOB_NAME,
        description="Compacts and vacuums every Delta table of the lakehouse and keeps its retention properties.",
        config=RunConfig(ops={"maintain_table": TableMaintenanceConfig(vacuum_retention_hours=vacuum_retention_hours)}),
    )
    def table_maintenance():
        existing_delta_tables().map(maintain_table)

    return table_maintenance


def build_table_maintenance_schedule(maintenance_job: JobDefinition, running: bool) -> ScheduleDefinition:
    """``table_maintenance`` daily at 03:00 UTC; running by default only when automation is on
    (``LAKEHOUSE_AUTOMATION``), like the sensors."""
    return ScheduleDefinition(
        name=f"{JOB_NAME}_daily",
        job=maintenance_job,
        cron_schedule=DAILY_AT_3_UTC,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED,
        description="Compaction, VACUUM and retention properties for every table, once a day.",
    )

"""The audit: every table's checks recomputed from the stored tables alone.

Asset steps evaluate their checks from what they hold (``assets/quality/checks.py``); the
``audit_tables`` job recomputes the same checks by reading the committed tables, so a bug
between a step's frame and what Delta stored is still caught. Its results are recorded as
evaluations of the same checks (metadata ``evaluated_from``: the stored tables), so the UI's
check history shows both. It runs daily for the previous day, and from the UI for any day or
range (Jobs, ``audit_tables``, a partition or a range); a failed blocking check fails the run.
"""

from typing import Iterator, Sequence

from dagster import (
    AssetCheckEvaluation,
    DefaultScheduleStatus,
    JobDefinition,
    OpExecutionContext,
    PartitionsDefinition,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    job,
    op,
)

from assets.metadata import table_of
from assets.partitions import partition_dates
from assets.quality.checks import AUDIT, Tables, TableCheck, aimed_at_its_day, labelled, per_day
from resources.delta import DeltaLakeResource
from resources.ingestion_log import IngestionLogResource

JOB_NAME = "audit_tables"


def build_audit_job(checks: Sequence[TableCheck], partitions: PartitionsDefinition) -> JobDefinition:
    """``audit_tables``: one op evaluating ``checks`` on the run's day (or range) from the stored tables."""

    @op(out={}, description="Recompute every table check from the committed tables; a failed blocking check fails the op.")
    def audit_stored_tables(
        context: OpExecutionContext, delta: DeltaLakeResource, ingestion_log: IngestionLogResource
    ) -> Iterator[AssetCheckEvaluation]:
        start, end = partition_dates(context)
        day = start.isoformat() if start == end else None
        targets: dict = {}
        for check in checks:
            table = table_of(check.asset)
            if not delta.exists(table):
                context.log.info(f"{table}:{check.name} not audited: the table does not exist yet")
                continue
            tables = Tables(delta, ingestion_log, start, end) if check.partitioned else Tables(delta, ingestion_log)
            result = labelled(check, check.audit(tables), AUDIT)
            context.log.info(f"{table}:{check.name} {'passed' if result.passed else 'FAILED'} ({start}..{end})")
            # each day's evaluation targets the day's latest materialization, so it counts for the day
            yield aimed_at_its_day(context.instance, AssetCheckEvaluation(
                asset_key=check.asset, check_name=check.name, passed=result.passed, metadata=result.metadata,
                severity=check.severity, blocking=check.blocking, partition=day if check.partitioned else None,
            ), targets)
            for evaluation in per_day(check, result, tables, AUDIT):
                yield aimed_at_its_day(context.instance, evaluation, targets)

    @job(name=JOB_NAME, partitions_def=partitions,
         description="Audit: every table check recomputed from the stored tables for a day or a range of days.")
    def audit_tables():
        audit_stored_tables()

    return audit_tables


def build_audit_schedule(audit_job: JobDefinition, running: bool) -> ScheduleDefinition:
    """The audit of the previous day, daily at 06:00 UTC (after the landing day has been processed);
    running by default only when automation is on (``LAKEHOUSE_AUTOMATION``), like the sensors."""
    return build_schedule_from_partitioned_job(
        audit_job, hour_of_day=6, name=f"{JOB_NAME}_daily",
        default_status=DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED,
        description="The audit of yesterday's partition of every table, from the stored tables.",
    )

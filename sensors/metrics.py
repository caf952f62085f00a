"""Sensors that turn what the Dagster instance recorded into Prometheus metrics.

A finished run's numbers are in the instance already: its record (start, end, outcome), its
steps' stats, the metadata of its materializations (``dagster/row_count``, ``rows_in``,
``rows_out``, ``rows_quarantined``, ``rows_rejected``, ``lineage_events_dropped``; see
assets/metadata.py) and its check evaluations (every check's ``failure_count``). Run-status
sensors read them after the run, in the code location's process, so a run never waits on
monitoring and a Pushgateway that is down can never fail it. A second sensor pushes what is
true now: the landing backlog (computed as the landing sensor computes it) and the size of
every Delta table (read from its log with delta-rs; no Spark). The metrics themselves are
declared in resources/metrics.py.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date
from typing import Any, Optional, Sequence

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)

from resources.delta import DeltaLakeResource
from resources.ingestion_log import IngestionLogResource
from resources.landing import LandingZoneResource
from resources.metrics import (
    ASSET_MATERIALIZED,
    ASSET_ROWS,
    ASSET_ROWS_IN,
    ASSET_ROWS_OUT,
    ASSET_ROWS_QUARANTINED,
    ASSET_ROWS_REJECTED,
    ASSET_STEP_DURATION,
    ASSETS,
    CHECK_FAILURES,
    CHECK_PASSED,
    CHECKS,
    LANDING_AGE,
    LANDING_BYTES,
    LANDING_FILES,
    LAST_RUN_DURATION,
    LAST_RUN_FAILED_STEPS,
    LAST_RUN_FINISHED,
    LAST_RUN_SUCCESS,
    LINEAGE_DROPPED,
    RUNS,
    RUNS_TOTAL,
    STATE,
    TABLE_BYTES,
    TABLE_FILES,
    TABLE_VERSION,
    UNPARTITIONED,
    Push,
    PushgatewayResource,
)
from assets.metadata import table_of
from sensors.landing import SOURCES, LandingCursor, backlog_observations, plan_tick

OUTCOMES = {"success": DagsterRunStatus.SUCCESS, "failure": DagsterRunStatus.FAILURE,
            "canceled": DagsterRunStatus.CANCELED}
# Where a write's row counts are, most specific first: silver's accounting, a day-partitioned
# write's whole-run count, the materialization's own count.
ROWS_OUT_KEYS = ("rows_out", "run_row_count", "dagster/row_count")


def partition_label(partitions: Sequence[Optional[str]]) -> str:
    """One label for the partitions a write covered: the day, ``first...last`` for a range (the
    notation of Dagster's partition ranges), or ``unpartitioned``."""
    keys = sorted({p for p in partitions if p})
    if not keys:
        return UNPARTITIONED
    return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"


def _values(metadata: dict) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_pushes(instance: DagsterInstance, run_id: str) -> list[Push]:
    """What one finished run recorded, as Pushgateway groups: the job's, and one per table the
    run wrote and per table whose checks it evaluated."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return []
    run = record.dagster_run
    job = run.job_name
    runs = Push(RUNS, job)
    for outcome, status in OUTCOMES.items():
        runs.set(RUNS_TOTAL, instance.get_runs_count(RunsFilter(job_name=job, statuses=[status])), outcome=outcome)
    if record.start_time is not None and record.end_time is not None:
        runs.set(LAST_RUN_DURATION, record.end_time - record.start_time)
    if record.end_time is not None:
        runs.set(LAST_RUN_FINISHED, record.end_time)
    runs.set(LAST_RUN_SUCCESS, 1 if run.status == DagsterRunStatus.SUCCESS else 0)
    steps = {s.step_key: s for s in instance.get_run_step_stats(run_id)}
    runs.set(LAST_RUN_FAILED_STEPS, sum(1 for s in steps.values() if s.status and s.status.value == "FAILURE"))

    entries = instance.all_logs(run_id, of_type={DagsterEventType.ASSET_MATERIALIZATION,
                                                 DagsterEventType.ASSET_CHECK_EVALUATION})
    writes: dict[str, list] = defaultdict(list)  # table -> [(entry, materialization)]
    evaluations: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))  # table -> check -> evals
    dropped = 0.0
    for entry in entries:
        event = entry.dagster_event
        data = event.event_specific_data
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            writes[table_of(data.materialization.asset_key)].append((entry, data.materialization))
            metadata = data.materialization.metadata
        else:
            evaluations[table_of(data.asset_key)][data.check_name].append(data)
            metadata = data.metadata
        dropped = max(dropped, _number(_values(metadata).get("lineage_events_dropped")) or 0.0)
    runs.set(LINEAGE_DROPPED, dropped)

    pushes = [runs]
    for table, events in sorted(writes.items()):
        push = Push(ASSETS, table)
        label = partition_label([m.partition for _, m in events])
        for _, materialization in events:
            rows = _number(_values(materialization.metadata).get("dagster/row_count"))
            if rows is not None:
                push.set(ASSET_ROWS, rows, partition=materialization.partition or UNPARTITIONED, dagster_job=job)
        last_entry, last = events[-1]
        metadata = _values(last.metadata)
        rows_out = next((_number(metadata[k]) for k in ROWS_OUT_KEYS if _number(metadata.get(k)) is not None), None)
        for metric, value in ((ASSET_ROWS_OUT, rows_out), (ASSET_ROWS_IN, _number(metadata.get("rows_in"))),
                              (ASSET_ROWS_QUARANTINED, _number(metadata.get("rows_quarantined"))),
                              (ASSET_ROWS_REJECTED, _number(metadata.get("rows_rejected")))):
            if value is not None:
                push.set(metric, value, partition=label, dagster_job=job)
        step = steps.get(last_entry.step_key or "")
        if step is not None and step.start_time is not None and step.end_time is not None:
            push.set(ASSET_STEP_DURATION, step.end_time - step.start_time, partition=label, dagster_job=job,
                     step=step.step_key)
        push.set(ASSET_MATERIALIZED, max(entry.timestamp for entry, _ in events), dagster_job=job)
        pushes.append(push)
    for table, checks in sorted(evaluations.items()):
        push = Push(CHECKS, table)
        for check, evals in sorted(checks.items()):
            passed, failures = check_outcome(evals)
            severity = evals[0].severity.value
            push.set(CHECK_PASSED, 1 if passed else 0, check=check, severity=severity, dagster_job=job)
            push.set(CHECK_FAILURES, failures, check=check, severity=severity, dagster_job=job)
        pushes.append(push)
    return pushes


def check_outcome(evaluations: Sequence[Any]) -> tuple[bool, float]:
    """A check's outcome in one run: passed when every evaluation passed; the failure count of
    the run's whole-range evaluation when there is one (a range run records it beside one per
    day), else the sum over the days evaluated."""
    passed = all(e.passed for e in evaluations)
    counts = [(e.partition, _number(_values(e.metadata).get("failure_count")) or 0.0) for e in evaluations]
    whole = [n for partition, n in counts if partition is None]
    return passed, whole[-1] if whole else sum(n for _, n in counts)


def state_pushes(
    landing: LandingZoneResource, ingestion_log: IngestionLogResource, delta: DeltaLakeResource,
    tables: Sequence[str], first_day: date, last_day: Optional[date], now_ns: Optional[int] = None,
) -> list[Push]:
    """The landing backlog per source and the size of each existing Delta table, now."""
    import pyarrow

    now_ns = time.time_ns() if now_ns is None else now_ns
    push = Push(STATE)
    files = [f for source in SOURCES for f in landing.iter_files(source)]
    # The landing sensor's own computation, from an empty cursor: every source is reported.
    plan = plan_tick(files, ingestion_log.entries(), LandingCursor(), now_ns=now_ns, settle_seconds=0,
                     first_day=first_day, last_day=last_day)
    for observation in backlog_observations(plan, now_ns):
        source = observation.asset_key.path[-1]
        values = _values(observation.metadata)
        push.set(LANDING_FILES, values["landing_files_waiting"], source=source)
        push.set(LANDING_BYTES, values["landing_bytes_waiting"], source=source)
        push.set(LANDING_AGE, values["oldest_waiting_file_age_seconds"], source=source)
    for table in tables:
        if not delta.exists(table):
            continue
        snapshot = delta.delta_rs_table(table)
        actions = pyarrow.table(snapshot.get_add_actions(flatten=True))
        push.set(TABLE_FILES, actions.num_rows, table=table)
        push.set(TABLE_BYTES, sum(actions.column("size_bytes").to_pylist()), table=table)
        push.set(TABLE_VERSION, snapshot.version(), table=table)
    return [push]


def _status(configured: bool) -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if configured else DefaultSensorStatus.STOPPED


def build_run_metrics_sensors(configured: bool, interval_seconds: int) -> list[SensorDefinition]:
    """One run-status sensor per final status that pushes the finished run's metrics; running by
    default when a Pushgateway is configured."""

    def build(status: DagsterRunStatus) -> SensorDefinition:
        @run_status_sensor(
            run_status=status,
            name=f"run_metrics_on_{status.value.lower()}",
            description=f"Pushes the metrics of each run that ends in {status.value} to the Pushgateway.",
            minimum_interval_seconds=interval_seconds,
            default_status=_status(configured),
        )
        def push_run_metrics(context: RunStatusSensorContext, pushgateway: PushgatewayResource):
            if not pushgateway.enabled:
                return None
            try:
                pushes = run_pushes(context.instance, context.dagster_run.run_id)
            except Exception as error:  # noqa: BLE001 - monitoring never fails a tick
                context.log.warning(f"Metrics of run {context.dagster_run.run_id} not computed: "
                                    f"{type(error).__name__}: {error}", exc_info=True)
                return None
            pushed = pushgateway.push(pushes, context.log)
            context.log.info(f"run {context.dagster_run.run_id} ({context.dagster_run.job_name}): "
                             f"{pushed} of {len(pushes)} metric group(s) pushed")
            return None  # None lets the sensor go on to the next finished run in the same tick

        return push_run_metrics

    return [build(DagsterRunStatus.SUCCESS), build(DagsterRunStatus.FAILURE)]


def build_state_metrics_sensor(
    tables: Sequence[str], first_day: date, last_day: Optional[date], interval_seconds: int, configured: bool
) -> SensorDefinition:
    """Pushes the landing backlog and the Delta tables' sizes every ``interval_seconds``."""

    @sensor(
        name="state_metrics",
        description="Pushes the landing backlog and every Delta table's size and file count to the Pushgateway.",
        minimum_interval_seconds=interval_seconds,
        default_status=_status(configured),
    )
    def state_metrics(context: SensorEvaluationContext, pushgateway: PushgatewayResource,
                      landing: LandingZoneResource, ingestion_log: IngestionLogResource, delta: DeltaLakeResource):
        if not pushgateway.enabled:
            return SkipReason("LAKEHOUSE_PUSHGATEWAY_URL is not set: no metrics are pushed")
        try:
            pushes = state_pushes(landing, ingestion_log, delta, tables, first_day, last_day)
        except Exception as error:  # noqa: BLE001 - monitoring never fails a tick
            context.log.warning(f"Backlog and table metrics not computed: {type(error).__name__}: {error}",
                                exc_info=True)
            return SkipReason(f"metrics not computed: {type(error).__name__}")
        pushed = pushgateway.push(pushes, context.log)
        return SkipReason(f"{pushed} of {len(pushes)} metric group(s) pushed (this sensor requests no runs)")

    return state_metrics

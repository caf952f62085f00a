"""Where a platform run spent its time, read from the Dagster run's event log.

Each asset step and each asset check is its own step in a Dagster run (in-process executor, one
process): its time is STEP_START to STEP_SUCCESS / STEP_FAILURE. A step that materializes assets
is labelled with their keys; a check step with ``asset:check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class StepTime:
    step: str
    kind: str  # "asset" or "check"
    label: str
    seconds: float
    status: str


@dataclass(frozen=True)
class RunTimes:
    run_id: str
    status: str
    run_seconds: float  # RUN_START .. RUN_SUCCESS/FAILURE
    steps: list[StepTime]
    started_at: float = float("nan")  # RUN_START, epoch seconds: minus the process's start, Dagster's start-up
    ended_at: float = float("nan")  # RUN_SUCCESS/FAILURE, epoch seconds
    first_event_at: float = float("nan")  # the run's first event (its creation: planned materializations)


def last_run(dagster_home: Path) -> RunTimes:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            raise RuntimeError(f"no Dagster run recorded in {dagster_home}")
        run = runs[0]
        records = instance.all_logs(run.run_id)
    starts: dict[str, float] = {}
    ends: dict[str, tuple[float, str]] = {}
    assets: dict[str, list[str]] = {}
    checks: dict[str, list[str]] = {}
    run_start: Optional[float] = None
    run_end: Optional[float] = None
    first_event = min((r.timestamp for r in records), default=float("nan"))
    for record in records:
        event = record.dagster_event
        if event is None:
            continue
        kind, step = event.event_type_value, record.step_key
        if kind in ("RUN_START", "PIPELINE_START"):
            run_start = record.timestamp
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
            run_end = record.timestamp
        elif kind == "STEP_START" and step:
            starts[step] = record.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and step:
            ends[step] = (record.timestamp, kind[len("STEP_"):].lower())
        elif kind == "ASSET_MATERIALIZATION" and step:
            assets.setdefault(step, []).append(event.event_specific_data.materialization.asset_key.to_user_string())
        elif kind == "ASSET_CHECK_EVALUATION" and step:
            data = event.event_specific_data
            checks.setdefault(step, []).append(f"{data.asset_key.to_user_string()}:{data.check_name}")
    steps = []
    for step, began in starts.items():
        ended, status = ends.get(step, (began, "unfinished"))
        is_check = step in checks and step not in assets
        label = ", ".join(dict.fromkeys(checks[step] if is_check else assets.get(step, [step])))  # once per key
        steps.append(StepTime(step, "check" if is_check else "asset", label, ended - began, status))
    steps.sort(key=lambda s: starts[s.step])
    seconds = (run_end - run_start) if run_start is not None and run_end is not None else float("nan")
    return RunTimes(run.run_id, run.status.value, seconds, steps,
                    run_start if run_start is not None else float("nan"),
                    run_end if run_end is not None else float("nan"), first_event)

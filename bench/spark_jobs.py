"""Spark jobs per step of a one-day whole-graph run: a figure that does not move with the machine's load.

    .venv/bin/python -m bench.spark_jobs [--orders 2000] [--day 2026-01-01]

Runs the platform's definitions in this process (``local`` environment, lineage off) on a
generated day in a temporary lakehouse, then reads every job from Spark's status store and
attributes it to the Dagster step running when it was submitted. Jobs are grouped by what
submitted them: adaptive execution's query stages, Delta's log replay and file filtering, Delta
writes (save, MERGE), and the steps' own actions (counts, collects). Classic Spark only (the
status store is read through py4j).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KINDS = ("adaptive query stages", "Delta log replay and file filtering", "Delta writes", "the step's own actions")


def kind(description: str) -> str:
    if "withThreadLocalCaptured" in description:  # AQE materializes each query stage as a job of its own
        return KINDS[0]
    if "Compute snapshot" in description or "Filtering files" in description:
        return KINDS[1]
    if description.startswith("save at") or "MERGE operation" in description or "recordDeltaOperation" in description:
        return KINDS[2]
    return KINDS[3]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--day", default="2026-01-01")
    args = parser.parse_args(argv)
    os.environ["LAKEHOUSE_ENV"] = "local"

    from dagster import DagsterEventType, DagsterInstance

    from datagen import GeneratorConfig, generate_landing_zone
    from resources.settings import LakehouseSettings

    spec = importlib.util.spec_from_file_location("lakehouse_platform_definitions", REPO_ROOT / "platform" / "definitions.py")
    definitions = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = definitions
    spec.loader.exec_module(definitions)

    root = tempfile.mkdtemp(prefix="spark-jobs-")
    generate_landing_zone(GeneratorConfig(root=f"{root}/landing", customers=args.orders, products=100,
                                          orders=args.orders, days=1, start_date=args.day, seed=5))
    defs = definitions.build_definitions(LakehouseSettings(env="local", root=root, start_date=args.day,
                                                           end_date=args.day, lineage="off"))
    instance = DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, partition_key=args.day)
    if not result.success:
        print("the run failed", file=sys.stderr)
        return 1

    store = defs.resources["spark"].get_session().sparkContext._jsc.sc().statusStore()
    jobs = store.jobsList(None)
    submitted = []
    for i in range(jobs.size()):
        job_data = jobs.apply(i)
        when = job_data.submissionTime()
        description = job_data.description()
        submitted.append((when.get().getTime() / 1000 if when.isDefined() else None,
                          description.get() if description.isDefined() else job_data.name()))
    steps: dict[str, list[float]] = {}
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event is not None and event.event_type == DagsterEventType.STEP_START:
            steps[event.step_key] = [record.timestamp, float("inf")]
        elif event is not None and event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps[event.step_key][1] = record.timestamp
    counts: dict[str, collections.Counter] = {step: collections.Counter() for step in steps}
    outside = 0
    for when, description in submitted:
        step = next((s for s, (start, end) in steps.items() if when is not None and start <= when <= end), None)
        if step is None:
            outside += 1
        else:
            counts[step][kind(description)] += 1
    print(f"{'step':34s} {'jobs':>5s}  " + "  ".join(f"{k:>{len(k)}s}" for k in KINDS))
    total = collections.Counter()
    for step, counter in counts.items():
        total.update(counter)
        print(f"{step:34s} {sum(counter.values()):5d}  " + "  ".join(f"{counter[k]:{len(k)}d}" for k in KINDS))
    print(f"{'whole run':34s} {sum(total.values()):5d}  " + "  ".join(f"{total[k]:{len(k)}d}" for k in KINDS))
    print(f"jobs outside any step: {outside}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

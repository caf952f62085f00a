"""Print what the last run produced: every table's rows and Delta version, every check's outcome.

Reads tables with delta-rs (no JVM; opened as every reader opens them,
``DeltaLakeResource.delta_rs_table``, i.e. dagster-deltalake's ``DeltaTableResource``)
and check results from the Dagster instance in DAGSTER_HOME. Run by ``make demo`` after the materialization.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance
import pyarrow

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from resources.delta import DeltaLakeResource  # noqa: E402
from resources.settings import LakehouseSettings  # noqa: E402
from resources.spark import SparkResource  # noqa: E402

LAYERS = ["bronze", "silver", "gold", "features"]


def table_lines(table_root: str) -> list[str]:
    delta = DeltaLakeResource(spark=SparkResource(app_name="summary"), root=table_root)  # no session is started
    lines = []
    for layer in LAYERS:
        layer_dir = Path(table_root) / layer
        if not layer_dir.is_dir():
            continue
        for table_dir in sorted(p for p in layer_dir.iterdir() if (p / "_delta_log").is_dir()):
            table = delta.delta_rs_table(f"{layer}/{table_dir.name}")
            actions = pyarrow.table(table.get_add_actions(flatten=True))
            rows = sum(n or 0 for n in actions.column("num_records").to_pylist())
            lines.append(f"  {layer + '/' + table_dir.name:<40} {rows:>10,} rows   version {table.version()}")
    return lines


def check_lines(instance: DagsterInstance) -> tuple[list[str], int]:
    runs = instance.get_runs(limit=1)
    if not runs:
        return ["  (no runs yet)"], 0
    run = runs[0]
    records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]

    def key_of(evaluation) -> str:
        return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"

    # A range run records each partitioned check for the whole run and once per day: one line
    # per check, with how many of its days passed.
    days: dict[str, list[bool]] = {}
    for evaluation in evaluations:
        if evaluation.partition is not None:
            days.setdefault(key_of(evaluation), []).append(evaluation.passed)
    whole_run = {key_of(e) for e in evaluations if e.partition is None}
    lines, failed = [], 0
    for evaluation in evaluations:
        key = key_of(evaluation)
        if evaluation.partition is not None and key in whole_run:
            continue
        if evaluation.passed:
            outcome = "passed"
        else:
            failed += 1
            outcome = f"FAILED ({evaluation.severity.value})"
            rule = evaluation.metadata.get("failed_rule")
            if rule is not None:
                outcome += f" {rule.value}"
        if evaluation.partition is None and len(days.get(key, [])) > 1:
            outcome += f" ({sum(days[key])} of {len(days[key])} days passed)"
        lines.append(f"  {key:<62} {outcome}")
    header = f"  run {run.run_id[:8]} {run.status.value}"
    return [header, *sorted(lines)], failed


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def main() -> int:
    settings = LakehouseSettings.from_env()
    say(f"Tables under {settings.table_root}:")
    say("\n".join(table_lines(settings.table_root)) or "  (none)")
    if not os.environ.get("DAGSTER_HOME"):
        say("DAGSTER_HOME is not set: no check results to show.")
        return 0
    with DagsterInstance.get() as instance:
        lines, failed = check_lines(instance)
    say("\nAsset checks of the last run:")
    say("\n".join(lines))
    say(
        f"\n{'All checks passed.' if not failed else f'{failed} check(s) failed.'}"
        "\nOpen the UI with `make ui`, then http://127.0.0.1:3000 (Dagster) to browse assets, checks and runs."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

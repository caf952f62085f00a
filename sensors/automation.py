"""The automation sensor: evaluates the automation conditions of everything below bronze.

It turns the conditions in ``assets/automation.py`` into backfills: one per tick
that found stale partitions, run in dependency order by the daemon's backfill
loop, each asset's partitions in one run (single-run backfill policy).
"""

from __future__ import annotations

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

DOWNSTREAM_OF_BRONZE = AssetSelection.groups("silver", "gold", "features", "reports")


def build_automation_sensor(interval_seconds: int, running: bool) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        name="downstream_automation",
        target=DOWNSTREAM_OF_BRONZE,
        description="Refreshes silver, gold, features and reports partitions whose inputs changed, "
        "including old days that received late files.",
        minimum_interval_seconds=interval_seconds,
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        emit_backfills=True,
    )

"""The automation sensor: evaluates the automation conditions of everything below bronze.

It turns the conditions in ``assets/automation.py`` into runs, one layer of the
graph per tick (the conditions never request an asset on the same tick as its
inputs). Runs are launched directly rather than as backfills, which would add the
backfill daemon's half-minute loop per layer; the price is that Dagster launches
one run per requested day (earliest first) instead of one run per range. Runs
that write silver orders share a pool of one (``platform/dagster.local.yaml``),
so those days are processed one at a time in launch order.
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
        emit_backfills=False,
        # the conditions include a custom one, which only the code location can evaluate
        use_user_code_server=True,
    )

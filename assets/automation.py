"""When tables downstream of bronze refresh themselves: as soon as what they read changed.

The landing sensor materializes bronze for the days that received files. The
automation sensor (``sensors/automation.py``) then requests, for every asset
below bronze, the partitions whose upstream partitions were updated, through the
partition mappings in ``assets/partitions.py``: a late file for an old day
refreshes that day's silver, the gold order days its orders can belong to, and
the cumulative tables (lifetime value, features) from that day on. Other days
are left alone.
"""

from dagster import AssetKey, AssetSelection, AutomationCondition


def on_upstream_change(*ignored: AssetKey) -> AutomationCondition:
    """Refresh the partitions whose dependencies were updated (or will be on this tick).

    Unlike ``AutomationCondition.eager()`` this is not limited to the latest day,
    which is the point of late-data handling; it waits for in-progress
    dependencies and never doubles up on a partition already in progress.
    Like every condition it reacts to changes after the automation sensor's first
    tick: data that landed while it was off is brought in by one backfill.
    ``ignored`` dependencies (slowly changing dimensions read as lookups) do not
    trigger a refresh on their own: a dimension update would otherwise refresh
    every day of history.
    """
    updated = AutomationCondition.any_deps_updated()
    if ignored:
        updated = updated.ignore(AssetSelection.assets(*ignored))
    return (
        updated.since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("on_upstream_change")

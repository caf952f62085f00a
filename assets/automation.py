"""When tables downstream of bronze refresh themselves: as soon as what they read changed.

The landing sensor materializes bronze for the days that received files. The
automation sensor (``sensors/automation.py``) then requests, for every asset
below bronze, the partitions whose upstream partitions were updated, through the
partition mappings in ``assets/partitions.py``: a late file for an old day
refreshes that day's silver, the gold order days its orders can belong to, and
the cumulative tables (lifetime value, features) from that day on. Other days
are left alone.
"""

from dagster import AssetKey, AssetSelection, AutomationCondition, AutomationContext, AutomationResult


class RequestedThisTick(AutomationCondition):
    """True for the partitions requested on this tick.

    Dagster's ``will_be_requested`` only counts requests that can share a run
    with the asset asking (same partitioning); a daily table that reads an
    unpartitioned dimension must also wait when the dimension is requested.
    Custom conditions are evaluated in the code location (see sensors/automation.py).
    """

    @property
    def name(self) -> str:
        return "requested_this_tick"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        requested = context.request_subsets_by_key.get(context.key)
        subset = (requested.compute_intersection(context.candidate_subset) if requested is not None
                  else context.get_empty_subset())
        return AutomationResult(context, true_subset=subset)


def on_upstream_change(*ignored: AssetKey) -> AutomationCondition:
    """Refresh the partitions whose dependencies were updated (or will be on this tick).

    Unlike ``AutomationCondition.eager()`` this is not limited to the latest day,
    which is the point of late-data handling; it waits for dependencies that are
    requested or in progress and never doubles up on a partition in progress.
    Like every condition it reacts to changes after the automation sensor's first
    tick: data that landed while it was off is brought in by one backfill.
    ``ignored`` dependencies (slowly changing dimensions read as lookups) do not
    trigger a refresh on their own: a dimension update would otherwise refresh
    every day of history.
    """
    updated = AutomationCondition.any_deps_updated()
    if ignored:
        updated = updated.ignore(AssetSelection.assets(*ignored))
    # One layer per tick: a partition is not requested on the tick its inputs are,
    # so runs launched together never depend on each other, and each layer starts
    # once the layer above has finished (runs launched by a tick are not ordered).
    deps_requested_now = AutomationCondition.any_deps_match(RequestedThisTick())
    # A dependency partition whose latest materialization failed a blocking check
    # stops automation below it until it is fixed, as the failed check stops the
    # downstream steps of its own run. Dagster records the checks of a range run
    # without a partition, so this sees the failures of per-day runs (the ones this
    # sensor launches), not those of a multi-day range run.
    input_failed_check = AutomationCondition.any_deps_match(
        ~AutomationCondition.missing()
        & AutomationCondition.any_checks_match(AutomationCondition.check_failed(), blocking_only=True)
    )
    condition = (
        updated.since_last_handled()
        & ~deps_requested_now.with_label("any_deps_requested_this_tick")
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & ~input_failed_check.with_label("any_deps_failed_a_blocking_check")
    )
    if ignored:
        # A lookup dimension must exist and be settled before a day is validated
        # against it: orders checked while the customers that landed with them are
        # still being ingested would be quarantined as unknown_customer, and a
        # dimension update does not re-run them.
        dimension_not_ready = AutomationCondition.any_deps_match(
            AutomationCondition.missing() | AutomationCondition.any_deps_in_progress()
        ).allow(AssetSelection.assets(*ignored))
        condition = condition & ~dimension_not_ready.with_label("lookup_dimension_missing_or_refreshing")
    return condition.with_label("on_upstream_change")

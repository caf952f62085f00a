"""Late-data automation: which partitions a change requests, evaluated as the daemon would.

No Spark here: upstream updates are reported to a Dagster instance as runless
materializations, and the real automation conditions of the platform's
Definitions are evaluated against it.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest
from dagster import (AssetCheckEvaluation, AssetKey, AssetMaterialization, AssetRecordsFilter, DagsterEvent,
                     DagsterEventType, DagsterInstance, evaluate_automation_conditions)
# Private but unavoidable: events under a run id of their own (see record(); runless ones would collide) need these
# payload types, which dagster does not export.
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster._core.events import StepMaterializationData

from conftest import load_platform_definitions

pytestmark = pytest.mark.slow  # whole-graph runs

START = date(2026, 1, 1)
BRONZE_ORDERS = AssetKey(["bronze", "orders"])
BRONZE_CUSTOMERS = AssetKey(["bronze", "customers"])
BRONZE_PRODUCTS = AssetKey(["bronze", "products"])
SILVER_ORDERS = AssetKey(["silver", "orders"])
SILVER_CUSTOMERS = AssetKey(["silver", "customers"])
DAILY_SALES = AssetKey(["gold", "daily_sales"])
CLV = AssetKey(["gold", "customer_lifetime_value"])
FEATURES = AssetKey(["features", "customer_features"])
REPORT = AssetKey(["reports", "category_sales_summary"])


def day(n: int) -> str:
    return (START + timedelta(days=n)).isoformat()


CHECKS: dict[AssetKey, list[str]] = {}


@pytest.fixture()
def defs(tmp_path):
    from resources.settings import LakehouseSettings

    settings = LakehouseSettings(env="ci", root=str(tmp_path), start_date=START.isoformat())
    definitions = load_platform_definitions().build_definitions(settings)
    CHECKS.clear()
    for check_key in definitions.resolve_asset_graph().asset_check_keys:
        if definitions.resolve_asset_graph().get(check_key).blocking:
            CHECKS.setdefault(check_key.asset_key, []).append(check_key.name)
    return definitions


def materialize(instance, key: AssetKey, *days: int, checks_pass: bool = True) -> None:
    for n in days:
        record(instance, key, day(n), checks_pass)


def record(instance, key: AssetKey, partition, checks_pass: bool = True) -> None:
    """A materialization and, as its run would, its blocking checks' evaluations, under a run id
    of their own (runless check evaluations of one partition would collide in the check table)."""
    run_id = str(uuid4())

    def report(event_type: DagsterEventType, data) -> None:
        instance.report_dagster_event(
            run_id=run_id, dagster_event=DagsterEvent(event_type_value=event_type.value,
                                                      event_specific_data=data, job_name="automation_test"))

    report(DagsterEventType.ASSET_MATERIALIZATION,
           StepMaterializationData(AssetMaterialization(key, partition=partition)))
    if key not in CHECKS:
        return
    latest = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records[0]
    target = AssetCheckEvaluationTargetMaterializationData(
        storage_id=latest.storage_id, run_id=run_id, timestamp=latest.timestamp)
    for check in CHECKS[key]:
        report(DagsterEventType.ASSET_CHECK_EVALUATION, AssetCheckEvaluation(
            asset_key=key, check_name=check, passed=checks_pass, partition=partition,
            target_materialization_data=target))


class Tick:
    def __init__(self, requested, cursor):
        self.requested, self.cursor = requested, cursor

    def get_requested_partitions(self, key):
        return self.requested.get(key, set())

    def get_num_requested(self, key):
        return len(self.get_requested_partitions(key))

    @property
    def total_requested(self):
        return sum(len(v) for v in self.requested.values())


def settle(defs, instance, cursor=None) -> Tick:
    """Ticks until quiet, materializing what each tick requests in dependency order, as the
    backfill's runs would. An asset whose input cannot share its run (an unpartitioned
    report over daily gold) is requested on the tick after that input updated."""
    requested: dict[AssetKey, set] = {}
    for _ in range(8):
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = result.cursor
        if result.total_requested == 0:
            return Tick(requested, cursor)
        for key in defs.resolve_asset_graph().toposorted_asset_keys:
            partitions = set(result.get_requested_partitions(key)) if key in result._requested_partitions_by_asset_key else set()
            assert not partitions & requested.get(key, set()), f"{key} requested twice: {partitions}"
            parents = defs.resolve_asset_graph().get(key).parent_keys
            assert not (partitions and any(result.get_num_requested(p) for p in parents
                                           if p in result._requested_partitions_by_asset_key)), \
                f"{key} requested on the same tick as an input: " + str({p: result.get_num_requested(p) for p in parents if p in result._requested_partitions_by_asset_key})
            requested.setdefault(key, set()).update(partitions)
            for partition in sorted(partitions, key=str):
                record(instance, key, partition)
    raise AssertionError("automation did not settle within 8 ticks")


def days_requested(result, key: AssetKey) -> list[str]:
    return sorted(p for p in result.get_requested_partitions(key))


def test_a_day_of_orders_refreshes_its_silver_day_the_gold_days_it_can_touch_and_history_after_it(defs):
    instance = DagsterInstance.ephemeral()
    initial = settle(defs, instance)  # the sensor's first tick, before anything landed
    assert initial.total_requested == 0
    materialize(instance, BRONZE_ORDERS, 0, 1, 2, 3, 4, 5)
    materialize(instance, BRONZE_CUSTOMERS, 0, 1, 2, 3, 4, 5)
    materialize(instance, BRONZE_PRODUCTS, 0)
    first = settle(defs, instance, initial.cursor)
    assert days_requested(first, SILVER_ORDERS) == [day(n) for n in range(6)]
    assert first.get_num_requested(SILVER_CUSTOMERS) == 1

    # A late file lands for day 4 after everything was processed.
    materialize(instance, BRONZE_ORDERS, 4)
    late = settle(defs, instance, first.cursor)
    assert days_requested(late, SILVER_ORDERS) == [day(4)]
    assert days_requested(late, AssetKey(["silver", "quarantine_orders"])) == [day(4)]
    # orders landing on day 4 belong to order days 1..4 (at most 3 days late)
    assert days_requested(late, DAILY_SALES) == [day(1), day(2), day(3), day(4)]
    # cumulative tables: from the first affected day on, never before
    features = days_requested(late, FEATURES)
    assert features[0] == day(4) and day(3) not in features and len(features) >= 2
    assert days_requested(late, CLV)[0] == day(1)
    assert late.get_num_requested(REPORT) == 1
    # dimensions and bronze are untouched
    assert late.get_num_requested(SILVER_CUSTOMERS) == 0
    assert late.get_num_requested(BRONZE_ORDERS) == 0


def one_day_processed(defs):
    """A fresh instance where day 0 of every source landed and automation settled on it."""
    instance = DagsterInstance.ephemeral()
    initial = settle(defs, instance)
    materialize(instance, BRONZE_ORDERS, 0)
    materialize(instance, BRONZE_CUSTOMERS, 0)
    materialize(instance, BRONZE_PRODUCTS, 0)
    return instance, settle(defs, instance, initial.cursor)


def test_nothing_is_requested_twice_and_nothing_without_a_change(defs):
    instance, first = one_day_processed(defs)
    assert first.get_num_requested(SILVER_ORDERS) == 1
    quiet = settle(defs, instance, first.cursor)
    assert quiet.total_requested == 0


def test_a_dimension_update_does_not_refresh_every_day_of_history(defs):
    instance = DagsterInstance.ephemeral()
    initial = settle(defs, instance)
    materialize(instance, BRONZE_ORDERS, 0, 1, 2)
    materialize(instance, BRONZE_CUSTOMERS, 0)
    materialize(instance, BRONZE_PRODUCTS, 0)
    first = settle(defs, instance, initial.cursor)
    materialize(instance, BRONZE_CUSTOMERS, 3)  # customers changed on day 3, no orders landed
    after = settle(defs, instance, first.cursor)
    assert after.get_num_requested(SILVER_CUSTOMERS) == 1
    assert after.get_num_requested(SILVER_ORDERS) == 0
    assert after.get_num_requested(FEATURES) == 0
    assert after.get_num_requested(DAILY_SALES) == 0


def test_orders_wait_for_a_dimension_that_does_not_exist_yet_or_is_being_ingested(defs):

    instance = DagsterInstance.ephemeral()
    initial = settle(defs, instance)
    # day 0's orders are in bronze, its customers and products are not yet
    materialize(instance, BRONZE_ORDERS, 0)
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=initial.cursor)
    assert result.get_num_requested(SILVER_ORDERS) == 0  # silver/customers does not exist
    materialize(instance, BRONZE_CUSTOMERS, 0)
    materialize(instance, BRONZE_PRODUCTS, 0)
    done = settle(defs, instance, result.cursor)
    assert done.get_num_requested(SILVER_CUSTOMERS) == 1
    assert days_requested(done, SILVER_ORDERS) == [day(0)]


def test_a_failed_blocking_check_stops_automation_below_it_until_the_table_is_fixed(defs):
    instance, first = one_day_processed(defs)
    assert days_requested(first, DAILY_SALES) == [day(0)]
    # a late file: silver day 0 is refreshed by another run, and its contract check fails
    materialize(instance, BRONZE_ORDERS, 0)
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert days_requested(result, SILVER_ORDERS) == [day(0)]
    materialize(instance, SILVER_ORDERS, 0, checks_pass=False)
    materialize(instance, AssetKey(["silver", "quarantine_orders"]), 0)
    blocked = evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert blocked.get_num_requested(DAILY_SALES) == 0 and blocked.get_num_requested(FEATURES) == 0
    # the table is fixed and re-materialized: its checks pass, gold and features follow
    materialize(instance, SILVER_ORDERS, 0)
    fixed = settle(defs, instance, blocked.cursor)
    assert days_requested(fixed, DAILY_SALES) == [day(0)]
    assert days_requested(fixed, FEATURES)[0] == day(0)


def record_range_run(instance, key: AssetKey, days: range) -> None:
    """A single-run backfill: a materialization per day, and checks that Dagster records
    without a partition (as it does for range runs)."""
    run_id = str(uuid4())
    for n in days:
        instance.report_dagster_event(run_id=run_id, dagster_event=DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value, job_name="automation_test",
            event_specific_data=StepMaterializationData(AssetMaterialization(key, partition=day(n)))))
    latest = instance.fetch_materializations(key, limit=1).records[0]
    target = AssetCheckEvaluationTargetMaterializationData(
        storage_id=latest.storage_id, run_id=run_id, timestamp=latest.timestamp)
    for check in CHECKS.get(key, []):
        instance.report_dagster_event(run_id=run_id, dagster_event=DagsterEvent(
            event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value, job_name="automation_test",
            event_specific_data=AssetCheckEvaluation(asset_key=key, check_name=check, passed=True,
                                                     target_materialization_data=target)))


def test_a_range_run_of_bronze_refreshes_every_day_it_ingested(defs):
    """What the landing sensor does when files for consecutive days land together."""
    instance = DagsterInstance.ephemeral()
    initial = settle(defs, instance)
    for key in (BRONZE_ORDERS, BRONZE_CUSTOMERS, BRONZE_PRODUCTS):
        record_range_run(instance, key, range(2))
    after = settle(defs, instance, initial.cursor)
    assert after.get_num_requested(SILVER_CUSTOMERS) == 1
    assert days_requested(after, SILVER_ORDERS) == [day(0), day(1)]
    assert days_requested(after, DAILY_SALES)[:2] == [day(0), day(1)]

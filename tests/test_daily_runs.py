"""A day run alone on top of a history, as a daily schedule runs it: it writes that day's slice
of each table, copies no row of history, and running it again changes nothing.

Asserted on the Delta commit metrics each materialization records (rows copied, files removed),
not only on the rows the tables end up with.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
from dagster import DagsterInstance

from conftest import check_evaluations, load_platform_definitions, materializations, run_graph

pytestmark = pytest.mark.slow

START = date(2026, 2, 1)
HISTORY_DAYS = 4
NEW_DAY = START + timedelta(days=HISTORY_DAYS)
# Tables partitioned by day: a new day adds its own slice and removes nothing.
DAY_TABLES = [
    "bronze/orders", "bronze/rejected_orders", "silver/orders", "silver/quarantine_orders",
    "gold/daily_sales", "gold/customer_lifetime_value", "features/customer_features",
]


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    from datagen import GeneratorConfig, generate_landing_zone
    from resources.settings import LakehouseSettings

    root = tmp_path_factory.mktemp("daily")
    previous = os.environ.get("LAKEHOUSE_ROOT")
    os.environ["LAKEHOUSE_ROOT"] = str(root)
    manifest = generate_landing_zone(GeneratorConfig(
        # A day after the new one too: the generator lands dirty customer rows on its last day,
        # and the new day should be a clean one (its quarantine slice unchanged).
        root=str(root / "landing"), customers=200, products=30, orders=1000, days=HISTORY_DAYS + 2,
        start_date=START.isoformat(), seed=5))
    defs = load_platform_definitions().build_definitions(
        LakehouseSettings(env="ci", root=str(root), start_date=START.isoformat()))
    instance = DagsterInstance.ephemeral()
    history = run_graph(defs, instance, start=START.isoformat(),
                        end=(NEW_DAY - timedelta(days=1)).isoformat())
    assert history.success
    delta = defs.resources["delta"]
    rows_before = {t: delta.read(t).count() for t in DAY_TABLES}
    new_day = run_graph(defs, instance, partition=NEW_DAY.isoformat())
    rows_after = {t: delta.read(t).count() for t in DAY_TABLES}
    rerun = run_graph(defs, instance, partition=NEW_DAY.isoformat())
    yield {"delta": delta, "manifest": manifest, "new_day": new_day, "rerun": rerun,
           "rows_before": rows_before, "rows_after": rows_after}
    if previous is None:
        os.environ.pop("LAKEHOUSE_ROOT", None)
    else:
        os.environ["LAKEHOUSE_ROOT"] = previous


def test_the_new_day_passes_its_checks(daily):
    assert daily["new_day"].success
    failed = [k for k, e in check_evaluations(daily["new_day"]).items()
              if not e.passed and e.severity.value == "ERROR"]
    assert failed == []


def test_a_new_day_copies_no_row_of_history(daily):
    written = materializations(daily["new_day"])
    for table in DAY_TABLES:
        metadata = written[table]
        assert metadata.get("delta_rows_copied", 0) == 0, table
        assert metadata.get("delta_files_removed", 0) == 0, table
    orders = written["silver/orders"]
    assert orders["delta_operation"] == "MERGE"
    assert orders["delta_rows_inserted"] == orders["rows_out"] > 0
    # history is still there, and the day added what it says it did
    assert daily["rows_after"]["silver/orders"] == daily["rows_before"]["silver/orders"] + orders["rows_out"]


def test_a_new_day_holds_the_landed_lines_of_that_day(daily):
    day = NEW_DAY.isoformat()
    lines = daily["manifest"]["orders"]["order_lines_by_landing_date"][day]
    where = f"_landed_date = DATE'{day}'"
    delta = daily["delta"]
    assert delta.read("silver/orders", where).count() + delta.read("silver/quarantine_orders", where).count() == lines
    assert delta.read("gold/customer_lifetime_value", f"as_of_date = DATE'{day}'").count() > 0
    assert delta.read("features/customer_features", f"as_of_date = DATE'{day}'").count() > 0


def test_rerunning_the_new_day_writes_nothing_to_silver(daily):
    assert daily["rerun"].success
    written = materializations(daily["rerun"])
    for table in ("silver/orders", "silver/customers", "silver/products"):
        metadata = written[table]
        for metric in ("delta_rows_inserted", "delta_rows_updated", "delta_rows_deleted", "delta_files_removed",
                       "delta_rows_copied"):
            assert metadata.get(metric, 0) == 0, (table, metric)
    assert {t: daily["delta"].read(t).count() for t in DAY_TABLES} == daily["rows_after"]


def test_the_new_day_carries_forward_and_rebuilds_only_changed_customers(daily):
    written = materializations(daily["new_day"])
    for table in ("gold/customer_lifetime_value", "features/customer_features"):
        assert written[table]["incremental"] is True, written[table]["computation"]
        assert written[table]["computation"] == f"carried forward from {NEW_DAY - timedelta(days=1)}"
    customers = written["silver/customers"]
    assert customers["computation"].startswith("incremental"), customers["computation"]
    assert 0 < customers["customers_rebuilt"] < customers["current_customers"]
    # closed versions are not rewritten: at most the current versions' files are copied
    assert customers["delta_rows_copied"] <= customers["current_customers"] < customers["versions"]


def test_consecutive_days_rebuild_only_each_day_s_customers(daily):
    """The customer tables record the bronze version they were built from even when a day's
    quarantine slice is unchanged (Delta commits nothing then), so the next day starts there."""
    customers = materializations(daily["new_day"])["silver/customers"]
    assert customers["landing_days_changed"] == [NEW_DAY.isoformat()]
    rerun = materializations(daily["rerun"])["silver/customers"]
    assert rerun["computation"].startswith("incremental: bronze/customers unchanged"), rerun["computation"]

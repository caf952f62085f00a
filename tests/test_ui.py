"""What the Dagster UI shows: check metadata as numbers and tables, described columns and their
lineage, owners, tags and freshness, the named daily job and its schedule, and `make ui` stopping
on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    BackfillPolicy,
    DefaultScheduleStatus,
    MetadataValue,
    build_schedule_context,
)
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy  # what FreshnessPolicy.time_window builds
from pyspark.sql import types as T

from conftest import REFERENCE_END, check_evaluations, load_platform_definitions, materializations

REPO_ROOT = Path(__file__).resolve().parent.parent
RECONCILE_CHECKS = [
    "silver/orders:orders_reconcile_with_bronze",
    "silver/customers:customers_reconcile_with_bronze",
    "silver/products:products_reconcile_with_bronze",
    "gold/daily_sales:daily_sales_reconcile_with_silver",
    "bronze/orders:landed_lines_accounted",
    "bronze/customers:landed_lines_accounted",
    "bronze/products:landed_lines_accounted",
]


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    from resources.settings import LakehouseSettings

    root = tmp_path_factory.mktemp("ui")
    return load_platform_definitions().build_definitions(
        LakehouseSettings(env="ci", root=str(root), start_date="2026-01-01"))


# -- 1. check metadata -----------------------------------------------------------------------------
def test_a_passed_check_records_a_zero_failure_count_and_a_failed_one_its_samples_as_a_table():
    from assets.quality.results import check_result

    passed = check_result(True, failed_rule="rule", failure_count=0, rows=3).metadata
    assert passed["failure_count"] == MetadataValue.int(0) and "failed_rule" not in passed

    failed = check_result(False, failed_rule="unique(order_id)", failure_count=7,
                          samples=[{"order_id": "O1", "line_no": "1"}, {"order_id": "O|2", "line_no": None}]).metadata
    assert failed["failure_count"] == MetadataValue.int(7)
    assert failed["failed_rule"] == MetadataValue.text("unique(order_id)")
    assert failed["sample_failing_keys"].value == [{"order_id": "O1", "line_no": "1"}, {"order_id": "O|2", "line_no": None}]
    table = failed["sample_failing_keys_table"]
    assert isinstance(table, type(MetadataValue.md("")))
    assert table.value.splitlines() == ["| order_id | line_no |", "|---|---|", "| O1 | 1 |", "| O\\|2 |  |"]
    # a failure of unknown size still plots: at least one
    assert check_result(False, failed_rule="x").metadata["failure_count"] == MetadataValue.int(1)


def test_reconciliations_carry_expected_and_actual_as_numbers_beside_their_counts():
    from assets.silver.orders import _orders_reconcile

    ok = _orders_reconcile(100, 90, 10).metadata
    assert (ok["expected"], ok["actual"], ok["failure_count"]) == (MetadataValue.int(100), MetadataValue.int(100),
                                                                    MetadataValue.int(0))
    assert (ok["bronze_lines"], ok["silver_rows"], ok["quarantined_rows"]) == tuple(
        MetadataValue.int(n) for n in (100, 90, 10))
    assert "bronze" in ok["reconciliation"].value

    result = _orders_reconcile(100, 90, 7)
    assert not result.passed
    assert (result.metadata["expected"].value, result.metadata["actual"].value) == (100, 97)
    assert result.metadata["failure_count"].value == 3

    from assets.quality.results import reconcile_result

    revenue = reconcile_result(Decimal("10.50"), Decimal("10.25"), meaning="m", failed_rule="r").metadata
    assert revenue["expected"] == MetadataValue.float(10.5) and revenue["actual"] == MetadataValue.float(10.25)


# -- 2. column descriptions and lineage ------------------------------------------------------------
def _schema(columns) -> T.StructType:
    return T.StructType([T.StructField(c, T.StringType()) for c in columns])


def _tables_with_a_contract():
    """(table module, contract) of every table the platform validates against a pandera model."""
    from assets import features
    from assets.gold import customer_lifetime_value, daily_sales
    from assets.silver import customers, orders, products, quarantine

    return [(orders, orders.SilverOrderLine), (customers, customers.SilverCustomer),
            (products, products.SilverProduct), (daily_sales, daily_sales.GoldDailySales),
            (customer_lifetime_value, customer_lifetime_value.GoldCustomerLifetimeValue),
            (features, features.CustomerFeatures), (quarantine, quarantine.QuarantineRecord)]


def test_every_column_of_every_table_with_a_model_is_described_from_the_model():
    from assets.metadata import column_schema
    from assets.silver import customers, orders, products

    quarantines = [orders.QUARANTINE_COLUMNS, customers.QUARANTINE_COLUMNS, products.QUARANTINE_COLUMNS]
    for module, model in _tables_with_a_contract():
        fields = model.to_schema().columns
        for columns in quarantines if model.__name__ == "QuarantineRecord" else [module.COLUMNS]:
            described = {c.name: c.description for c in column_schema(_schema(list(fields)), columns).columns}
            for name, field in fields.items():
                assert field.description, f"{model.__name__}.{name} has no description"
                assert described[name].startswith(field.description), (model.__name__, name)


def test_declared_lineage_is_in_the_column_descriptions_and_in_a_markdown_table_on_the_write():
    from assets.bronze import SOURCE_BY_NAME
    from assets.gold import daily_sales
    from assets.metadata import write_metadata
    from resources.delta import DeltaCommit

    declaring = [(module, model) for module, model in _tables_with_a_contract() if hasattr(module, "LINEAGE")]
    assert {m.__name__ for m, _ in declaring} == {
        "assets.gold.daily_sales", "assets.gold.customer_lifetime_value", "assets.features"}
    for module, model in declaring:
        table, lineage = module.__name__, module.LINEAGE
        columns = list(model.to_schema().columns)
        assert set(columns) == set(lineage), table  # every column declares its lineage
        metadata = write_metadata(DeltaCommit(table, f"file:///t/{table}", 4, "WRITE"), _schema(columns), 10,
                                  module.COLUMNS, lineage)
        descriptions = {c.name: c.description for c in metadata["dagster/column_schema"].columns}
        rows = metadata["column_lineage_table"].value.splitlines()
        assert rows[0] == "| Column | Source columns | Transformation |" and len(rows) == 2 + len(columns)
        for column, row in zip(columns, rows[2:]):
            cells = [c.strip() for c in row.strip("|").split(" | ")]
            assert cells[0] == column
            sources = [f"{i.table}.{i.column}" for i in lineage[column]]
            assert cells[1] == (", ".join(sources) or "—")
            assert all(source in descriptions[column] for source in sources), (table, column)
            assert "Lineage:" in descriptions[column]
    revenue = {c.name: c.description for c in write_metadata(
        DeltaCommit("gold/daily_sales", "file:///t", 1, "WRITE"), _schema(["revenue"]), 1, daily_sales.COLUMNS,
        daily_sales.LINEAGE)["dagster/column_schema"].columns}
    assert revenue["revenue"] == ("Revenue: sum of the line amounts. "
                                  "Lineage: from silver/orders.line_amount (aggregation: sum(line_amount)).")
    # a table without declared lineage gets descriptions but no lineage table
    bronze = write_metadata(DeltaCommit("bronze/orders", "file:///t", 1, "WRITE"), _schema(["order_id", "_landed_date"]), 1,
                            SOURCE_BY_NAME["orders"].columns)
    assert "column_lineage_table" not in bronze
    assert [c.description for c in bronze["dagster/column_schema"].columns] == [
        "Order identifier as landed.", "Day the file landed (the partition)."]


# -- 3. owners, tags, freshness --------------------------------------------------------------------
def test_every_asset_has_the_owner_layer_and_domain_tags_a_daily_freshness_policy_and_a_single_run_backfill(defs):
    from assets.ownership import OWNERS

    graph = defs.resolve_asset_graph()
    keys = graph.materializable_asset_keys
    assert len(keys) == 16
    for key in keys:
        node = graph.get(key)
        assert list(node.owners) == OWNERS == ["team:data-platform"], key
        assert node.tags["layer"] == key.path[0], key
        assert node.tags["domain"] in {"orders", "customers", "products", "sales"}, key
        policy = node.freshness_policy
        assert isinstance(policy, TimeWindowFreshnessPolicy), key
        assert policy.fail_window.to_timedelta() == timedelta(hours=26)
        assert policy.warn_window.to_timedelta() == timedelta(hours=25)
        assert node.backfill_policy == BackfillPolicy.single_run(), key
    assert graph.get(AssetKey(["gold", "daily_sales"])).tags["domain"] == "sales"
    quarantine = graph.get(AssetKey(["silver", "quarantine_orders"])).tags
    assert (quarantine["layer"], quarantine["domain"]) == ("silver", "orders")


# -- 4. the daily job and its schedule -------------------------------------------------------------
def test_daily_refresh_is_every_asset_and_check_daily_partitioned_and_one_run_per_range(defs):
    from assets.partitions import daily_partitions

    job = defs.resolve_job_def("daily_refresh")
    assert job.partitions_def == daily_partitions("2026-01-01")  # the settings' first day, no last day
    assert job.asset_layer.executable_asset_keys == defs.resolve_asset_graph().materializable_asset_keys
    assert len(job.asset_layer.asset_graph.asset_check_keys) == 29
    # the job's backfill policy, which a backfill launched from its page follows: a range is one run
    assert job.backfill_policy == BackfillPolicy.single_run()
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"daily_refresh", "table_maintenance", "audit_tables"}


def test_the_schedule_refreshes_the_previous_day_and_runs_only_with_automation_on(defs, tmp_path):
    from resources.settings import LakehouseSettings

    schedule = defs.resolve_schedule_def("daily_refresh_schedule")
    assert schedule.job_name == "daily_refresh" and schedule.cron_schedule == "0 1 * * *"
    assert schedule.default_status == DefaultScheduleStatus.STOPPED
    context = build_schedule_context(repository_def=defs.get_repository_def(),
                                     scheduled_execution_time=datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-01-04"

    running = load_platform_definitions().build_definitions(LakehouseSettings(
        env="ci", root=str(tmp_path), start_date="2026-01-01", automation_running=True))
    statuses = {s.name: s.default_status for s in running.schedules}
    assert statuses == dict.fromkeys(["daily_refresh_schedule", "table_maintenance_daily", "audit_tables_daily"],
                                     DefaultScheduleStatus.RUNNING)


BACKFILL_MUTATION = """
mutation($backfillParams: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $backfillParams) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }
"""


def _backfill_runs(via_job: bool, days: list[str]) -> list[tuple[str, frozenset, tuple]]:
    """Launch a backfill of every asset over ``days`` as the UI does (its GraphQL mutation, from the
    asset graph or from the daily_refresh job's page), let the backfill daemon's iterations launch
    its runs on the no-op graph (tests/backfill_stubs.py), and return them in launch order: (job,
    assets, partition range)."""
    import logging

    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.instance_for_test import instance_for_test
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.storage.dagster_run import RunsFilter
    from dagster._core.test_utils import InProcessTestWorkspaceLoadTarget, create_test_daemon_workspace_context
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster_graphql.test.utils import execute_dagster_graphql

    launch_at_once = {  # the runs execute when launched, in this process
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"},
        "run_launcher": {"module": "dagster._core.launcher.sync_in_memory_run_launcher", "class": "SyncInMemoryRunLauncher"},
    }
    origin = LoadableTargetOrigin(python_file=str(REPO_ROOT / "tests" / "backfill_stubs.py"), attribute="defs",
                                  working_directory=str(REPO_ROOT))
    with instance_for_test(overrides=launch_at_once) as instance, create_test_daemon_workspace_context(
            InProcessTestWorkspaceLoadTarget(InProcessCodeLocationOrigin(origin, location_name="lakehouse")),
            instance) as workspace:
        context = workspace.create_request_context()
        params = {"assetSelection": [{"path": k.path} for k in context.asset_graph.materializable_asset_keys],
                  "partitionNames": days, "fromFailure": False}
        if via_job:
            params["selector"] = {"partitionSetName": "daily_refresh_partition_set", "repositorySelector": {
                "repositoryLocationName": "lakehouse", "repositoryName": "__repository__"}}
        launched = execute_dagster_graphql(context, BACKFILL_MUTATION, {"backfillParams": params}).data
        backfill_id = launched["launchPartitionBackfill"]["backfillId"]
        for _ in range(20):
            list(execute_backfill_iteration(workspace, logging.getLogger("backfill")))
            if instance.get_backfill(backfill_id).status != BulkActionStatus.REQUESTED:
                break
        assert instance.get_backfill(backfill_id).status == BulkActionStatus.COMPLETED_SUCCESS
        runs = reversed(instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id})))
        return [(run.job_name, frozenset(k.to_user_string() for k in run.asset_selection),
                 (run.tags.get("dagster/asset_partition_range_start"), run.tags.get("dagster/asset_partition_range_end")))
                for run in runs]


@pytest.mark.slow
def test_a_range_from_the_daily_refresh_job_is_one_run_and_from_the_asset_graph_seven(defs):
    """What docs/operations.md says a range materialization launched from the UI does."""
    from assets.partitions import daily_partitions

    days = ["2026-01-02", "2026-01-03", "2026-01-04"]
    every_asset = frozenset(k.to_user_string() for k in defs.resolve_asset_graph().materializable_asset_keys)
    assert _backfill_runs(True, days) == [("daily_refresh", every_asset, ("2026-01-02", "2026-01-04"))]

    runs = _backfill_runs(False, days)
    last = daily_partitions("2026-01-01").get_last_partition_key()
    assert {job for job, _, _ in runs} == {"__ASSET_JOB"} and len(runs) == 7
    bronze = frozenset(f"bronze/{p}{s}" for p in ("", "rejected_") for s in ("orders", "customers", "products"))
    assert runs[:3] == [
        ("__ASSET_JOB", bronze, ("2026-01-02", "2026-01-04")),
        ("__ASSET_JOB", frozenset({"silver/customers", "silver/quarantine_customers", "silver/products",
                                   "silver/quarantine_products"}), (None, None)),
        ("__ASSET_JOB", frozenset({"silver/orders", "silver/quarantine_orders"}), ("2026-01-02", "2026-01-04")),
    ]
    # each cumulative or late-data table also covers the days the range's orders reach, in a run of its own
    assert set(runs[3:6]) == {
        ("__ASSET_JOB", frozenset({"gold/daily_sales"}), ("2026-01-01", "2026-01-04")),
        ("__ASSET_JOB", frozenset({"gold/customer_lifetime_value"}), ("2026-01-01", last)),
        ("__ASSET_JOB", frozenset({"features/customer_features"}), ("2026-01-02", last)),
    }
    assert runs[6] == ("__ASSET_JOB", frozenset({"reports/category_sales_summary"}), (None, None))


# -- the materialized graph (the shared reference run) ---------------------------------------------
@pytest.mark.slow
def test_checks_and_writes_of_the_reference_run_carry_the_ui_metadata(reference_lakehouse):
    result = reference_lakehouse["result"]
    assert result.success
    evaluations = check_evaluations(result)
    for name, evaluation in evaluations.items():
        assert "failure_count" in evaluation.metadata, name
        assert evaluation.metadata["failure_count"].value == (0 if evaluation.passed else
                                                              evaluation.metadata["failure_count"].value)
    for name in RECONCILE_CHECKS:
        metadata = evaluations[name].metadata
        assert metadata["expected"].value == metadata["actual"].value > 0, name
        assert metadata["failure_count"].value == 0, name
    orders = evaluations["silver/orders:orders_reconcile_with_bronze"].metadata
    assert orders["expected"].value == orders["bronze_lines"].value
    assert orders["actual"].value == orders["silver_rows"].value + orders["quarantined_rows"].value
    landed = evaluations["bronze/orders:landed_lines_accounted"].metadata
    assert (landed["expected"].value, landed["actual"].value) == (landed["landed_lines"].value,
                                                                  landed["bronze_and_rejected_rows"].value)

    written = materializations(result)
    for table, metadata in written.items():
        columns = metadata["dagster/column_schema"].columns
        assert all(c.description for c in columns), (table, [c.name for c in columns if not c.description])
    sales = written["gold/daily_sales"]
    assert {c.name: c.description for c in sales["dagster/column_schema"].columns}["units"].endswith(
        "Lineage: from silver/orders.quantity (aggregation: sum(quantity)).")
    assert "| units | silver/orders.quantity | aggregation: sum(quantity) |" in sales["column_lineage_table"]
    for table in ("gold/customer_lifetime_value", "features/customer_features"):
        assert "column_lineage_table" in written[table], table
    assert "column_lineage_table" not in written["silver/orders"]


@pytest.mark.slow
def test_a_daily_refresh_run_is_named_and_runs_every_asset_and_check(reference_lakehouse):
    defs, instance = reference_lakehouse["defs"], reference_lakehouse["instance"]
    result = defs.resolve_job_def("daily_refresh").execute_in_process(
        instance=instance, partition_key=REFERENCE_END, raise_on_error=False)
    assert result.success
    assert instance.get_run_by_id(result.run_id).job_name == "daily_refresh"
    assert len(materializations(result)) == 16
    evaluations = check_evaluations(result)
    assert len(evaluations) == 29
    assert [k for k, e in evaluations.items() if not e.passed and e.severity.value == "ERROR"] == []


# -- 5. make ui stops on a signal ------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group(pgid: int) -> list[str]:
    """The live (not zombie) processes of a process group, as ``ps`` lines."""
    lines = subprocess.run(["ps", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
    return [line for line in lines if line.split()[1] == str(pgid) and not line.split()[2].startswith("Z")]


@pytest.mark.slow
@pytest.mark.parametrize("started", ["from a terminal", "in the background of a script"])
def test_make_ui_stops_within_seconds_when_make_gets_sigterm(tmp_path, started):
    """SIGTERM to make (a supervisor, `kill`, a CI step ending) stops dagster dev, its webserver,
    daemon and code servers. A job started in the background of a non-interactive shell inherits
    SIGINT ignored, and dagster dev then ignored SIGTERM too (it handles both alike)."""
    port = _free_port()
    env = dict(os.environ, LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(tmp_path / "lakehouse"),
               DAGSTER_HOME=str(tmp_path / "dagster_home"))
    ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if started != "from a terminal" else None
    log = open(tmp_path / "make-ui.log", "w")
    make = subprocess.Popen(["make", "--no-print-directory", "ui", f"UI_PORT={port}"], cwd=REPO_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=ignore_sigint)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert make.poll() is None, (tmp_path / "make-ui.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the UI did not listen within 180 s"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        assert len(_group(make.pid)) >= 4  # make, dagster dev, webserver, daemon (and code servers)
        os.kill(make.pid, signal.SIGTERM)
        stopped = time.monotonic() + 30
        while _group(make.pid) and time.monotonic() < stopped:
            time.sleep(0.5)
        assert _group(make.pid) == [], (tmp_path / "make-ui.log").read_text()[-3000:]
    finally:
        for line in _group(make.pid):  # only what this test started
            os.kill(int(line.split()[0]), signal.SIGKILL)
        make.wait(timeout=10)
        log.close()

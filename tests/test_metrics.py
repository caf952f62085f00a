"""Metrics end to end: the reference run's numbers, pushed by the platform's own sensors to a real
Pushgateway, scraped by a real Prometheus (Debian's packages, tests/servers/prometheus.py), read
back through Prometheus's HTTP API and compared with the Delta tables and the Dagster instance."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterRunStatus, RunsFilter, build_run_status_sensor_context, build_sensor_context
from deltalake import DeltaTable

from conftest import REFERENCE_END, REFERENCE_START, materializations
from resources.landing import LandingZoneResource
from resources.metrics import METRICS, PushgatewayResource
from servers.prometheus import PLATFORM_CONFIG, free_port, prometheus_server, pushgateway_server, query, wait_for

pytestmark = [pytest.mark.servers, pytest.mark.slow]

DASHBOARD = Path(__file__).resolve().parent.parent / "platform" / "grafana" / "dashboards" / "lakehouse.json"
# Tables the reference run created from nothing and wrote whole: the rows its write reports are the
# table's rows at the version it committed.
WRITTEN_WHOLE = ["bronze/orders", "bronze/rejected_orders", "silver/orders", "silver/quarantine_orders",
                 "gold/daily_sales"]
RANGE = f"{REFERENCE_START}...{REFERENCE_END}"


def by(result: dict, *labels: str) -> dict:
    """Prometheus samples keyed by the values of ``labels``."""
    out = {}
    for pairs, value in result.items():
        named = dict(pairs)
        key = tuple(named.get(label, "") for label in labels)
        assert key not in out, f"two series for {key}: {result}"
        out[key] = value
    return out[()] if labels == () and () in out else {k[0] if len(k) == 1 else k: v for k, v in out.items()}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    logs = tmp_path_factory.mktemp("monitoring")
    with pushgateway_server(logs) as pushgateway, prometheus_server(pushgateway.address, logs) as prometheus:
        yield pushgateway, prometheus


@pytest.fixture(scope="module")
def backlog(tmp_path_factory):
    """A landing zone holding two files not yet ingested (an orders file an hour old, a products file)."""
    root = tmp_path_factory.mktemp("waiting") / "landing"
    orders = root / "orders" / "date=2026-01-04" / "orders_2026-01-04_part0000.jsonl"
    products = root / "products" / "date=2026-01-04" / "products_2026-01-04.csv"
    for path, text in ((orders, '{"order_id": "O1"}\n' * 50), (products, "product_id,name\nP1,x\n")):
        path.parent.mkdir(parents=True)
        path.write_text(text)
    hour_ago = time.time() - 3600
    os.utime(orders, (hour_ago, hour_ago))
    return {"root": root, "orders": orders, "products": products, "oldest": hour_ago}


@pytest.fixture(scope="module")
def pushed(reference_lakehouse, servers, backlog):
    """The run-metrics sensor evaluated for the reference run on its instance, and one tick of the
    state sensor; both push to the real Pushgateway."""
    pushgateway, prometheus = servers
    lake = reference_lakehouse
    assert lake["result"].success
    defs, instance, run = lake["defs"], lake["instance"], lake["result"].dagster_run
    resources = {"pushgateway": PushgatewayResource(url=pushgateway.url, timeout_seconds=5)}
    sensor = defs.get_sensor_def("run_metrics_on_success")
    context = build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=lake["result"].get_run_success_event(), dagster_instance=instance,
        dagster_run=run, resources=resources)
    assert sensor(context) is None
    with build_sensor_context(instance=instance, resources={
            **resources, "landing": LandingZoneResource(root=str(backlog["root"])),
            "ingestion_log": defs.resources["ingestion_log"], "delta": defs.resources["delta"]}) as tick:
        state = defs.get_sensor_def("state_metrics").evaluate_tick(tick)
    assert state.skip_message == "1 of 1 metric group(s) pushed (this sensor requests no runs)"
    # the push is seen once Prometheus scraped it (every second)
    wait_for(prometheus, "lakehouse_table_files", bool)
    wait_for(prometheus, "lakehouse_check_passed", lambda r: len(r) >= 23)
    return {**lake, "prometheus": prometheus, "pushgateway": pushgateway, "run": run}


def test_run_counts_outcome_and_duration_are_the_instances(pushed):
    prometheus, instance, run = pushed["prometheus"], pushed["instance"], pushed["run"]
    selector = f'{{dagster_job="{run.job_name}"}}'
    totals = by(query(prometheus, f"lakehouse_runs_total{selector}"), "outcome")
    assert totals == {
        "success": instance.get_runs_count(RunsFilter(job_name=run.job_name, statuses=[DagsterRunStatus.SUCCESS])),
        "failure": instance.get_runs_count(RunsFilter(job_name=run.job_name, statuses=[DagsterRunStatus.FAILURE])),
        "canceled": 0,
    }
    assert totals["success"] >= 1
    record = instance.get_run_record_by_id(run.run_id)
    assert by(query(prometheus, f"lakehouse_last_run_success{selector}")) == 1
    assert by(query(prometheus, f"lakehouse_last_run_duration_seconds{selector}")) == pytest.approx(
        record.end_time - record.start_time)
    assert by(query(prometheus, f"lakehouse_last_run_finish_timestamp_seconds{selector}")) == pytest.approx(
        record.end_time)
    assert by(query(prometheus, f"lakehouse_last_run_failed_steps{selector}")) == 0
    dropped = max(m.get("lineage_events_dropped", 0) for m in materializations(pushed["result"]).values())
    assert by(query(prometheus, f"lakehouse_last_run_lineage_events_dropped{selector}")) == dropped == 0
    # no run id anywhere in a label
    for pairs in query(prometheus, '{__name__=~"lakehouse_.+"}'):
        assert run.run_id not in {value for _, value in pairs}, pairs


def test_rows_written_are_the_delta_tables_rows(pushed):
    prometheus, root = pushed["prometheus"], Path(pushed["root"])
    written = materializations(pushed["result"])
    rows_out = by(query(prometheus, "lakehouse_asset_rows_out"), "table", "partition")
    assert {table for table, _ in rows_out} == set(written)
    for table in WRITTEN_WHOLE:
        version = written[table]["delta_version"]
        rows = DeltaTable(str(root / "tables" / table), version=version).to_pyarrow_table().num_rows
        assert rows_out[(table, RANGE)] == rows > 0, table
    # silver's accounting: every record in is out or quarantined, as the table and its quarantine hold
    orders = by(query(prometheus, '{__name__=~"lakehouse_asset_rows_(in|out|quarantined)", table="silver/orders"}'),
                "__name__")
    quarantine = DeltaTable(str(root / "tables" / "silver/quarantine_orders"),
                            version=written["silver/quarantine_orders"]["delta_version"]).to_pyarrow_table().num_rows
    assert orders["lakehouse_asset_rows_quarantined"] == quarantine > 0
    assert orders["lakehouse_asset_rows_in"] == orders["lakehouse_asset_rows_out"] + quarantine
    # bronze: lines rejected as unparseable are the rejects table's rows
    rejected = by(query(prometheus, 'lakehouse_asset_rows_rejected{table="bronze/orders"}'))
    assert rejected == rows_out[("bronze/rejected_orders", RANGE)] > 0


def test_rows_per_partition_and_step_durations_are_the_runs(pushed):
    prometheus, instance, run = pushed["prometheus"], pushed["instance"], pushed["run"]
    expected, steps = {}, {}
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        m = entry.dagster_event.event_specific_data.materialization
        table = "/".join(m.asset_key.path)
        expected[(table, m.partition or "unpartitioned")] = m.metadata["dagster/row_count"].value
        steps[table] = entry.dagster_event.step_key
    assert by(query(prometheus, "lakehouse_asset_rows"), "table", "partition") == expected
    assert ("silver/orders", REFERENCE_START) in expected and ("silver/products", "unpartitioned") in expected
    stats = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(run.run_id)}
    durations = by(query(prometheus, "lakehouse_asset_step_duration_seconds"), "table", "step")
    assert durations == pytest.approx({(table, step): stats[step] for table, step in steps.items()})


def test_check_outcomes_and_failure_counts_are_the_instances(pushed):
    prometheus, instance, run = pushed["prometheus"], pushed["instance"], pushed["run"]
    evaluations: dict[tuple[str, str], list] = {}
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        e = entry.dagster_event.event_specific_data
        evaluations.setdefault(("/".join(e.asset_key.path), e.check_name), []).append(e)
    passed = by(query(prometheus, "lakehouse_check_passed"), "table", "check", "severity")
    failures = by(query(prometheus, "lakehouse_check_failure_count"), "table", "check")
    assert len(passed) == len(evaluations) >= 23
    for (table, check), evals in evaluations.items():
        # a range run records the check over the range and once per day: the range's own count
        whole = [e for e in evals if e.partition is None]
        counted = whole[-1:] if whole else evals
        assert passed[(table, check, evals[0].severity.value)] == (1 if all(e.passed for e in evals) else 0)
        assert failures[(table, check)] == sum(e.metadata["failure_count"].value for e in counted), (table, check)


def test_backlog_and_table_sizes_are_measured(pushed, backlog):
    prometheus, root = pushed["prometheus"], Path(pushed["root"])
    files = by(query(prometheus, "lakehouse_landing_files_waiting"), "source")
    assert files == {"orders": 1, "customers": 0, "products": 1}
    assert by(query(prometheus, "lakehouse_landing_waiting_bytes"), "source") == {
        "orders": backlog["orders"].stat().st_size, "customers": 0, "products": backlog["products"].stat().st_size}
    ages = by(query(prometheus, "lakehouse_landing_oldest_file_age_seconds"), "source")
    assert 3600 <= ages["orders"] <= time.time() - backlog["oldest"] + 1 and ages["customers"] == 0
    sizes = by(query(prometheus, "lakehouse_table_size_bytes"), "table")
    counts = by(query(prometheus, "lakehouse_table_files"), "table")
    versions = by(query(prometheus, "lakehouse_table_version"), "table")
    tables = sorted(str(p.parent.relative_to(root / "tables")) for p in (root / "tables").glob("*/*/_delta_log"))
    assert set(sizes) == set(counts) == set(versions) == set(tables) and "silver/orders" in tables
    assert counts["silver/orders"] > 0 and sizes["silver/orders"] > 0
    for table in tables:
        delta = DeltaTable(str(root / "tables" / table))
        live = [Path(uri.removeprefix("file://")) for uri in delta.file_uris()]
        assert counts[table] == len(live), table  # 0 for a table that holds no rows (e.g. no rejects)
        assert sizes[table] == sum(p.stat().st_size for p in live), table
        assert versions[table] == delta.version(), table


def test_every_dashboard_panel_has_data_and_every_metric_a_panel(pushed):
    prometheus = pushed["prometheus"]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for expr in exprs:
        assert query(prometheus, expr), f"no data for panel query {expr!r}"
    used = {name for expr in exprs for name in re.findall(r"\blakehouse_[a-z_]+", expr)}
    assert used == {m.name for m in METRICS}
    datasource = {p["datasource"]["uid"] for p in dashboard["panels"]}
    provisioned = (PLATFORM_CONFIG.parent.parent / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert datasource == {"lakehouse-prometheus"} and "uid: lakehouse-prometheus" in provisioned


def test_a_pushgateway_that_is_down_fails_no_sensor_tick(pushed, capfd):
    defs, instance, run = pushed["defs"], pushed["instance"], pushed["run"]
    down = {"pushgateway": PushgatewayResource(url=f"http://127.0.0.1:{free_port()}/secret-path", timeout_seconds=2)}
    sensor = defs.get_sensor_def("run_metrics_on_success")
    context = build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=pushed["result"].get_run_success_event(), dagster_instance=instance,
        dagster_run=run, resources=down)
    capfd.readouterr()
    assert sensor(context) is None
    with build_sensor_context(instance=instance, resources={
            **down, "landing": defs.resources["landing"], "ingestion_log": defs.resources["ingestion_log"],
            "delta": defs.resources["delta"]}) as tick:
        state = defs.get_sensor_def("state_metrics").evaluate_tick(tick)
    logged = capfd.readouterr().err  # the sensors' log (Dagster's console logger)
    assert state.skip_message == "0 of 1 metric group(s) pushed (this sensor requests no runs)"
    warnings = [line for line in logged.splitlines() if "Metrics not pushed" in line]
    assert len(warnings) == 2 and all("WARNING" in w and "Connection refused" in w for w in warnings), logged
    assert "secret-path" not in logged
    # the values pushed before are still what Prometheus serves
    assert by(query(pushed["prometheus"], f'lakehouse_last_run_success{{dagster_job="{run.job_name}"}}')) == 1

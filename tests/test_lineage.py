"""OpenLineage events of real runs: real Spark, Delta, pandera and openlineage-python client.

One module-scoped end-to-end run (two generated days) writes its events with the
file transport; the tests read them back, validate them against the official
OpenLineage JSON Schemas and check their content against the Dagster asset graph.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, TableColumnLineage
from pyspark.sql import functions as F

from conftest import REPO_ROOT, check_evaluations, load_platform_definitions, materializations, run_graph
from resources.lineage import LineageResource

START = date(2026, 1, 1)
DAYS = 2
END = START + timedelta(days=DAYS - 1)
SPEC_DIR = REPO_ROOT / "tests" / "data" / "openlineage-spec"  # the official schemas, vendored (see its README)
GOLD_AND_FEATURES = ["gold/daily_sales", "gold/customer_lifetime_value", "features/customer_features"]


# -- unit: dataset naming ---------------------------------------------------------------------
def test_datasets_are_named_like_openlineage_spark():
    from resources.lineage import dataset_identity

    assert dataset_identity("/data/tables/gold/daily_sales") == ("file", "/data/tables/gold/daily_sales")
    assert dataset_identity("file:///data/x") == ("file", "/data/x")
    assert dataset_identity("file:/data/x") == ("file", "/data/x")
    assert dataset_identity("s3a://bucket/tables/silver/orders") == ("s3://bucket", "tables/silver/orders")
    assert dataset_identity("s3://bucket/landing/orders") == ("s3://bucket", "landing/orders")


def test_uri_fields_are_absolute_uris_even_for_the_bare_file_namespace(tmp_path):
    """``file`` names a namespace (openlineage-spark's convention) but is no URI: the dataSource
    facet's ``uri`` (``format: uri``) is ``file:///``; object stores' namespaces are URIs already."""
    from pydantic import ValidationError

    from assets.lineage import _input
    from resources.lineage import LineageResource, namespace_uri

    assert namespace_uri("file") == "file:///"
    assert namespace_uri("s3://bucket") == "s3://bucket"
    with pytest.raises(ValueError):
        namespace_uri("bucket")
    lineage = LineageResource(table_root=str(tmp_path / "tables"), landing_root=str(tmp_path / "landing"))
    dataset = _input(lineage, lineage.table_uri("silver/orders"))
    assert (dataset.namespace, dataset.facets["dataSource"].name, dataset.facets["dataSource"].uri) == (
        "file", "file", "file:///")
    with pytest.raises(ValidationError, match="absolute URI"):
        LineageResource(table_root="/t", landing_root="/l", producer="lakehouse-platform")


# -- unit: the wrapper --------------------------------------------------------------------------
def _spy_on(seen: list):
    """A pass-through decorator recording what the function under it hands to Dagster."""
    return lambda wrapped: _spy(wrapped, seen)


def _spy(wrapped, seen: list):
    import functools
    import inspect

    if inspect.isgeneratorfunction(wrapped):
        @functools.wraps(wrapped)
        def spy(*args, **kwargs):
            for result in wrapped(*args, **kwargs):
                seen.append(result)
                yield result
    else:
        @functools.wraps(wrapped)
        def spy(*args, **kwargs):
            seen.append(wrapped(*args, **kwargs))
            return seen[-1]
    return spy


def test_emits_lineage_wraps_without_rebuilding_results(tmp_path, spec_registry):
    """A tiny partitioned @asset (generator, with an in-step check and declared column lineage), a
    @multi_asset (plain function) and an @asset_check, run over a two-day range in one process:
    the events are written, Dagster receives the very objects the functions produced, and each
    day's materialization carries the lineage metadata added through ``context.add_asset_metadata``."""
    from dagster import (
        AssetCheckResult, AssetCheckSpec, AssetKey, AssetSpec, DailyPartitionsDefinition, MaterializeResult,
        TableColumn, TableSchema, asset, asset_check, materialize, multi_asset,
    )

    from assets.lineage import emits_lineage
    from assets.transforms.column_lineage import aggregated, identity

    produced: list = []
    seen: list = []
    days = DailyPartitionsDefinition(start_date=START.isoformat())
    toy_lineage = {"day": identity("silver/toy", "day"), "total": aggregated("silver/toy", "amount", how="sum")}

    @multi_asset(specs=[AssetSpec(["silver", "toy"]), AssetSpec(["silver", "quarantine_toy"])])
    @_spy_on(seen)
    @emits_lineage
    def silver_toy(context, lineage: LineageResource):
        produced.append((MaterializeResult(asset_key=["silver", "toy"], metadata={"dagster/row_count": 3}),
                         MaterializeResult(asset_key=["silver", "quarantine_toy"], metadata={"dagster/row_count": 1})))
        return produced[-1]

    @asset(key=["gold", "toy"], deps=[AssetKey(["silver", "toy"])], partitions_def=days,
           check_specs=[AssetCheckSpec("positive", asset=["gold", "toy"])])
    @_spy_on(seen)
    @emits_lineage(column_lineage={"gold/toy": toy_lineage})
    def gold_toy(context, lineage: LineageResource):
        schema = TableSchema(columns=[TableColumn("day", "date"), TableColumn("total", "double")])
        for result in (MaterializeResult(metadata={"dagster/row_count": 2, "dagster/column_schema": schema,
                                                   "run_row_count": 2}),
                       AssetCheckResult(passed=True, metadata={"rows": 2})):
            produced.append(result)
            yield result

    @asset_check(asset=AssetKey(["gold", "toy"]), name="standalone")
    @_spy_on(seen)
    @emits_lineage
    def standalone(context, lineage: LineageResource):
        produced.append(AssetCheckResult(passed=False, metadata={"why": "a test"}))
        return produced[-1]

    events_file = tmp_path / "lineage" / "events.jsonl"
    lineage = LineageResource(file_path=str(events_file), table_root=str(tmp_path / "tables"),
                              landing_root=str(tmp_path / "landing"))
    result = materialize([silver_toy, gold_toy, standalone], resources={"lineage": lineage}, tags={
        "dagster/asset_partition_range_start": START.isoformat(),
        "dagster/asset_partition_range_end": END.isoformat()})
    assert result.success

    # Dagster got exactly what the functions produced: the same objects, not copies
    assert len(seen) == len(produced) == 4 and all(a is b for a, b in zip(seen, produced))
    events = by_job(read_events(events_file, result.run_id))
    assert {job: [e["eventType"] for e in es] for job, es in events.items()} == {
        "silver/toy": ["START", "COMPLETE"], "gold/toy": ["START", "COMPLETE"],
        "gold/toy:positive": ["COMPLETE"], "gold/toy:standalone": ["COMPLETE"]}
    for event in (e for es in events.values() for e in es):
        validate_event(spec_registry, event)
    silver_complete, gold_complete = events["silver/toy"][1], events["gold/toy"][1]
    assert [d["name"] for d in silver_complete["outputs"]] == [
        str(tmp_path / "tables" / "silver" / t) for t in ("toy", "quarantine_toy")]
    assert [d["name"] for d in gold_complete["inputs"]] == [str(tmp_path / "tables" / "silver" / "toy")]
    (output,) = gold_complete["outputs"]
    assert set(output["facets"]["columnLineage"]["fields"]) == {"day", "total"}
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert gold_complete["run"]["facets"]["nominalTime"]["nominalEndTime"] == "2026-01-03T00:00:00+00:00"
    assertions = events["gold/toy:standalone"][0]["inputs"][0]["inputFacets"]["dataQualityAssertions"]
    assert [(a["assertion"], a["success"]) for a in assertions["assertions"]] == [("standalone", False)]

    # the lineage metadata, on every day of the range, beside the function's own
    by_day = {}
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization
        by_day[(m.asset_key.to_user_string(), m.partition)] = {k: v.value for k, v in m.metadata.items()}
    assert set(by_day) == {("silver/toy", None), ("silver/quarantine_toy", None),
                           ("gold/toy", "2026-01-01"), ("gold/toy", "2026-01-02")}
    for (table, _), metadata in by_day.items():
        job = table.replace("quarantine_", "")
        assert metadata["openlineage_run_id"] == events[job][1]["run"]["runId"], table
        assert metadata["lineage_events_dropped"] == 0 and "dagster/row_count" in metadata
        assert ("dagster/column_lineage" in metadata) == (job == "gold/toy")
    column_lineage = by_day[("gold/toy", "2026-01-02")]["dagster/column_lineage"]
    assert {c: [(d.asset_key.to_user_string(), d.column_name) for d in deps]
            for c, deps in column_lineage.deps_by_column.items()} == {
        "day": [("silver/toy", "day")], "total": [("silver/toy", "amount")]}
    # check results keep exactly their own metadata (no public way to add to them)
    checks = check_evaluations(result)
    assert {k: v.value for k, v in checks["gold/toy:positive"].metadata.items()} == {"rows": 2}
    assert {k: v.value for k, v in checks["gold/toy:standalone"].metadata.items()} == {"why": "a test"}


def test_emits_lineage_rejects_a_function_without_context_or_lineage():
    from assets.lineage import emits_lineage

    with pytest.raises(TypeError, match=r"no_lineage must take a `lineage: LineageResource` parameter"):
        @emits_lineage
        def no_lineage(context):
            pass
    with pytest.raises(TypeError, match=r"no_context must take `context` as its first parameter, e\.g\."):
        @emits_lineage(landing_source="orders")
        def no_context(delta, lineage: LineageResource):
            pass
    with pytest.raises(TypeError, match=r"`context` as its first parameter and a `lineage"):
        emits_lineage(lambda: None)


# -- the shared end-to-end run ------------------------------------------------------------------
def _build(root: Path, **overrides):
    from resources.settings import LakehouseSettings

    settings = LakehouseSettings(env="ci", root=str(root), start_date=START.isoformat(), **overrides)
    return load_platform_definitions().build_definitions(settings)


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory, spark):
    from datagen import GeneratorConfig, generate_landing_zone

    root = tmp_path_factory.mktemp("lineage")
    previous = os.environ.get("LAKEHOUSE_ROOT")
    os.environ["LAKEHOUSE_ROOT"] = str(root)
    generate_landing_zone(GeneratorConfig(root=str(root / "landing"), customers=120, products=25, orders=400,
                                          days=DAYS, start_date=START.isoformat(), seed=7))
    defs = _build(root)
    instance = DagsterInstance.ephemeral()
    started = time.monotonic()
    result = run_graph(defs, instance, start=START.isoformat(), end=END.isoformat())
    elapsed = time.monotonic() - started
    print(f"end-to-end run with lineage: {elapsed:.1f}s")
    yield {"root": root, "defs": defs, "instance": instance, "result": result, "elapsed": elapsed,
           "events_file": root / "lineage" / "events.jsonl", "delta": defs.resources["delta"]}
    if previous is None:
        os.environ.pop("LAKEHOUSE_ROOT", None)
    else:
        os.environ["LAKEHOUSE_ROOT"] = previous


def read_events(path: Path, run_id: str | None = None) -> list[dict]:
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if run_id is None:
        return events
    return [e for e in events if e["run"]["facets"]["parent"]["run"]["runId"] == run_id]


@pytest.fixture(scope="module")
def events(lakehouse):
    assert lakehouse["result"].success
    return read_events(lakehouse["events_file"], lakehouse["result"].run_id)


def by_job(events: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in events:
        out.setdefault(e["job"]["name"], []).append(e)
    return out


def table_name(lakehouse, table: str) -> str:
    return str(Path(lakehouse["delta"].uri(table)).resolve())


# -- schema validation --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec_registry():
    from referencing import Registry, Resource

    assert (SPEC_DIR / "OpenLineage.json").is_file(), f"the vendored OpenLineage JSON Schemas are missing: {SPEC_DIR}"

    resources = []
    for path in [SPEC_DIR / "OpenLineage.json", *sorted((SPEC_DIR / "facets").glob("*.json"))]:
        contents = json.loads(path.read_text())
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def _validate(registry, instance: dict, schema_url: str) -> None:
    """Validate ``instance`` against the schema at ``schema_url``, ``format`` keywords included: with
    rfc3986-validator and rfc3339-validator installed (the test extra) the format checker checks
    ``uri`` and ``date-time``; without them jsonschema would pass any string."""
    from jsonschema import Draft202012Validator

    base = schema_url.split("#", 1)[0]
    assert base in registry, f"no official schema with $id {base} in {SPEC_DIR}"
    validator = Draft202012Validator({"$ref": schema_url}, registry=registry,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    validator.validate(instance)


def validate_event(registry, event: dict) -> set[str]:
    """The event against its schemaURL and each facet against its _schemaURL; the facets' names."""
    _validate(registry, event, event["schemaURL"])
    names = set()
    for name, facet in _facets(event):
        _validate(registry, facet, facet["_schemaURL"])
        names.add(name)
    return names


def _facets(event: dict):
    yield from event["run"].get("facets", {}).items()
    yield from event["job"].get("facets", {}).items()
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for group in ("facets", "inputFacets", "outputFacets"):
            yield from dataset.get(group, {}).items()


@pytest.mark.slow
def test_every_event_validates_against_the_official_schemas(lakehouse, events, spec_registry):
    everything = read_events(lakehouse["events_file"])
    assert len(everything) == len(events) > 40
    facet_kinds = set()
    for event in everything:
        facet_kinds |= validate_event(spec_registry, event)
        assert datetime.fromisoformat(event["eventTime"]).tzinfo is not None
        for dataset in [*event["inputs"], *event["outputs"]]:
            assert (dataset["namespace"], dataset["facets"]["dataSource"]["uri"]) == ("file", "file:///")
    assert facet_kinds >= {"parent", "nominalTime", "jobType", "sourceCodeLocation", "processing_engine", "schema",
                           "dataSource", "version", "outputStatistics", "dataQualityMetrics", "columnLineage",
                           "dataQualityAssertions"}


def test_the_format_checker_is_live(tmp_path, spec_registry):
    """The validator above rejects what only a ``format`` keyword forbids: a dataSource ``uri`` of
    ``file`` (no scheme), an eventTime without a zone, a runId that is no UUID. Without the format
    packages jsonschema would skip these checks silently and this test would fail."""
    from jsonschema import Draft202012Validator, ValidationError
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.serde import Serde
    from openlineage.client.uuid import generate_new_uuid

    from assets.lineage import _input
    from resources.lineage import LineageResource

    assert {"uri", "date-time", "uuid"} <= set(Draft202012Validator.FORMAT_CHECKER.checkers)
    lineage = LineageResource(table_root=str(tmp_path / "tables"), landing_root=str(tmp_path / "landing"))
    event = json.loads(Serde.to_json(RunEvent(
        eventType=RunState.COMPLETE, eventTime="2026-01-01T09:00:00.123456+00:00",
        run=Run(runId=str(generate_new_uuid())), job=Job(namespace="lakehouse", name="silver/orders"),
        inputs=[_input(lineage, lineage.landing_uri("orders"))], outputs=[], producer=lineage.producer,
    )))
    assert validate_event(spec_registry, event) == {"dataSource"}  # the platform's own event is valid

    def rejected(change, message: str) -> None:
        broken = json.loads(json.dumps(event))
        change(broken)
        with pytest.raises(ValidationError, match=message):
            validate_event(spec_registry, broken)

    rejected(lambda e: e["inputs"][0]["facets"]["dataSource"].update(uri="file"), "is not a 'uri'")
    rejected(lambda e: e.update(eventTime="2026-01-01T09:00:00"), "is not a 'date-time'")
    rejected(lambda e: e["run"].update(runId="run-1"), "is not a 'uuid'")
    rejected(lambda e: e.update(producer="lakehouse-platform"), "is not a 'uri'")


# -- content ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_each_step_has_start_and_complete_with_the_asset_graphs_inputs_and_outputs(lakehouse, events):
    jobs = by_job(events)
    graph = lakehouse["defs"].resolve_asset_graph()
    landing = str(Path(lakehouse["root"]) / "landing")
    for assets_def in graph.assets_defs:
        keys = [spec.key for spec in assets_def.specs]
        if not keys:
            continue  # asset checks defined on their own
        name = keys[0].to_user_string()
        states = [e["eventType"] for e in jobs[name]]
        assert states == ["START", "COMPLETE"], name
        start, complete = jobs[name]
        assert start["run"]["runId"] == complete["run"]["runId"]
        parents = {p for k in keys for p in graph.get(k).parent_keys} - set(keys)
        expected_inputs = {("file", table_name(lakehouse, "/".join(p.path))) for p in parents}
        if name.startswith("bronze/"):
            expected_inputs.add(("file", f"{landing}/{keys[0].path[-1]}"))
        for event in (start, complete):
            assert {(d["namespace"], d["name"]) for d in event["inputs"]} == expected_inputs, name
        outputs = {(d["namespace"], d["name"]) for d in complete["outputs"]}
        if name.startswith("reports/"):
            assert outputs == {("file", str(Path(lakehouse["root"]) / "reports" / "category_sales_summary.csv"))}
        else:
            assert outputs == {("file", table_name(lakehouse, "/".join(k.path))) for k in keys}, name


@pytest.mark.slow
def test_run_facets_link_to_the_dagster_run_and_partition_window(lakehouse, events):
    result = lakehouse["result"]
    jobs = by_job(events)
    for event in events:
        parent = event["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == result.run_id
        assert (parent["job"]["namespace"], parent["job"]["name"]) == ("lakehouse", result.job_def.name)
        assert event["job"]["namespace"] == "lakehouse"
        job_type = event["job"]["facets"]["jobType"]
        assert (job_type["integration"], job_type["processingType"]) == ("DAGSTER", "BATCH")
        assert job_type["jobType"] == ("ASSET_CHECK" if ":" in event["job"]["name"] else "ASSET")
    gold = jobs["gold/daily_sales"][0]["run"]["facets"]
    assert gold["nominalTime"] == {**gold["nominalTime"], "nominalStartTime": "2026-01-01T00:00:00+00:00",
                                   "nominalEndTime": "2026-01-03T00:00:00+00:00"}
    assert "nominalTime" not in jobs["silver/customers"][0]["run"]["facets"]  # unpartitioned
    assert "nominalTime" not in jobs["silver/customers:matches_contract"][0]["run"]["facets"]
    check = jobs["gold/daily_sales:matches_contract"][0]["run"]["facets"]
    assert check["nominalTime"]["nominalStartTime"] == "2026-01-01T00:00:00+00:00"
    assert gold["processing_engine"]["name"] == "spark"
    location = jobs["gold/daily_sales"][0]["job"]["facets"]["sourceCodeLocation"]
    assert location["path"] == "assets/gold/daily_sales.py" and location["url"].endswith("/assets/gold/daily_sales.py")


@pytest.mark.slow
def test_output_statistics_and_quality_metrics_describe_the_written_data(lakehouse, events):
    metadata = materializations(lakehouse["result"])
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    outputs = {d["name"]: d for d in complete["silver/orders"]["outputs"]}
    orders = outputs[table_name(lakehouse, "silver/orders")]
    assert orders["outputFacets"]["outputStatistics"]["rowCount"] == metadata["silver/orders"]["run_row_count"]
    assert orders["facets"]["version"]["datasetVersion"] == "0"
    silver = lakehouse["delta"].read("silver/orders")
    quality = orders["facets"]["dataQualityMetrics"]
    assert quality["rowCount"] == silver.count()
    assert quality["columnMetrics"]["channel"]["nullCount"] == silver.where(F.col("channel").isNull()).count()
    assert quality["columnMetrics"]["order_id"]["nullCount"] == 0
    # from Delta's file statistics, not a scan: exact counts and numeric bounds, no distinct counts
    bounds = silver.agg(F.min("quantity"), F.max("line_amount")).first()
    assert quality["columnMetrics"]["quantity"]["min"] == float(bounds[0])
    assert quality["columnMetrics"]["line_amount"]["max"] == float(bounds[1])
    assert "min" not in quality["columnMetrics"]["order_id"]
    assert "distinctCount" not in quality["columnMetrics"]["order_id"]
    fields = [f["name"] for f in orders["facets"]["schema"]["fields"]]
    assert fields == silver.columns
    assert metadata["silver/orders"]["lineage_events_dropped"] == 0
    gold = {d["name"]: d for d in complete["gold/daily_sales"]["outputs"]}[table_name(lakehouse, "gold/daily_sales")]
    assert gold["facets"]["dataQualityMetrics"]["rowCount"] == lakehouse["delta"].read("gold/daily_sales").count()


@pytest.mark.slow
def test_the_scan_profile_adds_distinct_counts_to_the_statistics(lakehouse):
    """profile="scan": one aggregation pass over the table, the same counts as Delta's statistics
    plus approximate distinct counts; both describe the same (unpartitioned, whole-table) slice."""
    from types import SimpleNamespace

    from assets.lineage import _scan_profile, _statistics_profile

    delta = lakehouse["delta"]
    context = SimpleNamespace(resources=SimpleNamespace(delta=delta))  # no partition window: whole table
    version = delta.last_commit("silver/customers").version
    scanned = _scan_profile(context, "silver/customers", delta.uri("silver/customers"), version)
    counted = _statistics_profile(context, "silver/customers", delta.uri("silver/customers"), version)
    table = delta.read("silver/customers")
    assert scanned["rowCount"] == counted["rowCount"] == table.count()
    for name in ("customer_id", "city", "valid_to", "_source_records"):
        assert scanned["columnMetrics"][name].nullCount == counted["columnMetrics"][name].nullCount
    assert scanned["columnMetrics"]["_source_records"].max == counted["columnMetrics"]["_source_records"].max
    distinct = table.select("customer_id").distinct().count()
    assert abs(scanned["columnMetrics"]["customer_id"].distinctCount - distinct) <= 0.05 * distinct
    assert counted["columnMetrics"]["customer_id"].distinctCount is None


@pytest.mark.slow
def test_column_lineage_covers_every_gold_and_feature_column_and_matches_dagster(lakehouse, events):
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    metadata = materializations(lakehouse["result"])
    for table in GOLD_AND_FEATURES:
        (output,) = complete[table]["outputs"]
        facet = output["facets"]["columnLineage"]["fields"]
        assert set(facet) == set(lakehouse["delta"].read(table).columns), table
        dagster_lineage = metadata[table]["dagster/column_lineage"]
        assert isinstance(dagster_lineage, TableColumnLineage)
        for column, deps in dagster_lineage.deps_by_column.items():
            from_facet = {(f["name"], f["field"]) for f in facet[column]["inputFields"]}
            from_dagster = {(table_name(lakehouse, "/".join(d.asset_key.path)), d.column_name) for d in deps}
            assert from_facet == from_dagster, (table, column)
        # every input field is a column of an input dataset of the step
        inputs = {d["name"]: d for d in complete[table]["inputs"]}
        for column, entry in facet.items():
            for field in entry["inputFields"]:
                assert field["name"] in inputs, (table, column)
    revenue = complete["gold/daily_sales"]["outputs"][0]["facets"]["columnLineage"]["fields"]["revenue"]
    (source,) = revenue["inputFields"]
    assert (source["namespace"], source["name"], source["field"]) == (
        "file", table_name(lakehouse, "silver/orders"), "line_amount")
    assert source["transformations"][0]["type"] == "DIRECT"
    assert source["transformations"][0]["subtype"] == "AGGREGATION"
    date_ = complete["gold/daily_sales"]["outputs"][0]["facets"]["columnLineage"]["fields"]["order_date"]
    assert [t["subtype"] for f in date_["inputFields"] for t in f["transformations"]] == ["IDENTITY"]
    city = complete["features/customer_features"]["outputs"][0]["facets"]["columnLineage"]["fields"]["city"]
    assert {f["name"] for f in city["inputFields"]} == {table_name(lakehouse, "silver/customers")}


@pytest.mark.slow
def test_check_evaluations_emit_assertions_on_the_checked_table(lakehouse, events):
    evaluations = check_evaluations(lakehouse["result"])
    check_events = {e["job"]["name"]: e for e in events if ":" in e["job"]["name"]}
    assert set(check_events) == set(evaluations)
    for name, event in check_events.items():
        assert event["eventType"] == "COMPLETE"
        (checked,) = event["inputs"]
        asset = name.split(":")[0]
        assert checked["name"] == table_name(lakehouse, asset)
        assertions = checked["inputFacets"]["dataQualityAssertions"]["assertions"]
        assert all(a["success"] for a in assertions) == evaluations[name].passed, name
    contract = check_events["gold/daily_sales:matches_contract"]["inputs"][0]["inputFacets"]
    rules = {(a.get("column"), a["assertion"]) for a in contract["dataQualityAssertions"]["assertions"]}
    assert {("revenue", "dtype"), ("revenue", "not_nullable"), ("revenue", "greater_than_or_equal_to"),
            (None, "strict_columns")} <= rules
    unique = check_events["gold/daily_sales:primary_key_unique"]["inputs"][0]["inputFacets"]
    assert [a["assertion"] for a in unique["dataQualityAssertions"]["assertions"]] == ["primary_key_unique"]


@pytest.mark.slow
def test_a_failing_pandera_contract_is_a_failed_assertion(lakehouse, monkeypatch, spec_registry):
    """A write bug puts an order whose channel is outside the contract into silver (the row
    rules, derived from the contract, would quarantine it): the contract check fails pandera's
    ``isin`` rule on ``channel``, and the check's event carries exactly that failed assertion."""
    from pyspark.sql import functions as F

    from assets.transforms import silver as silver_transforms

    day = END + timedelta(days=1)
    landed = Path(lakehouse["root"]) / "landing" / "orders" / f"date={day}" / f"orders_{day}_part0000.jsonl"
    landed.parent.mkdir(parents=True)
    good = lakehouse["delta"].read("silver/orders").orderBy("order_id").first()
    landed.write_text(json.dumps({
        "order_id": "O999999999", "customer_id": good.customer_id, "order_ts": f"{day}T09:00:00Z",
        "channel": "web", "currency": "EUR",
        "items": [{"line_no": 1, "product_id": good.product_id, "quantity": 1, "unit_price": 3.0}],
    }) + "\n")
    conform = silver_transforms.conform_order_lines
    monkeypatch.setattr(silver_transforms, "conform_order_lines",
                        lambda lines: conform(lines.withColumn("channel", F.lit("kiosk"))))
    selection = [AssetKey(["bronze", "orders"]), AssetKey(["bronze", "rejected_orders"]),
                 AssetKey(["silver", "orders"]), AssetKey(["silver", "quarantine_orders"])]
    result = run_graph(lakehouse["defs"], lakehouse["instance"], partition=day.isoformat(), selection=selection)
    assert not check_evaluations(result)["silver/orders:matches_contract"].passed
    events = by_job(read_events(lakehouse["events_file"], result.run_id))
    (event,) = events["silver/orders:matches_contract"]
    validate_event(spec_registry, event)
    assertions = event["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    failed = [(a.get("column"), a["assertion"]) for a in assertions if not a["success"]]
    assert failed == [("channel", "isin")]
    assert all(a["severity"] == "error" for a in assertions)
    assert sum(a["success"] for a in assertions) > 20  # the other rules of the contract passed


@pytest.mark.slow
def test_a_failed_step_emits_fail_with_the_error(tmp_path, spark, spec_registry):
    """gold/daily_sales on an empty lakehouse: reading silver fails, the event says why."""
    defs = _build(tmp_path)
    result = run_graph(defs, DagsterInstance.ephemeral(), partition=START.isoformat(),
                       selection=[AssetKey(["gold", "daily_sales"])])
    assert not result.success
    events = read_events(tmp_path / "lineage" / "events.jsonl", result.run_id)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    error = events[1]["run"]["facets"]["errorMessage"]
    assert error["programmingLanguage"] == "python"
    assert "silver/orders" in error["message"] and "Traceback" in error["stackTrace"]
    assert events[1]["run"]["runId"] == events[0]["run"]["runId"]
    assert "errorMessage" in validate_event(spec_registry, events[1])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


@pytest.fixture
def restore_environment():
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.slow
def test_an_unreachable_http_backend_neither_fails_nor_stalls_the_run(lakehouse, restore_environment):
    """The openlineage client retries a refused connection for about 9 s per event; with ten
    events per step that would add minutes. The run waits once, for the timeout, then drops."""
    timeout = 1.0
    selection = [AssetKey(["silver", "products"]), AssetKey(["silver", "quarantine_products"])]
    os.environ["OPENLINEAGE_URL"] = f"http://127.0.0.1:{_closed_port()}"
    timings = {}
    for mode in ("off", "http"):
        defs = _build(lakehouse["root"], lineage=mode, lineage_timeout_seconds=timeout)
        started = time.monotonic()
        result = run_graph(defs, lakehouse["instance"], selection=selection)
        timings[mode] = time.monotonic() - started
        assert result.success, mode
        metadata = materializations(result)["silver/products"]
        checks = check_evaluations(result)
        assert len(checks) >= 3  # the step's own checks and the quarantine's contract ran
        if mode == "http":
            assert metadata["lineage_events_dropped"] >= 1
        else:
            assert "lineage_events_dropped" not in metadata
    print(f"silver/products step and checks: lineage off {timings['off']:.1f}s, unreachable http "
          f"{timings['http']:.1f}s (timeout {timeout:g}s)")
    # one bounded wait, not the client's retries for each of the ~8 events (>= 70 s)
    assert timings["http"] < timings["off"] + timeout + 8, timings


# -- openlineage-spark's listener beside the assets' own events ----------------------------------
@pytest.mark.slow
def test_spark_listener_events_nest_under_the_dagster_run(tmp_path):
    """LAKEHOUSE_SPARK_LINEAGE=on attaches openlineage-spark (1.53.0, on Spark 4.2) to the run's
    session: its per-query events name the same datasets as the assets' events and have the
    Dagster run as their root parent. The CLI in a subprocess: the listener is set at session start."""
    import subprocess
    import sys

    from datagen import GeneratorConfig, generate_landing_zone

    generate_landing_zone(GeneratorConfig(root=str(tmp_path / "landing"), customers=20, products=5, orders=40,
                                          days=1, start_date=START.isoformat(), seed=3))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.update(LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(tmp_path), LAKEHOUSE_START_DATE=START.isoformat(),
               LAKEHOUSE_SPARK_LINEAGE="on", DAGSTER_HOME=str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-f", "platform/definitions.py",
         "-d", ".", "--select", "bronze/orders,bronze/rejected_orders", "--partition", START.isoformat()],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    ours = read_events(tmp_path / "lineage" / "events.jsonl")
    run_id = ours[0]["run"]["facets"]["parent"]["run"]["runId"]
    spark_events = read_spark_events(tmp_path / "lineage" / "events.spark.jsonl")
    assert spark_events, "openlineage-spark wrote no events"
    for event in spark_events:
        root = event["run"]["facets"]["parent"].get("root") or event["run"]["facets"]["parent"]
        assert root["run"]["runId"] == run_id and root["job"]["name"] == "__ASSET_JOB"
    bronze = ("file", str(tmp_path / "tables" / "bronze" / "orders"))
    ours_out = {(d["namespace"], d["name"]) for e in ours if e["job"]["name"] == "bronze/orders" for d in e["outputs"]}
    spark_out = {(d["namespace"], d["name"]) for e in spark_events for d in e.get("outputs", [])}
    assert bronze in ours_out and bronze in spark_out


def read_spark_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []

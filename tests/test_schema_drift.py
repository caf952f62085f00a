"""Schema drift: the observed schema of every landed file, its history, and the WARN check.

The first tests are pure (the schema reader and the comparison); then the Spark expression that
observes a line's schema in bronze's parse; then (slow) real landing files through real Dagster
runs: a clean day, then a day whose files add a field, drop one, re-type one and rename a nested one.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from assets.quality import schema_drift as sd
from assets.transforms import bronze as t
from conftest import check_evaluations, load_platform_definitions, run_graph

EXPECTED = sd.expected_fields(t.ORDER_SCHEMA)
D1, D2 = date(2026, 1, 1), date(2026, 1, 2)


# -- pure: reading schemas and comparing them -------------------------------------------------------
def test_the_order_contract_as_json_types():
    assert EXPECTED == {
        "order_id": "string", "customer_id": "string", "order_ts": "string", "channel": "string",
        "currency": "string", "items": "array", "items[]": "object", "items[].line_no": "integer",
        "items[].product_id": "string", "items[].quantity": "integer", "items[].unit_price": "number",
    }


def test_a_variant_schema_reads_as_field_paths_at_every_depth():
    text = ("OBJECT<``: BIGINT, `a b``c`: OBJECT<x: VOID>, `a:b`: OBJECT<>, DOUBLE: STRING, e: ARRAY<VOID>, "
            "items: ARRAY<OBJECT<line_no: BIGINT, quantity: VARIANT, unit_price: NUMBER>>, n: DECIMAL(23,0), "
            "t: ARRAY<ARRAY<BOOLEAN>>>")
    assert sd.parse_observed_schema(text) == {
        '""': "integer", "a b`c": "object", "a b`c.x": "null", "a:b": "object", "DOUBLE": "string",
        "e": "array", "items": "array", "items[]": "object", "items[].line_no": "integer",
        "items[].quantity": "mixed", "items[].unit_price": "number", "n": "number",
        "t": "array", "t[]": "array", "t[][]": "boolean",
    }
    assert sd.parse_observed_schema("ARRAY<BIGINT>") == {} and sd.parse_observed_schema(None) == {}


def fields(**types: str | set[str]) -> dict[str, frozenset[str]]:
    return {k.replace("__", "[]."): frozenset({v} if isinstance(v, str) else v) for k, v in types.items()}


CLEAN = {path: frozenset({json_type}) for path, json_type in EXPECTED.items()}


def test_a_clean_file_nulls_and_integer_prices_are_no_drift():
    observed = {**CLEAN, "customer_id": frozenset({"string", "null"}), "items[].unit_price": frozenset({"integer"})}
    assert sd.file_drift(observed, EXPECTED, {}) == []


def test_added_missing_and_retyped_fields_against_the_contract():
    observed = {k: v for k, v in CLEAN.items() if k not in ("customer_id", "items[].quantity")}
    observed |= fields(coupon="object", coupon_code="string", items__qty="integer", order_ts={"string", "integer"})
    observed["coupon.code"] = frozenset({"string"})  # inside the new field: part of it, not a row of its own
    assert sd.file_drift(observed, EXPECTED, {}) == [
        ("coupon", "added", "—", "object"),
        ("coupon_code", "added", "—", "string"),
        ("items[].qty", "added", "—", "integer"),
        ("order_ts", "retyped", "string", "integer | string"),  # some lines still send a string
        ("customer_id", "missing", "string", "—"),
        ("items[].quantity", "missing", "integer", "—"),
    ]


def test_item_fields_are_not_missing_when_every_order_had_empty_items():
    observed = {k: v for k, v in CLEAN.items() if not k.startswith("items[]")}
    assert sd.file_drift(observed, EXPECTED, {}) == []


def test_an_extra_field_warns_on_its_first_day_and_then_only_when_it_changes():
    """The history (the latest earlier landing day) is the baseline for fields silver does not read."""
    history = [
        Row("d1/a.jsonl", D1, "order_id", "string"),
        Row("d2/a.jsonl", D2, "order_id", "string"), Row("d2/a.jsonl", D2, "coupon", "string"),
        Row("d2/a.jsonl", D2, "note", "string"),
        Row("d3/a.jsonl", date(2026, 1, 3), "order_id", "string"),
        Row("d3/a.jsonl", date(2026, 1, 3), "coupon", "integer"),
    ]
    expected = {"order_id": "string"}
    day2 = sd.drift_in_days(history, expected, D2, D2)
    assert [r["field"] + ":" + r["change"] for r in day2.metadata["drifted_fields"].value] == [
        "coupon:added", "note:added"]
    day3 = sd.drift_in_days(history, expected, date(2026, 1, 3), date(2026, 1, 3))
    assert [(r["field"], r["change"], r["expected type"], r["observed type"])
            for r in day3.metadata["drifted_fields"].value] == [
        ("coupon", "retyped", "string", "integer"), ("note", "missing", "string", "—")]
    assert day3.metadata["failure_count"].value == 2
    same = [Row("d4/a.jsonl", date(2026, 1, 4), "order_id", "string"),
            Row("d4/a.jsonl", date(2026, 1, 4), "coupon", "integer")]
    day4 = sd.drift_in_days(history + same, expected, date(2026, 1, 4), date(2026, 1, 4), ["d4/a.jsonl", "d4/b"])
    assert day4.passed and day4.metadata["failure_count"].value == 0
    assert day4.metadata["known_extra_fields"].value == ["coupon"]
    assert day4.metadata["files_without_schema"].value == 1  # ingested, but no schema recorded


class Row:
    def __init__(self, path: str, landed_date: date, field: str, json_type: str):
        self.path, self.landed_date, self.field, self.json_type = path, landed_date, field, json_type


# -- Spark: the schema is observed in bronze's parse ------------------------------------------------
def test_bronze_parse_observes_each_lines_schema_and_never_writes_it(spark):
    lines = ['{"order_id": "O1", "items": [{"line_no": 1, "quantity": "3", "unit_price": 9.5}]}',
             '{"order_id": "O2", "items": [{"line_no": 1, "quantity": 2, "unit_price": 1.25}], "x": 1e3}',
             '{"order_id": "O3", "items": []}{"a": 1}',
             "{broken",
             "\ufeff" + '{"order_id": "O4", "items": [], "DOUBLE": 2.5}']
    raw = spark.createDataFrame([(line, f"/l/orders/date=2026-01-01/{n}.jsonl") for n, line in enumerate(lines)],
                                "value string, _source_file string")
    records = t.parse_order_lines(raw, "run-1").cache()
    observed = {Path(r._source_file).stem: (r._observed_schema, r._corrupt_record is None) for r in records.collect()}
    assert observed == {
        # quantity "3" does not fit the order schema: the line is rejected, its schema still observed
        "0": ("OBJECT<items: ARRAY<OBJECT<line_no: BIGINT, quantity: STRING, unit_price: NUMBER>>, "
              "order_id: STRING>", False),
        "1": ("OBJECT<items: ARRAY<OBJECT<line_no: BIGINT, quantity: BIGINT, unit_price: NUMBER>>, "
              "order_id: STRING, x: NUMBER>", True),
        "2": (None, False),  # two JSON values on one line: rejected, and no schema of its own
        "3": (None, False),
        "4": ("OBJECT<DOUBLE: NUMBER, items: ARRAY<VOID>, order_id: STRING>", True),  # a field named DOUBLE stays
    }
    assert t.OBSERVED_SCHEMA not in t.accepted(records).columns
    counts = {Path(r._source_file).stem: (r.parsed, r.unparseable) for r in t.file_observations(records).collect()}
    assert counts == {"0": (0, 1), "1": (1, 0), "2": (0, 1), "3": (0, 1), "4": (1, 0)}
    records.unpersist()


# -- real landing files through real runs -------------------------------------------------------------
ORDERS = [AssetKey(["bronze", "orders"]), AssetKey(["bronze", "rejected_orders"])]
DRIFT = "bronze/orders:no_schema_drift"


def drift_order(order_id: str, *, drop: str = "", item: dict | None = None, **extra) -> str:
    record = {"order_id": order_id, "customer_id": "C0000001", "order_ts": f"{D2}T10:00:00Z", "channel": "web",
              "currency": "EUR", "items": [item or {"line_no": 1, "product_id": "P00001", "quantity": 2,
                                                    "unit_price": 4.5}], **extra}
    record.pop(drop, None)
    return json.dumps(record) + "\n"


@pytest.fixture(scope="module")
def drifted(tmp_path_factory, spark):
    """Day 1 as generated (clean); day 2 generated plus four files that drift, and a customers
    file with an extra column. Both days through bronze and silver, day by day."""
    from datagen import GeneratorConfig, generate_landing_zone
    from resources.settings import LakehouseSettings

    root = tmp_path_factory.mktemp("drift")
    generate_landing_zone(GeneratorConfig(root=str(root / "landing"), customers=30, products=10, orders=120, days=2,
                                          start_date=D1.isoformat(), seed=5))
    day2 = root / "landing" / "orders" / f"date={D2}"
    (day2 / "added.jsonl").write_text(drift_order("O900000001", coupon="NEWYEAR"))
    (day2 / "dropped.jsonl").write_text(drift_order("O900000002", drop="customer_id"))
    (day2 / "retyped.jsonl").write_text(
        drift_order("O900000003") + drift_order("O900000004", item={"line_no": 1, "product_id": "P00001",
                                                                     "quantity": "3", "unit_price": 4.5}))
    (day2 / "renamed.jsonl").write_text(
        drift_order("O900000005", item={"line_no": 1, "product_id": "P00001", "qty": 2, "unit_price": 4.5}))
    (root / "landing" / "customers" / f"date={D2}" / "extra.csv").write_text(
        "customer_id,name,email,address,city,signup_date,updated_at,phone\n"
        "C0000001,Ann,ann@x.io,1 Main St,Oslo,2025-01-01,2026-01-02T00:00:00,555\n")

    defs = load_platform_definitions().build_definitions(
        LakehouseSettings(env="ci", root=str(root), start_date=D1.isoformat()))
    instance = DagsterInstance.ephemeral()
    layers = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] in ("bronze", "silver")]
    runs = {day: run_graph(defs, instance, partition=day.isoformat(), selection=layers) for day in (D1, D2)}
    return {"root": root, "defs": defs, "instance": instance, "delta": defs.resources["delta"], "runs": runs}


def history(lake) -> list[tuple]:
    from resources.landing_schemas import LandingSchemaHistory

    return sorted((Path(r.path).name, r.landed_date, r.field, r.json_type, r.lines, r.first_seen_run)
                  for r in LandingSchemaHistory(lake["delta"]).rows("orders"))


@pytest.mark.slow
def test_a_clean_day_passes_with_failure_count_zero(drifted):
    run = drifted["runs"][D1]
    assert run.success
    evaluations = check_evaluations(run)
    for source in ("orders", "customers", "products"):
        check = evaluations[f"bronze/{source}:no_schema_drift"]
        assert check.passed and check.severity.value == "WARN"
        assert check.metadata["failure_count"].value == 0 and check.metadata["files_checked"].value == 1
        assert evaluations[f"bronze/{source}:landed_lines_accounted"].passed


@pytest.mark.slow
def test_the_history_holds_every_field_each_file_sent(drifted):
    rows = history(drifted)
    by_file: dict[str, dict[str, str]] = {}
    for name, _, field, json_type, _, _ in rows:
        by_file.setdefault(name, {})[field] = by_file.get(name, {}).get(field, "") + json_type
    clean = f"orders_{D1}_part0000.jsonl"
    assert set(by_file[clean]) == set(EXPECTED)
    assert by_file["added.jsonl"] == {**EXPECTED, "coupon": "string"}
    assert by_file["dropped.jsonl"] == {k: v for k, v in EXPECTED.items() if k != "customer_id"}
    retyped = [r for r in rows if r[0] == "retyped.jsonl" and r[2] == "items[].quantity"]
    assert [(r[3], r[4]) for r in retyped] == [("integer", 1), ("string", 1)]  # one line each
    renamed = by_file["renamed.jsonl"]
    assert "items[].quantity" not in renamed and renamed["items[].qty"] == "integer"
    first_run = drifted["runs"][D1].run_id
    assert {r[5] for r in rows if r[0] == clean and r[2] == "order_id"} == {first_run}
    assert {r[5] for r in rows if r[2] == "coupon"} == {drifted["runs"][D2].run_id}


DIFF = """| field | change | expected type | observed type | files |
|---|---|---|---|---|
| coupon | added | — | string | date=2026-01-02/added.jsonl |
| customer_id | missing | string | — | date=2026-01-02/dropped.jsonl |
| items[].qty | added | — | integer | date=2026-01-02/renamed.jsonl |
| items[].quantity | missing | integer | — | date=2026-01-02/renamed.jsonl |
| items[].quantity | retyped | integer | integer \\| string | date=2026-01-02/retyped.jsonl |"""


def assert_drift(check) -> None:
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["schema_diff"].value == DIFF
    assert check.metadata["failure_count"].value == 4  # coupon, customer_id, items[].qty, items[].quantity
    assert check.metadata["files_drifted"].value == 4
    assert check.metadata["files_checked"].value == 5


@pytest.mark.slow
def test_drift_fails_warn_with_the_exact_diff_and_a_log_warning_and_nothing_downstream_stops(drifted):
    run = drifted["runs"][D2]
    assert run.success  # WARN, not blocking: silver ran
    evaluations = check_evaluations(run)
    assert_drift(evaluations[DRIFT])
    assert evaluations["bronze/orders:landed_lines_accounted"].passed
    customers = evaluations["bronze/customers:no_schema_drift"]
    assert not customers.passed and customers.metadata["failure_count"].value == 1
    assert "| phone | added | — | string | date=2026-01-02/extra.csv |" in customers.metadata["schema_diff"].value
    warnings = [e.user_message for e in drifted["instance"].all_logs(run.run_id)
                if e.level == logging.WARNING and "schema drift" in e.user_message]
    assert any("orders: schema drift in 2026-01-02..2026-01-02: coupon added" in w for w in warnings)


@pytest.mark.slow
def test_silver_ignores_an_extra_field_and_quarantines_missing_and_renamed_ones_as_before(drifted):
    delta = drifted["delta"]
    day = f"_landed_date = DATE'{D2}'"
    accepted = {r.order_id for r in delta.read("silver/orders", day).collect()}
    quarantined = {r.order_id: r.rule for r in delta.read("silver/quarantine_orders", day).collect()}
    assert "O900000001" in accepted and "coupon" not in delta.read("silver/orders").columns
    assert quarantined["O900000002"] == "missing_customer_id"
    assert quarantined["O900000005"] == "non_positive_quantity"  # quantity renamed: no quantity
    assert "O900000003" in accepted
    # quantity "3" does not fit bronze's order schema: the line is a bronze reject with its text, as today
    rejected = [r.raw_record for r in delta.read("bronze/rejected_orders", day).collect()]
    assert any('"O900000004"' in raw for raw in rejected)
    assert "O900000004" not in accepted | set(quarantined)


@pytest.mark.slow
def test_re_running_the_day_replaces_its_history_rows_and_the_audit_agrees(drifted):
    before = history(drifted)
    job = drifted["defs"].resolve_implicit_global_asset_job_def()
    again = job.execute_in_process(instance=drifted["instance"], partition_key=D2.isoformat(), asset_selection=ORDERS,
                                   run_config={"ops": {"bronze_orders": {"config": {"reingest": True}}}})
    evaluations = check_evaluations(again)
    assert_drift(evaluations[DRIFT])
    assert evaluations["bronze/orders:landed_lines_accounted"].passed
    after = history(drifted)
    assert after == before  # same rows, none twice, and every field keeps the run that first saw it

    audit = drifted["defs"].resolve_job_def("audit_tables")
    for day, drifts in ((D1, False), (D2, True)):
        result = audit.execute_in_process(instance=drifted["instance"], partition_key=day.isoformat())
        check = check_evaluations(result)[DRIFT]
        assert check.metadata["evaluated_from"].value == "the stored tables (audit)"
        if drifts:
            assert_drift(check)
        else:
            assert check.passed and check.metadata["failure_count"].value == 0

"""The contract checks: pandera's rules counted in one pass must be exactly what pandera finds."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

import pyspark.sql.types as T
from pandera.pyspark import DataFrameModel, Field

from assets.silver.orders import SilverOrderLine
from assets.silver.quarantine import QuarantineRecord
from assets.quality.results import pandera_check

pytestmark = pytest.mark.filterwarnings("ignore")

ORDER_LINE = (
    "order_id string, line_no int, customer_id string, order_ts timestamp, order_date date, channel string, "
    "currency string, product_id string, quantity int, unit_price decimal(12,2), line_amount decimal(12,2), "
    "_landed_date date, _source_file string, _ingested_at timestamp, _row_hash string"
)
TS, DAY = datetime(2026, 1, 2, 10), date(2026, 1, 2)


def line(order_id="O1", line_no=1, customer_id="C1", channel="web", quantity=1, unit_price="5.00",
         line_amount="5.00", source="f.jsonl"):
    return (order_id, line_no, customer_id, TS, DAY, channel, "EUR", "P1", quantity,
            None if unit_price is None else Decimal(unit_price), Decimal(line_amount), DAY, source, TS, "h")


def failed_by_pandera(model, df) -> set[tuple[str, str]]:
    """pandera's own validation, every rule a Spark job: the reference."""
    errors = model.validate(check_obj=df).pandera.errors or {}
    return {(str(e["column"]), str(e["check"]).split("(")[0])
            for category in errors.values() for entries in category.values() for e in entries}


@pytest.mark.slow  # pandera's reference validation is a Spark job per rule (about 20 s)
def test_one_pass_counts_every_rule_pandera_finds(spark):
    df = spark.createDataFrame([
        line(),
        line(order_id="X1"),                       # str_matches
        line(order_id="O2", line_no=0),            # greater_than_or_equal_to(1)
        line(order_id="O3", channel="kiosk"),      # isin
        line(order_id="O4", channel="kiosk"),
        line(order_id="O5", quantity=0),           # greater_than(0)
        line(order_id="O6", unit_price=None),      # not_nullable
        line(order_id="O7", line_amount="-1.00"),  # greater_than_or_equal_to(0)
        line(order_id="O8", customer_id=None, source=None),
        line(order_id="O9", channel=None),         # nullable: passes
    ], ORDER_LINE)
    result = pandera_check(SilverOrderLine, df, ["order_id", "line_no"])
    failures = result.metadata["failures"].value
    ours = {(f["column"], f["check"].split("(")[0]) for f in failures}
    assert ours == failed_by_pandera(SilverOrderLine, df) == {
        ("order_id", "str_matches"), ("line_no", "greater_than_or_equal_to"), ("channel", "isin"),
        ("quantity", "greater_than"), ("unit_price", "not_nullable"), ("line_amount", "greater_than_or_equal_to"),
        ("customer_id", "not_nullable"), ("_source_file", "not_nullable"),
    }
    counts = {(f["column"], f["check"].split("(")[0]): f["failure_count"] for f in failures}
    assert counts[("channel", "isin")] == 2 and counts[("order_id", "str_matches")] == 1
    assert result.metadata["failure_count"].value == 9
    samples = result.metadata["sample_failing_keys"].value
    assert {"rule": "channel:isin(['web', 'app', 'store'])", "order_id": "O3", "line_no": "1"} in samples
    outcomes = {(a.get("column"), a["assertion"]): a["success"] for a in result.metadata["assertions"].value}
    assert outcomes[("channel", "isin")] is False and outcomes[("currency", "dtype")] is True


def test_structure_is_pandera_s_own_verdict(spark):
    """Missing and unexpected columns and wrong types come from pandera on a zero-row view."""
    df = spark.createDataFrame([line()], ORDER_LINE).drop("currency").withColumn("quantity", line_quantity_as_text())
    df = df.withColumn("surprise", df.order_id)
    result = pandera_check(SilverOrderLine, df, ["order_id", "line_no"])
    assert not result.passed
    failed = {(f["column"], f["check"].split("(")[0]) for f in result.metadata["failures"].value}
    assert failed == failed_by_pandera(SilverOrderLine, df)
    assert {c for c, _ in failed} >= {"currency", "quantity"}


def line_quantity_as_text():
    from pyspark.sql import functions as F

    return F.col("quantity").cast("string")


def test_quarantine_contract_rules(spark):
    df = spark.createDataFrame(
        [("bad rule", "{}", DAY, "f"), ("ok_rule", "not json", DAY, "f"), ("ok_rule", "{}", DAY, "f")],
        "_rule string, record string, _landed_date date, _source_file string",
    ).withColumnRenamed("_rule", "rule")
    result = pandera_check(QuarantineRecord, df, [])
    ours = {(f["column"], f["check"].split("(")[0]) for f in result.metadata["failures"].value}
    assert ours == failed_by_pandera(QuarantineRecord, df) == {("rule", "str_matches"),
                                                                      ("record", "str_startswith")}


def test_a_clean_table_passes_with_every_rule_counted(spark):
    result = pandera_check(SilverOrderLine, spark.createDataFrame([line(), line("O2")], ORDER_LINE), [])
    assert result.passed and result.metadata["rules_checked"].value > 15
    assert all(a["success"] for a in result.metadata["assertions"].value)


class _Named(DataFrameModel):
    """A rule the one-pass evaluation cannot express (string length): pandera validates the data."""

    name: T.StringType() = Field(nullable=False, str_length={"min_value": 2})


def test_a_rule_without_a_predicate_falls_back_to_pandera(spark):
    df = spark.createDataFrame([("ab",), ("x",), (None,)], "name string")
    result = pandera_check(_Named, df, ["name"])
    failed = {(f["column"], f["check"].split("(")[0]) for f in result.metadata["failures"].value}
    assert failed == failed_by_pandera(_Named, df) == {("name", "str_length"), ("name", "not_nullable")}
    counts = {f["check"].split("(")[0]: f.get("failure_count") for f in result.metadata["failures"].value}
    assert counts["not_nullable"] == 1  # str_length has no predicate here: listed, not counted

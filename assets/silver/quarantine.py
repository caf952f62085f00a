"""What every silver table shares: the quarantine table beside it and the accounting of its rows.

A silver step validates what it reads; a row that breaks a rule goes to the table's
``quarantine_*`` table with the rule's name, so rows in = rows out + rows quarantined.
"""

from dagster import AssetCheckResult, AssetKey, AssetSpec, MetadataValue
from pandera.pyspark import DataFrameModel, Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
import pyspark.sql.types as T

from assets.automation import on_upstream_change
from assets.ownership import catalog
from assets.quality.checks import Tables
from assets.quality.models import INGESTION_COLUMNS, described
from assets.quality.results import reconcile_result
from assets.transforms.rules import RULE


class QuarantineRecord(DataFrameModel):
    """What every quarantine table holds besides its keys: the rule, the record, its origin."""

    rule: T.StringType() = Field(nullable=False, str_matches=r"^[a-z_]+$",
        description="The first rule the record broke (see docs/data-quality.md).")
    record: T.StringType() = Field(nullable=False, str_startswith="{", description="The whole record, as JSON.")
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False,
        description="Day the record's file landed.")
    source_file: T.StringType() = Field(alias="_source_file", nullable=False,
        description="Landed file the record came from.")

    class Config:
        strict = False  # key columns differ per source


def quarantine_columns(keys: dict[str, str]) -> dict[str, str]:
    """A quarantine table's column descriptions: its source's ``keys`` and the shared columns."""
    return {**keys, "_run_id": INGESTION_COLUMNS["_run_id"], **described(QuarantineRecord)}


def with_quarantine(
    key: AssetKey, quarantine: AssetKey, deps: list[AssetKey], domain: str, description: str
) -> list[AssetSpec]:
    """A silver table and its quarantine table, written by one step, owned and tagged alike.

    The first dependency is the bronze table the step reads; the others are
    dimensions it looks records up in (which decide rules like unknown_customer,
    so the quarantine depends on them too), whose updates alone do not re-run it.
    """
    automation = on_upstream_change(*deps[1:])
    return [
        AssetSpec(key, deps=deps, description=description, automation_condition=automation,
                  **catalog("silver", domain)),
        AssetSpec(
            quarantine,
            deps=deps,
            description=f"Records for {key.to_user_string()} that broke a rule: the rule and the record as JSON.",
            automation_condition=automation,
            **catalog("silver", domain),
        ),
    ]


def rule_counts(checked: DataFrame) -> dict[str, int]:
    """Rows per outcome (``passed`` or the failed rule); computing it fills the cache."""
    return {
        (row[RULE] or "passed"): int(row["count"]) for row in checked.groupBy(RULE).count().collect()
    }


def accounting(counts: dict[str, int], rows_out: int) -> dict:
    rows_in = sum(counts.values())
    quarantined = rows_in - counts.get("passed", 0)
    return {
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_quarantined": quarantined,
        "quarantine_by_rule": MetadataValue.json({k: v for k, v in sorted(counts.items()) if k != "passed"}),
    }


def dimension_reconciles(tables: Tables, source: str) -> AssetCheckResult:
    """A dimension's records, bronze against silver: every landed record is behind a silver row
    (``_source_records``) or quarantined."""
    landed = tables.read(f"bronze/{source}").count()
    accounted = tables.read(f"silver/{source}").agg(F.coalesce(F.sum("_source_records"), F.lit(0))).first()[0]
    quarantined = tables.read(f"silver/quarantine_{source}").count()
    return reconcile_result(
        int(landed), int(accounted) + int(quarantined),
        meaning=f"expected: {source} records in bronze; actual: records behind silver rows + quarantined",
        failed_rule="bronze records == records behind silver rows + quarantined",
        bronze_records=landed, silver_records=int(accounted), quarantined_records=quarantined,
    )

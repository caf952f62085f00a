"""silver/customers and silver/quarantine_customers: the customer dimension as SCD type 2.

One row per customer version (valid_from / valid_to / is_current), rebuilt for the customers whose
bronze records changed since the last build (``assets/customer_rebuild.py``), in update-time order,
so re-runs and late records give the same history. Transforms: ``assets/transforms/silver.py``.
"""

from dagster import AssetCheckResult, AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, multi_asset
import pyspark.sql.types as T
from pandera.pyspark import DataFrameModel, Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.bronze import BRONZE_CUSTOMERS
from assets.build_state import record_tag, tagged_commits
from assets.customer_rebuild import STEP as CUSTOMERS_STEP
from assets.customer_rebuild import commit_or_nothing, plan_customer_rebuild
from assets.lineage import emits_lineage
from assets.metadata import write_metadata
from assets.partitions import single_run
from assets.quality.checks import Tables, TableCheck, check_specs, contract_checks, evaluate
from assets.quality.models import described
from assets.quality.results import check_result, pandera_check, sample_keys, unique_key_check
from assets.silver.quarantine import (
    QuarantineRecord,
    accounting,
    dimension_reconciles,
    quarantine_columns,
    rule_counts,
    with_quarantine,
)
from assets.transforms import silver as t
from assets.transforms.rules import passed, quarantine_rows
from resources.delta import DeltaLakeResource
from resources.lineage import LineageResource

SILVER_CUSTOMERS = AssetKey(["silver", "customers"])
QUARANTINE_CUSTOMERS = AssetKey(["silver", "quarantine_customers"])


# -- the contract ----------------------------------------------------------------
class SilverCustomer(DataFrameModel):
    customer_id: T.StringType() = Field(nullable=False, description="Customer identifier from the feed.")
    name: T.StringType() = Field(nullable=True, description="Customer name as of this version.")
    email: T.StringType() = Field(nullable=False, str_matches=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="E-mail address as of this version.")
    address: T.StringType() = Field(nullable=True, description="Street address as of this version.")
    city: T.StringType() = Field(nullable=True, description="City as of this version.")
    signup_date: T.DateType() = Field(nullable=False, description="Day the customer signed up.")
    valid_from: T.TimestampType() = Field(nullable=False,
        description="When this version took effect (the record's updated_at).")
    valid_to: T.TimestampType() = Field(nullable=True,
        description="When the next version took effect; empty for the current version.")
    is_current: T.BooleanType() = Field(nullable=False,
        description="True for the customer's current version (the table's partition column).")
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False,
        description="Day the record that started this version landed.")
    source_records: T.LongType() = Field(alias="_source_records", nullable=False, ge=1,
        description="Bronze records behind this version: the change and later records repeating it.")
    row_hash: T.StringType() = Field(alias="_row_hash", nullable=False,
        description="Hash of the version's content: a MERGE updates the row only when it changes.")

    class Config:
        strict = True


COLUMNS = described(SilverCustomer)
QUARANTINE_COLUMNS = quarantine_columns({"customer_id": "Customer identifier of the quarantined record, if any."})


# -- checks -------------------------------------------------------------------
def _history_is_consistent(history: DataFrame) -> AssetCheckResult:
    per_customer = history.groupBy("customer_id").agg(
        F.sum(F.col("is_current").cast("int")).alias("current_versions"),
        F.sum(F.when(F.col("valid_to").isNotNull() & (F.col("valid_to") <= F.col("valid_from")), 1).otherwise(0))
        .alias("inverted"),
    )
    bad = per_customer.where((F.col("current_versions") != 1) | (F.col("inverted") > 0))
    count = bad.count()
    return check_result(count == 0, failed_rule="exactly one is_current row and valid_from < valid_to",
                        failure_count=count,
                        samples=sample_keys(bad, ["customer_id", "current_versions"]) if count else None)


CUSTOMERS_CHECKS = [
    *contract_checks(SILVER_CUSTOMERS, SilverCustomer, ["customer_id", "valid_from"]),
    TableCheck(SILVER_CUSTOMERS, "customers_reconcile_with_bronze", "Every bronze customer record is accounted for.",
               lambda tables: dimension_reconciles(tables, "customers")),
    TableCheck(SILVER_CUSTOMERS, "customer_history_is_consistent",
               "SCD2 history is well formed: one current version per customer, versions do not overlap.",
               lambda tables: _history_is_consistent(tables.read("silver/customers"))),
]
QUARANTINE_CUSTOMERS_CHECKS = contract_checks(QUARANTINE_CUSTOMERS, QuarantineRecord, [])
CHECKS = [*CUSTOMERS_CHECKS, *QUARANTINE_CUSTOMERS_CHECKS]


# -- the step -------------------------------------------------------------------
@multi_asset(
    name="silver_customers",
    specs=with_quarantine(
        SILVER_CUSTOMERS,
        QUARANTINE_CUSTOMERS,
        [BRONZE_CUSTOMERS],
        "customers",
        "Customer dimension, SCD type 2: one row per version with valid_from / valid_to / is_current, "
        "rebuilt in update-time order so re-runs and late records give the same history.",
    ),
    check_specs=check_specs(CHECKS),
    backfill_policy=single_run,
)
@emits_lineage
def silver_customers(context: AssetExecutionContext, delta: DeltaLakeResource, lineage: LineageResource):
    # Only customers with new, changed or removed bronze records since the tables were last
    # built are rebuilt, each from all of their records (assets/customer_rebuild.py); every read
    # of bronze is pinned to one version, the one the writes are tagged with.
    bronze_version = delta.version("bronze/customers")
    if bronze_version is None:
        raise RuntimeError("bronze/customers does not exist yet: materialize it first")
    plan = plan_customer_rebuild(delta, bronze_version)
    context.log.info(f"silver_customers: {plan.computation}")
    bronze = delta.read_version("bronze/customers", bronze_version)
    ids = delta.session.createDataFrame([(i,) for i in plan.ids], "customer_id string")
    if plan.full:
        records = bronze
    elif plan.nothing_changed:
        records = bronze.where("false")
    else:
        records = t.customer_slice(bronze, ids, t.landed_on(list(plan.days)))
    checked = t.validate_customer_records(records, SilverCustomer).cache()
    try:
        counts = rule_counts(checked)
        history = t.customer_history(t.mark_unchanged(passed(checked))).cache()
        quarantine = quarantine_rows(checked, ["customer_id"], ["_landed_date", "_source_file"])
        rebuilt = len(plan.ids) if not plan.full else checked.select("customer_id").where(
            "customer_id IS NOT NULL AND customer_id <> ''").distinct().count()
        keys = ["customer_id", "valid_from"]
        # Current versions apart from closed ones: a day's changes rewrite the current files
        # and add closed versions, never rewrite the years of closed history.
        layout = {"partition_by": ["is_current"]}
        before, q_before = delta.version("silver/customers"), delta.version("silver/quarantine_customers")
        commit = q_commit = None
        with tagged_commits(delta.session, CUSTOMERS_STEP, plan.tag):
            if plan.full:
                commit = delta.merge(history, "silver/customers", keys, change_column="_row_hash",
                                     delete_missing_where="true", **layout)
                q_commit = delta.overwrite(quarantine, "silver/quarantine_customers")
            elif not plan.nothing_changed:
                if plan.ids:  # replaces exactly these customers' versions
                    commit = delta.merge(history, "silver/customers", keys, change_column="_row_hash",
                                         delete_missing_among=ids, **layout)
                # Written last: its tag is what the next run starts from.
                q_commit = delta.replace_where(quarantine, "silver/quarantine_customers",
                                               t.customer_quarantine_slice(list(plan.ids), list(plan.days)))
                if delta.version("silver/quarantine_customers") == q_before:
                    # Delta commits no write that changes nothing; the tag still needs a commit.
                    record_tag(delta, "silver/quarantine_customers", plan.tag)
        commit = commit_or_nothing(delta, "silver/customers", before, commit)
        q_commit = commit_or_nothing(delta, "silver/quarantine_customers", q_before, q_commit)
        # The rebuilt customers' whole histories are what this run wrote: checked here; the
        # reconciliation with bronze covers every customer, so it reads the tables.
        checks = [*evaluate(CUSTOMERS_CHECKS, Tables(delta), {
            "matches_contract": lambda: pandera_check(SilverCustomer, history, keys),
            "primary_key_unique": lambda: unique_key_check(history, keys),
            "customer_history_is_consistent": lambda: _history_is_consistent(history),
        }), *evaluate(QUARANTINE_CUSTOMERS_CHECKS, Tables(delta), {
            "matches_contract": lambda: pandera_check(QuarantineRecord, quarantine, []),
        })]
    finally:
        checked.unpersist()
    history.unpersist()
    dimension = delta.read("silver/customers")
    versions, current = dimension.count(), dimension.where("is_current").count()
    # rows_in / rows_out / rows_quarantined / quarantine_by_rule count the records this run
    # (re)processed (every record on a full rebuild), so rows_in = rows_out + rows_quarantined;
    # the tables as a whole are reconciled with bronze by customers_reconcile_with_bronze.
    summary = accounting(counts, counts.get("passed", 0))
    summary.update(
        versions=versions, current_customers=current, customers_rebuilt=rebuilt, computation=plan.computation,
        bronze_version=bronze_version, built_from_bronze_version=plan.built_from,
        landing_days_changed=MetadataValue.json(list(plan.days)) if not plan.full else None,
    )
    yield MaterializeResult(
        asset_key=SILVER_CUSTOMERS, metadata=write_metadata(commit, history.schema, versions, COLUMNS, **summary)
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_CUSTOMERS,
        metadata=write_metadata(q_commit, quarantine.schema, delta.read("silver/quarantine_customers").count(),
                                QUARANTINE_COLUMNS, rows_quarantined=summary["rows_quarantined"]),
    )
    yield from checks

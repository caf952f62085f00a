"""silver/products and silver/quarantine_products: the product catalogue, latest version of each
product (type 1). Transforms: ``assets/transforms/silver.py``."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, multi_asset
import pyspark.sql.types as T
from pandera.pyspark import DataFrameModel, Field

from assets.bronze import BRONZE_PRODUCTS
from assets.lineage import emits_lineage
from assets.metadata import write_metadata
from assets.partitions import single_run
from assets.quality.checks import Tables, TableCheck, check_specs, contract_checks, evaluate
from assets.quality.models import MONEY, PRODUCT_CATEGORIES, described
from assets.quality.results import pandera_check, unique_key_check
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

SILVER_PRODUCTS = AssetKey(["silver", "products"])
QUARANTINE_PRODUCTS = AssetKey(["silver", "quarantine_products"])


# -- the contract ----------------------------------------------------------------
class SilverProduct(DataFrameModel):
    product_id: T.StringType() = Field(nullable=False, description="Product identifier from the feed.")
    name: T.StringType() = Field(nullable=True, description="Product name (latest record).")
    category: T.StringType() = Field(nullable=False, isin=PRODUCT_CATEGORIES,
        description="Product category, one of the catalogue's categories.")
    unit_price: MONEY = Field(nullable=False, ge=0, description="Current list price of one unit.")
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False,
        description="Day the product's latest record landed.")
    source_records: T.LongType() = Field(alias="_source_records", nullable=False, ge=1,
        description="Valid bronze records of this product: the latest and the ones it superseded.")
    row_hash: T.StringType() = Field(alias="_row_hash", nullable=False,
        description="Hash of the product's content: a MERGE updates the row only when it changes.")

    class Config:
        strict = True


COLUMNS = described(SilverProduct)
QUARANTINE_COLUMNS = quarantine_columns({"product_id": "Product identifier of the quarantined record, if any."})


# -- checks -------------------------------------------------------------------
PRODUCTS_CHECKS = [
    *contract_checks(SILVER_PRODUCTS, SilverProduct, ["product_id"]),
    TableCheck(SILVER_PRODUCTS, "products_reconcile_with_bronze", "Every bronze product record is accounted for.",
               lambda tables: dimension_reconciles(tables, "products")),
]
QUARANTINE_PRODUCTS_CHECKS = contract_checks(QUARANTINE_PRODUCTS, QuarantineRecord, [])
CHECKS = [*PRODUCTS_CHECKS, *QUARANTINE_PRODUCTS_CHECKS]


# -- the step -------------------------------------------------------------------
@multi_asset(
    name="silver_products",
    specs=with_quarantine(
        SILVER_PRODUCTS,
        QUARANTINE_PRODUCTS,
        [BRONZE_PRODUCTS],
        "products",
        "Product catalogue, latest version of each product (type 1).",
    ),
    check_specs=check_specs(CHECKS),
    backfill_policy=single_run,
)
@emits_lineage
def silver_products(context: AssetExecutionContext, delta: DeltaLakeResource, lineage: LineageResource):
    checked = t.validate_product_records(delta.read("bronze/products"), SilverProduct).cache()
    try:
        counts = rule_counts(checked)
        current = t.current_products(passed(checked))
        commit = delta.merge(
            current, "silver/products", ["product_id"], change_column="_row_hash", delete_missing_where="true"
        )
        quarantine = quarantine_rows(checked, ["product_id"], ["_landed_date", "_source_file"])
        q_commit = delta.overwrite(quarantine, "silver/quarantine_products")
        checks = [*evaluate(PRODUCTS_CHECKS, Tables(delta), {
            "matches_contract": lambda: pandera_check(SilverProduct, current, ["product_id"]),
            "primary_key_unique": lambda: unique_key_check(current, ["product_id"]),
        }), *evaluate(QUARANTINE_PRODUCTS_CHECKS, Tables(delta), {
            "matches_contract": lambda: pandera_check(QuarantineRecord, quarantine, []),
        })]
    finally:
        checked.unpersist()
    summary = accounting(counts, counts.get("passed", 0))
    products = delta.read("silver/products").count()
    yield MaterializeResult(
        asset_key=SILVER_PRODUCTS, metadata=write_metadata(commit, current.schema, products, COLUMNS, **summary)
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_PRODUCTS,
        metadata=write_metadata(q_commit, quarantine.schema, summary["rows_quarantined"], QUARANTINE_COLUMNS),
    )
    yield from checks

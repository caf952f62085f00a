"""pandera models: the contract of every silver, gold and feature table.

Validated on the Spark DataFrame by pandera's PySpark backend (no collect to
pandas). ``strict`` makes an unexpected or missing column a failure. pandera
ignores attributes starting with "_", so ingestion columns are declared by alias.
"""

from __future__ import annotations

import pandera.pyspark as pa
import pyspark.sql.types as T
from pandera.pyspark import DataFrameModel, Field

MONEY = T.DecimalType(12, 2)
TOTAL = T.DecimalType(18, 2)

# The domain the feeds (and the data generator) define: a value outside it is quarantined by the
# row rules derived from these models, not discovered by a failing check after the write.
PRODUCT_CATEGORIES = ["books", "electronics", "home", "garden", "toys", "grocery", "sports", "beauty"]
CHANNELS = ["web", "app", "store"]
CURRENCY_CODE = r"^[A-Z]{3}$"  # ISO 4217


class SilverOrderLine(DataFrameModel):
    order_id: T.StringType() = Field(nullable=False, str_matches=r"^O\d+$",
        description="Order identifier from the feed (O followed by digits).")
    line_no: T.IntegerType() = Field(nullable=False, ge=1, description="Line number within the order, from 1.")
    customer_id: T.StringType() = Field(nullable=False,
        description="The ordering customer; exists in silver/customers.")
    order_ts: T.TimestampType() = Field(nullable=False, description="When the order was placed (UTC).")
    order_date: T.DateType() = Field(nullable=False, description="The order's day (UTC), what gold partitions by.")
    channel: T.StringType() = Field(nullable=True, isin=CHANNELS, description="Sales channel: web, app or store.")
    currency: T.StringType() = Field(nullable=True, str_matches=CURRENCY_CODE,
        description="ISO 4217 currency code of the prices.")
    product_id: T.StringType() = Field(nullable=False,
        description="The product ordered; exists in silver/products.")
    quantity: T.IntegerType() = Field(nullable=False, gt=0, description="Units ordered, at least 1.")
    unit_price: MONEY = Field(nullable=False, ge=0, description="Price of one unit.")
    line_amount: MONEY = Field(nullable=False, ge=0, description="quantity x unit_price.")
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False,
        description="Day the line's file landed (the partition; the earliest landing wins).")
    source_file: T.StringType() = Field(alias="_source_file", nullable=False,
        description="Landed file the line came from.")
    ingested_at: T.TimestampType() = Field(alias="_ingested_at", nullable=True,
        description="When bronze ingested the file.")
    row_hash: T.StringType() = Field(alias="_row_hash", nullable=False,
        description="Hash of the line's content: a MERGE updates the row only when it changes.")

    class Config:
        strict = True


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


class GoldDailySales(DataFrameModel):
    order_date: T.DateType() = Field(nullable=False, description="Order day (the partition).")
    category: T.StringType() = Field(nullable=False, isin=PRODUCT_CATEGORIES, description="Product category.")
    orders: T.LongType() = Field(nullable=False, ge=1,
        description="Distinct orders with a line in the category that day.")
    units: T.LongType() = Field(nullable=False, ge=1, description="Units sold.")
    revenue: TOTAL = Field(nullable=False, ge=0, description="Revenue: sum of the line amounts.")
    customers: T.LongType() = Field(nullable=False, ge=1, description="Distinct buyers.")

    class Config:
        strict = True


class GoldCustomerLifetimeValue(DataFrameModel):
    as_of_date: T.DateType() = Field(nullable=False,
        description="The day the values hold for, counting orders placed up to it (the partition).")
    customer_id: T.StringType() = Field(nullable=False, description="The customer.")
    orders: T.LongType() = Field(nullable=False, ge=1, description="Orders placed up to the as-of day.")
    lifetime_revenue: TOTAL = Field(nullable=False, ge=0, description="Revenue of those orders.")
    first_order_date: T.DateType() = Field(nullable=False, description="Day of the customer's first order.")
    last_order_date: T.DateType() = Field(nullable=False,
        description="Day of the customer's latest order up to the as-of day.")
    average_order_value: TOTAL = Field(nullable=False, ge=0, description="lifetime_revenue / orders.")
    orders_version: T.LongType() = Field(alias="_orders_version", nullable=False, ge=0,
        description="The silver/orders Delta version the values were computed from (carrying the day forward).")

    class Config:
        strict = True


class CustomerFeatures(DataFrameModel):
    customer_id: T.StringType() = Field(nullable=False, description="The customer.")
    as_of_date: T.DateType() = Field(nullable=False,
        description="The day the features hold for, using only data known by its end (the partition).")
    city: T.StringType() = Field(nullable=True,
        description="The customer's city in the version valid at the end of the as-of day.")
    tenure_days: T.IntegerType() = Field(nullable=False, ge=0, description="Days since signup.")
    recency_days: T.IntegerType() = Field(nullable=True, ge=0,
        description="Days since the latest order; empty before the first order.")
    frequency: T.LongType() = Field(nullable=False, ge=0,
        description="Orders placed and landed by the end of the as-of day.")
    monetary: TOTAL = Field(nullable=False, ge=0, description="Revenue of those orders.")
    spend_30d: TOTAL = Field(nullable=False, ge=0, description="Revenue of the orders of the last 30 days.")
    spend_90d: TOTAL = Field(nullable=False, ge=0, description="Revenue of the orders of the last 90 days.")
    average_basket: TOTAL = Field(nullable=True, ge=0,
        description="monetary / frequency; empty before the first order.")
    orders_version: T.LongType() = Field(alias="_orders_version", nullable=False, ge=0,
        description="The silver/orders Delta version the values were computed from (carrying the day forward).")

    class Config:
        strict = True


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


# Each table's contract, by table (its asset key's path).
TABLE_MODELS: dict[str, type[DataFrameModel]] = {
    "silver/orders": SilverOrderLine,
    "silver/customers": SilverCustomer,
    "silver/products": SilverProduct,
    "silver/quarantine_orders": QuarantineRecord,
    "silver/quarantine_customers": QuarantineRecord,
    "silver/quarantine_products": QuarantineRecord,
    "gold/daily_sales": GoldDailySales,
    "gold/customer_lifetime_value": GoldCustomerLifetimeValue,
    "features/customer_features": CustomerFeatures,
}

# Columns no model declares: bronze keeps what landed (no contract), and a quarantine table's key
# columns differ per source. Described here so that every column the UI lists says what it holds.
_INGESTION = {
    "_source_file": "Landed file the row came from.",
    "_landed_date": "Day the file landed (the partition).",
    "_ingested_at": "When bronze ingested the file.",
    "_run_id": "The Dagster run that wrote the row.",
}
_REJECTED = {
    "source": "The feed: orders, customers or products.",
    "raw_record": "The line as landed, unparsed.",
    "reason": "Why it could not be parsed.",
    **_INGESTION,
}
_AS_LANDED = "as landed (text)"
OTHER_COLUMNS: dict[str, dict[str, str]] = {
    "bronze/orders": {
        "order_id": "Order identifier as landed.",
        "customer_id": "Customer identifier as landed.",
        "order_ts": f"When the order was placed, {_AS_LANDED}.",
        "channel": "Sales channel as landed.",
        "currency": "Currency code as landed.",
        "items": "Line items as landed: line_no, product_id, quantity, unit_price.",
        **_INGESTION,
    },
    "bronze/customers": {
        "customer_id": f"Customer identifier, {_AS_LANDED}.",
        "name": f"Name, {_AS_LANDED}.",
        "email": f"E-mail address, {_AS_LANDED}.",
        "address": f"Street address, {_AS_LANDED}.",
        "city": f"City, {_AS_LANDED}.",
        "signup_date": f"Signup day, {_AS_LANDED}.",
        "updated_at": f"When the record changed, {_AS_LANDED}.",
        **_INGESTION,
    },
    "bronze/products": {
        "product_id": f"Product identifier, {_AS_LANDED}.",
        "name": f"Name, {_AS_LANDED}.",
        "category": f"Category, {_AS_LANDED}.",
        "unit_price": f"List price of one unit, {_AS_LANDED}.",
        **_INGESTION,
    },
    "bronze/rejected_orders": _REJECTED,
    "bronze/rejected_customers": _REJECTED,
    "bronze/rejected_products": _REJECTED,
    "silver/quarantine_orders": {
        "order_id": "Order identifier of the quarantined line, if any.",
        "line_no": "Line number of the quarantined line, if any.",
        "customer_id": "Customer identifier of the quarantined line, if any.",
        "product_id": "Product identifier of the quarantined line, if any.",
        "_run_id": _INGESTION["_run_id"],
    },
    "silver/quarantine_customers": {"customer_id": "Customer identifier of the quarantined record, if any."},
    "silver/quarantine_products": {"product_id": "Product identifier of the quarantined record, if any."},
}


def column_descriptions(table: str) -> dict[str, str]:
    """Each column's description, by name: the table's model field descriptions, else ``OTHER_COLUMNS``."""
    descriptions = dict(OTHER_COLUMNS.get(table, {}))
    model = TABLE_MODELS.get(table)
    if model is not None:
        descriptions.update({name: c.description for name, c in model.to_schema().columns.items() if c.description})
    return descriptions


__all__ = [
    "TABLE_MODELS",
    "column_descriptions",
    "QuarantineRecord",
    "pa",
    "SilverOrderLine",
    "SilverCustomer",
    "SilverProduct",
    "GoldDailySales",
    "GoldCustomerLifetimeValue",
    "CustomerFeatures",
]

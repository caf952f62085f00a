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
    order_id: T.StringType() = Field(nullable=False, str_matches=r"^O\d+$")
    line_no: T.IntegerType() = Field(nullable=False, ge=1)
    customer_id: T.StringType() = Field(nullable=False)
    order_ts: T.TimestampType() = Field(nullable=False)
    order_date: T.DateType() = Field(nullable=False)
    channel: T.StringType() = Field(nullable=True, isin=CHANNELS)
    currency: T.StringType() = Field(nullable=True, str_matches=CURRENCY_CODE)
    product_id: T.StringType() = Field(nullable=False)
    quantity: T.IntegerType() = Field(nullable=False, gt=0)
    unit_price: MONEY = Field(nullable=False, ge=0)
    line_amount: MONEY = Field(nullable=False, ge=0)
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False)
    source_file: T.StringType() = Field(alias="_source_file", nullable=False)
    ingested_at: T.TimestampType() = Field(alias="_ingested_at", nullable=True)
    row_hash: T.StringType() = Field(alias="_row_hash", nullable=False)

    class Config:
        strict = True


class SilverCustomer(DataFrameModel):
    customer_id: T.StringType() = Field(nullable=False)
    name: T.StringType() = Field(nullable=True)
    email: T.StringType() = Field(nullable=False, str_matches=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address: T.StringType() = Field(nullable=True)
    city: T.StringType() = Field(nullable=True)
    signup_date: T.DateType() = Field(nullable=False)
    valid_from: T.TimestampType() = Field(nullable=False)
    valid_to: T.TimestampType() = Field(nullable=True)
    is_current: T.BooleanType() = Field(nullable=False)
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False)
    source_records: T.LongType() = Field(alias="_source_records", nullable=False, ge=1)
    row_hash: T.StringType() = Field(alias="_row_hash", nullable=False)

    class Config:
        strict = True


class SilverProduct(DataFrameModel):
    product_id: T.StringType() = Field(nullable=False)
    name: T.StringType() = Field(nullable=True)
    category: T.StringType() = Field(nullable=False, isin=PRODUCT_CATEGORIES)
    unit_price: MONEY = Field(nullable=False, ge=0)
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False)
    source_records: T.LongType() = Field(alias="_source_records", nullable=False, ge=1)
    row_hash: T.StringType() = Field(alias="_row_hash", nullable=False)

    class Config:
        strict = True


class GoldDailySales(DataFrameModel):
    order_date: T.DateType() = Field(nullable=False)
    category: T.StringType() = Field(nullable=False, isin=PRODUCT_CATEGORIES)
    orders: T.LongType() = Field(nullable=False, ge=1)
    units: T.LongType() = Field(nullable=False, ge=1)
    revenue: TOTAL = Field(nullable=False, ge=0)
    customers: T.LongType() = Field(nullable=False, ge=1)

    class Config:
        strict = True


class GoldCustomerLifetimeValue(DataFrameModel):
    as_of_date: T.DateType() = Field(nullable=False)
    customer_id: T.StringType() = Field(nullable=False)
    orders: T.LongType() = Field(nullable=False, ge=1)
    lifetime_revenue: TOTAL = Field(nullable=False, ge=0)
    first_order_date: T.DateType() = Field(nullable=False)
    last_order_date: T.DateType() = Field(nullable=False)
    average_order_value: TOTAL = Field(nullable=False, ge=0)
    # The silver/orders Delta version the values were computed from (carrying the day forward).
    orders_version: T.LongType() = Field(alias="_orders_version", nullable=False, ge=0)

    class Config:
        strict = True


class CustomerFeatures(DataFrameModel):
    customer_id: T.StringType() = Field(nullable=False)
    as_of_date: T.DateType() = Field(nullable=False)
    city: T.StringType() = Field(nullable=True)
    tenure_days: T.IntegerType() = Field(nullable=False, ge=0)
    recency_days: T.IntegerType() = Field(nullable=True, ge=0)
    frequency: T.LongType() = Field(nullable=False, ge=0)
    monetary: TOTAL = Field(nullable=False, ge=0)
    spend_30d: TOTAL = Field(nullable=False, ge=0)
    spend_90d: TOTAL = Field(nullable=False, ge=0)
    average_basket: TOTAL = Field(nullable=True, ge=0)
    # The silver/orders Delta version the values were computed from (carrying the day forward).
    orders_version: T.LongType() = Field(alias="_orders_version", nullable=False, ge=0)

    class Config:
        strict = True


class QuarantineRecord(DataFrameModel):
    """What every quarantine table holds besides its keys: the rule, the record, its origin."""

    rule: T.StringType() = Field(nullable=False, str_matches=r"^[a-z_]+$")
    record: T.StringType() = Field(nullable=False, str_startswith="{")
    landed_date: T.DateType() = Field(alias="_landed_date", nullable=False)
    source_file: T.StringType() = Field(alias="_source_file", nullable=False)

    class Config:
        strict = False  # key columns differ per source


__all__ = [
    "QuarantineRecord",
    "pa",
    "SilverOrderLine",
    "SilverCustomer",
    "SilverProduct",
    "GoldDailySales",
    "GoldCustomerLifetimeValue",
    "CustomerFeatures",
]

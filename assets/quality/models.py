"""What the tables' pandera contracts share: money types, the feeds' value domains, and how a
contract describes the table's columns.

Each table's own contract (a ``DataFrameModel``) sits in its table module beside its asset and
checks. Contracts are validated on the Spark DataFrame by pandera's PySpark backend (no collect to
pandas); ``strict`` makes an unexpected or missing column a failure; pandera ignores attributes
starting with "_", so ingestion columns are declared by alias.
"""

from __future__ import annotations

import pyspark.sql.types as T
from pandera.pyspark import DataFrameModel

MONEY = T.DecimalType(12, 2)
TOTAL = T.DecimalType(18, 2)

# The domain the feeds (and the data generator) define: a value outside it is quarantined by the
# row rules derived from the contracts, not discovered by a failing check after the write.
PRODUCT_CATEGORIES = ["books", "electronics", "home", "garden", "toys", "grocery", "sports", "beauty"]
CHANNELS = ["web", "app", "store"]
CURRENCY_CODE = r"^[A-Z]{3}$"  # ISO 4217

# The columns ingestion adds to every landed record.
INGESTION_COLUMNS = {
    "_source_file": "Landed file the row came from.",
    "_landed_date": "Day the file landed (the partition).",
    "_ingested_at": "When bronze ingested the file.",
    "_run_id": "The Dagster run that wrote the row.",
}


def described(model: type[DataFrameModel]) -> dict[str, str]:
    """A contract's column descriptions, by column name (aliases included)."""
    return {name: column.description for name, column in model.to_schema().columns.items() if column.description}

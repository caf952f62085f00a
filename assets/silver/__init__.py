"""Silver: typed, validated, deduplicated, conformed tables and their quarantines, a module per table.

Rows that break a row-level rule go to the table's ``quarantine_*`` table with the rule's name;
rows in = rows out + rows quarantined, recorded on every materialization and checked by a
blocking asset check.
"""

from dagster import AssetsDefinition, PartitionsDefinition

from assets.silver import customers, orders, products


def silver_assets(partitions: PartitionsDefinition) -> list[AssetsDefinition]:
    return [orders.silver_orders_asset(partitions), customers.silver_customers, products.silver_products]


SILVER_CHECKS = [*orders.CHECKS, *customers.CHECKS, *products.CHECKS]

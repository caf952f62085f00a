"""Gold: the business tables, one day per partition, replaced atomically per day; a module per table."""

from dagster import AssetsDefinition, PartitionsDefinition

from assets.gold import customer_lifetime_value, daily_sales
from assets.gold.customer_lifetime_value import CLV
from assets.gold.daily_sales import DAILY_SALES


def gold_assets(partitions: PartitionsDefinition) -> list[AssetsDefinition]:
    return [daily_sales.daily_sales_asset(partitions), customer_lifetime_value.customer_lifetime_value_asset(partitions)]


GOLD_CHECKS = [*daily_sales.CHECKS, *customer_lifetime_value.CHECKS]
__all__ = ["CLV", "DAILY_SALES", "GOLD_CHECKS", "gold_assets"]

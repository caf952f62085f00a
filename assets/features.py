"""Features: point-in-time customer features for training and serving."""


from dagster import AssetDep, AssetExecutionContext, AssetKey, MaterializeResult, asset

from assets.automation import on_upstream_change
from assets.lineage import emits_lineage
from assets.metadata import replace_days
from assets.partitions import daily_partitions, history_up_to_day, partition_dates, single_run
from assets.transforms import features as t
from resources.delta import DeltaLakeResource

SILVER_CUSTOMERS = AssetKey(["silver", "customers"])


@asset(
    key=["features", "customer_features"],
    deps=[AssetDep(AssetKey(["silver", "orders"]), partition_mapping=history_up_to_day), SILVER_CUSTOMERS],
    group_name="features",
    kinds={"spark", "delta"},
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    automation_condition=on_upstream_change(SILVER_CUSTOMERS),
)
@emits_lineage(column_lineage={"features/customer_features": t.CUSTOMER_FEATURES_LINEAGE})
def customer_features(context: AssetExecutionContext, delta: DeltaLakeResource) -> MaterializeResult:
    """Per customer and as-of day: recency, frequency, monetary value, tenure, 30/90-day spend,
    average basket and city, using only data known by the end of the as-of day."""
    start, end = partition_dates(context)
    known_by_end = f"order_date <= DATE'{end.isoformat()}' AND _landed_date <= DATE'{end.isoformat()}'"
    features = t.customer_features(
        delta.read("silver/orders", known_by_end), delta.read("silver/customers"), start, end
    )
    return replace_days(delta, features, "features/customer_features", "as_of_date", start, end)


feature_assets = [customer_features]

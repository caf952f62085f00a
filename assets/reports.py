"""A consumer outside Spark: gold tables read by delta-rs into pandas."""


from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, TableColumn, TableSchema, asset
from dagster_deltalake import DeltaTableResource

from assets.automation import on_upstream_change
from assets.lineage import emits_lineage
from assets.partitions import single_run
from resources.settings import LakehouseSettings


@asset(
    key=["reports", "category_sales_summary"],
    deps=[AssetKey(["gold", "daily_sales"])],
    group_name="reports",
    kinds={"pandas", "delta"},
    backfill_policy=single_run,
    automation_condition=on_upstream_change(),
)
@emits_lineage
def category_sales_summary(context: AssetExecutionContext, daily_sales_table: DeltaTableResource) -> MaterializeResult:
    """Revenue, orders and units per category over all days, read from gold with delta-rs
    (no JVM), written as CSV and Markdown for people who do not run Spark."""
    table = daily_sales_table.load()
    sales = table.to_pandas()
    summary = (
        sales.groupby("category", as_index=False)
        .agg(revenue=("revenue", "sum"), orders=("orders", "sum"), units=("units", "sum"), days=("order_date", "nunique"))
        .sort_values("revenue", ascending=False)
    )
    summary["revenue"] = summary["revenue"].astype(float).round(2)
    out_dir = Path(LakehouseSettings.from_env().reports_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "category_sales_summary.csv"
    summary.to_csv(csv_path, index=False)
    markdown = summary.to_markdown(index=False)  # tabulate comes with dagster
    (out_dir / "category_sales_summary.md").write_text(markdown + "\n")
    context.log.info(f"category summary from delta version {table.version()}: {len(summary)} categories")
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(summary),
            "dagster/uri": MetadataValue.path(str(csv_path)),
            "dagster/column_schema": TableSchema(
                columns=[TableColumn(name=str(c), type=str(summary[c].dtype)) for c in summary.columns]
            ),
            "source_delta_version": table.version(),
            "path": MetadataValue.path(str(csv_path)),
            "preview": MetadataValue.md(markdown),
        }
    )


report_assets = [category_sales_summary]

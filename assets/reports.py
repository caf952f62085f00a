"""A consumer outside Spark: gold tables read by delta-rs into pandas.

gold/daily_sales is opened through dagster-deltalake's ``DeltaTableResource``
(``DeltaLakeResource.delta_rs_table``), not through dagster-deltalake-pandas'
``DeltaLakePandasIOManager``: as an input manager it refuses the daily-partitioned table
(no ``partition_expr``) and, given one, loads only the first day of an all-days input.
docs/deployment.md ("delta-rs through dagster-deltalake") has the failing example.
"""


from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, TableColumn, TableSchema, asset

from assets.automation import on_upstream_change
from assets.gold import DAILY_SALES
from assets.lineage import emits_lineage
from assets.ownership import catalog
from assets.partitions import single_run
from resources.delta import DeltaLakeResource
from resources.lineage import LineageResource
from resources.reports import ReportFolderResource

# The report's columns, described in its dagster/column_schema.
COLUMNS = {
    "category": "Product category.",
    "revenue": "Revenue over all days: sum of gold/daily_sales.revenue.",
    "orders": "Orders over all days: sum of gold/daily_sales.orders.",
    "units": "Units sold over all days: sum of gold/daily_sales.units.",
    "days": "Order days with sales in the category.",
}


@asset(
    key=["reports", "category_sales_summary"],
    deps=[DAILY_SALES],
    **catalog("reports", "sales", kinds=("pandas", "delta")),
    backfill_policy=single_run,
    automation_condition=on_upstream_change(),
)
@emits_lineage
def category_sales_summary(
    context: AssetExecutionContext, delta: DeltaLakeResource, reports: ReportFolderResource, lineage: LineageResource
) -> MaterializeResult:
    """Revenue, orders and units per category over all days, read from gold with delta-rs
    (no JVM, one snapshot: the version reported is the one summed), written as CSV and Markdown
    for people who do not run Spark."""
    table = delta.delta_rs_table("gold/daily_sales")
    sales = table.to_pandas()
    summary = (
        sales.groupby("category", as_index=False)
        .agg(revenue=("revenue", "sum"), orders=("orders", "sum"), units=("units", "sum"), days=("order_date", "nunique"))
        .sort_values("revenue", ascending=False)
    )
    summary["revenue"] = summary["revenue"].astype(float).round(2)
    markdown = summary.to_markdown(index=False)  # tabulate comes with dagster
    csv_path = reports.write_text("category_sales_summary.csv", summary.to_csv(index=False))
    reports.write_text("category_sales_summary.md", markdown + "\n")
    context.log.info(f"category summary from delta version {table.version()}: {len(summary)} categories")
    return MaterializeResult(
        metadata={
            "dagster/row_count": len(summary),
            "dagster/uri": MetadataValue.path(csv_path),
            "dagster/column_schema": TableSchema(
                columns=[TableColumn(name=str(c), type=str(summary[c].dtype), description=COLUMNS.get(str(c)))
                         for c in summary.columns]
            ),
            "source_delta_version": table.version(),
            "path": MetadataValue.path(csv_path),
            "preview": MetadataValue.md(markdown),
        }
    )


report_assets = [category_sales_summary]

"""The Spark settings every session of the platform gets, importable without Dagster
(the benchmark's baselines build their sessions from them too)."""

# Settings every environment gets: Delta as the catalog, UTC everywhere, Delta's
# log replay sized for small tables instead of its default of 50 tasks, and
# optimized writes (one shuffle by partition before writing: a few files per day
# instead of one per task and day, which later reads and MERGEs pay for).
BASE_CONF: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.optimizeWrite.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    # Tables start with the retention the maintenance job keeps (DeltaLakeResource.table_properties):
    # replaced files readable for 7 days, log entries kept 30 days, a checkpoint every 10 commits.
    "spark.databricks.delta.properties.defaults.deletedFileRetentionDuration": "interval 7 days",
    "spark.databricks.delta.properties.defaults.logRetentionDuration": "interval 30 days",
    "spark.databricks.delta.properties.defaults.checkpointInterval": "10",
}

"""The SparkSession of the platform's ``local`` environment, without Dagster.

``resources/spark.py`` BASE_CONF + ``platform/definitions.py`` "local" (``local[*]``, 8 shuffle
partitions, 4 GB driver, AQE, UI off) and the Delta jars by path from the local Maven
repository. The benchmark's baselines (``bench/plain_spark.py``, ``bench/floor.py``) build their
session here; importing ``resources.spark`` would bring Dagster into their processes and their
wall times. ``tests/test_bench.py`` keeps this copy equal to the platform's settings.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from resources.jars import jar_paths

SPARK_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.databricks.delta.optimizeWrite.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.databricks.delta.properties.defaults.deletedFileRetentionDuration": "interval 7 days",
    "spark.databricks.delta.properties.defaults.logRetentionDuration": "interval 30 days",
    "spark.databricks.delta.properties.defaults.checkpointInterval": "10",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.driver.memory": "4g",
}


def session(app_name: str) -> SparkSession:
    builder = SparkSession.builder.appName(app_name).master("local[*]")
    for key, value in {**SPARK_CONF, "spark.jars": ",".join(jar_paths())}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark

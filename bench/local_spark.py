"""The SparkSession of the platform's ``local`` environment, without Dagster.

``resources/spark_conf.py`` BASE_CONF + ``platform/definitions.py`` "local" (``local[*]``, 8 shuffle
partitions, 4 GB driver, UI off) and the Delta jars by path from the local Maven repository.
The benchmark's baselines (``bench/plain_spark.py``, ``bench/floor.py``) build their session
here; importing ``resources.spark`` would bring Dagster into their processes and their wall
times. ``tests/test_bench.py`` keeps the local sizing equal to the platform's.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from resources.jars import jar_paths
from resources.spark_conf import BASE_CONF

SPARK_CONF = {
    **BASE_CONF,
    # the "local" environment's sizing (platform/definitions.py RESOURCES_BY_ENV)
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

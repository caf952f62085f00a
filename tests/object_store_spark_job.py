"""Spark side of tests/test_object_store.py, run in its own process.

The test process's shared local SparkSession cannot take s3a settings, so this
script builds a session from the object-store environment variables: Delta and
s3a jars plus ``ObjectStoreResource.spark_conf()``. It writes a partitioned
Delta table through ``DeltaLakeResource`` (replaceWhere of two days, replaceWhere
of one day, MERGE) and prints each commit as one JSON line.
"""

import json
import sys
from dataclasses import asdict

from resources.delta import DeltaLakeResource
from resources.jars import delta_artifacts, jar_paths, s3a_artifacts
from resources.object_store import ObjectStoreResource
from resources.spark import SparkResource

SCHEMA = "order_id INT, amount DOUBLE, day STRING"


def main(table: str) -> None:
    store = ObjectStoreResource.from_env()
    conf = {"spark.jars": ",".join(jar_paths(delta_artifacts() + s3a_artifacts())), **store.spark_conf()}
    spark = SparkResource(
        app_name="lakehouse-s3a-test", master="local[2]", shuffle_partitions=2, driver_memory="1g", conf=conf
    )
    delta = DeltaLakeResource(spark=spark, root=store.table_root, object_store=store)
    session = spark.get_session()

    two_days = session.createDataFrame(
        [(1, 10.0, "2026-01-01"), (2, 20.0, "2026-01-01"), (3, 30.0, "2026-01-01"), (4, 40.0, "2026-01-02"), (5, 50.0, "2026-01-02")],
        SCHEMA,
    )
    commits = [delta.replace_where(two_days, table, "day >= '2026-01-01' AND day <= '2026-01-02'", partition_by=["day"])]

    # Day 2 re-delivered: its partition is replaced, day 1 is untouched.
    day_two = session.createDataFrame([(20, 200.0, "2026-01-02"), (21, 210.0, "2026-01-02"), (22, 220.0, "2026-01-02")], SCHEMA)
    commits.append(delta.replace_where(day_two, table, "day = '2026-01-02'"))

    # Order 1 corrected, order 10 late on day 1.
    changes = session.createDataFrame([(1, 11.0, "2026-01-01"), (10, 100.0, "2026-01-01")], SCHEMA)
    commits.append(delta.merge(changes, table, keys=["order_id"]))

    rows = sorted((r.order_id, r.amount, r.day) for r in delta.read(table).collect())
    for commit in commits:
        sys.stdout.write(json.dumps({"commit": asdict(commit)}) + "\n")
    sys.stdout.write(json.dumps({"rows": rows}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])

"""The floor: the most trivial Spark + Delta job over one landing day, as its own process.

``python -m bench.floor --landing L --day 2026-01-01 --table T`` starts a SparkSession exactly
as the platform's ``local`` environment does (``bench/local_spark.py``: ``local[*]``, the Delta
jars, the same settings), reads that day's order JSON files with bronze's schema, explodes the
items into one row per order line and writes them as ONE Delta table (overwrite), then stops.
No validation, deduplication, dimensions, checks, metadata or lineage: what any job that lands a
day in Delta pays at least (interpreter and imports, JVM and session start, one read, one
write). ``python -m bench --parts small-day`` runs it next to the platform's whole graph for the
same day; the last line it prints is ``FLOOR {json}`` with the epoch time of each phase.
"""

from __future__ import annotations

import time

STARTED = time.time()  # before the imports: pyspark's is part of what the floor costs

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

from pyspark.sql import functions as F  # noqa: E402

from assets.transforms.bronze import ORDER_SCHEMA  # noqa: E402
from bench.local_spark import session  # noqa: E402


def committed_rows(table: Path) -> int:
    """Rows the table's first commit wrote (its commitInfo's numOutputRows): no Spark job."""
    for line in (table / "_delta_log" / f"{0:020d}.json").read_text().splitlines():
        info = json.loads(line).get("commitInfo")
        if info:
            return int(info.get("operationMetrics", {}).get("numOutputRows", -1))
    return -1


def run(landing: Path, day: date, table: Path) -> dict:
    times = {"started": STARTED, "imported": time.time()}
    spark = session("floor")
    times["session"] = time.time()
    orders = spark.read.schema(ORDER_SCHEMA).json(str(landing / "orders" / f"date={day.isoformat()}"))
    lines = (orders
             .select("order_id", "customer_id", "order_ts", "channel", "currency", F.explode("items").alias("item"))
             .select("order_id", "customer_id", "order_ts", "channel", "currency", "item.*",
                     F.lit(day).alias("_landed_date")))
    lines.write.format("delta").mode("overwrite").save(str(table))
    times["written"] = time.time()
    spark.stop()
    times["stopped"] = time.time()
    return {**times, "rows": committed_rows(table)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.split("\n")[0])
    parser.add_argument("--landing", required=True, type=Path, help="landing zone directory")
    parser.add_argument("--day", required=True, type=date.fromisoformat, help="the landing day to read")
    parser.add_argument("--table", required=True, type=Path, help="the Delta table to write (overwritten)")
    args = parser.parse_args(argv)
    result = run(args.landing.resolve(), args.day, args.table.resolve())
    sys.stdout.write(f"floor: {result['rows']:,} order lines in {result['stopped'] - STARTED:.2f} s\n"
                     f"FLOOR {json.dumps(result)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

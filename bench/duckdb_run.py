"""Run bench/duckdb_pipeline.sql on a landing zone: ``python -m bench.duckdb_run --landing L --out O
--start 2026-01-01 --end 2026-01-30``. The benchmark runs this as its own process, so the peak
memory it measures is DuckDB's alone.

``--incremental`` processes the days on top of the Parquet already in ``--out`` (the year
scenario's new days, one at a time): it deletes those days' partitions, reads the bronze
dimensions and the silver order keys of earlier days from ``--out``, and appends the days'
partitions (bronze, silver orders and quarantine, gold, features); the silver dimensions are
rebuilt from all bronze, as the platform does."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import duckdb

SQL = Path(__file__).with_name("duckdb_pipeline.sql")


def render(sql: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        sql = sql.replace("{{" + name + "}}", value.replace("'", "''"))
    return sql


# Columns that partition the Parquet output by day (the platform's partitioning).
DAY_COLUMNS = ("_landed_date", "order_date", "as_of_date")
FROM_EMPTY = {
    "all_bronze_customers": "bronze_customers",
    "all_bronze_products": "bronze_products",
    "existing_order_keys": "(SELECT NULL::VARCHAR AS order_id, NULL::INTEGER AS line_no, NULL::DATE AS _landed_date "
                           "WHERE false)",
    "all_silver_orders": "silver_orders",
}


def parquet(table: str) -> str:
    return f"read_parquet('{{{{out}}}}/{table}/*/*.parquet', hive_partitioning = true)"


INCREMENTAL = {
    "all_bronze_customers": parquet("bronze/customers"),
    "all_bronze_products": parquet("bronze/products"),
    "existing_order_keys": f"(SELECT order_id, line_no, _landed_date FROM {parquet('silver/orders')})",
    "all_silver_orders": parquet("silver/orders"),
}


def drop_days(out_dir: Path, start: date, end: date) -> int:
    """Delete the day partitions of start..end under out_dir (so a re-run replaces them)."""
    names = {f"{column}={(start + timedelta(days=i)).isoformat()}" for column in DAY_COLUMNS
             for i in range((end - start).days + 1)}
    doomed = [p for p in out_dir.rglob("*=*") if p.is_dir() and p.name in names]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return len(doomed)


def run(landing: str, out: str, start: str, end: str, threads: int | None = None,
        memory_limit: str | None = None, incremental: bool = False) -> float:
    out_dir = Path(out)
    started = time.monotonic()
    if incremental and any((out_dir / "silver/orders").glob("*/*.parquet")):
        drop_days(out_dir, date.fromisoformat(start), date.fromisoformat(end))
        relations = INCREMENTAL
    else:
        shutil.rmtree(out_dir, ignore_errors=True)
        relations = FROM_EMPTY
    for layer in ("bronze", "silver", "gold", "features"):
        (out_dir / layer).mkdir(parents=True, exist_ok=True)
    sql = SQL.read_text()
    for name, relation in relations.items():  # relations, not values: no quoting
        sql = sql.replace("{{" + name + "}}", relation)
    sql = render(sql, {"landing": str(Path(landing).resolve()), "out": str(out_dir.resolve()),
                       "start": start, "end": end, "run_id": str(uuid.uuid4())})
    con = duckdb.connect(config={"temp_directory": str(out_dir / ".spill"), "preserve_insertion_order": False})
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(sql)
    con.close()
    shutil.rmtree(out_dir / ".spill", ignore_errors=True)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duckdb_run")
    parser.add_argument("--landing", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--threads", type=int, default=None, help="default: DuckDB's (all cores)")
    parser.add_argument("--memory-limit", default=None, help="e.g. 8GB; default: DuckDB's (80%% of RAM)")
    parser.add_argument("--incremental", action="store_true",
                        help="process the days on top of the Parquet already in --out (from empty if there is none)")
    args = parser.parse_args(argv)
    seconds = run(args.landing, args.out, args.start, args.end, args.threads, args.memory_limit, args.incremental)
    sys.stdout.write(f"duckdb pipeline: {seconds:.2f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run bench/duckdb_pipeline.sql on a landing zone: ``python -m bench.duckdb_run --landing L --out O
--start 2026-01-01 --end 2026-01-30``. The benchmark runs this as its own process, so the peak
memory it measures is DuckDB's alone."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import uuid
from pathlib import Path

import duckdb

SQL = Path(__file__).with_name("duckdb_pipeline.sql")


def render(sql: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        sql = sql.replace("{{" + name + "}}", value.replace("'", "''"))
    return sql


def run(landing: str, out: str, start: str, end: str, threads: int | None = None,
        memory_limit: str | None = None) -> float:
    out_dir = Path(out)
    shutil.rmtree(out_dir, ignore_errors=True)
    for layer in ("bronze", "silver", "gold", "features"):
        (out_dir / layer).mkdir(parents=True)
    sql = render(SQL.read_text(), {"landing": str(Path(landing).resolve()), "out": str(out_dir.resolve()),
                                   "start": start, "end": end, "run_id": str(uuid.uuid4())})
    started = time.monotonic()
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
    args = parser.parse_args(argv)
    seconds = run(args.landing, args.out, args.start, args.end, args.threads, args.memory_limit)
    sys.stdout.write(f"duckdb pipeline: {seconds:.2f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

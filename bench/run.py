"""The benchmark: how fast the platform is, against plain PySpark and DuckDB, on one machine.

``python -m bench --sizes 1000000,10000000 --repeats 3`` (``make bench BENCH_ARGS=...``). For each
size it generates a landing zone with the project's generator, then, per repetition and from
empty tables each time, runs

- ``platform``: ``dagster asset materialize --select '*' --partition-range FIRST...LAST``, the whole
  asset graph with its checks as one single-run backfill, against a DAGSTER_HOME of its own; the
  time per step comes from that run's event log;
- ``plain-spark``: ``bench/plain_spark.py``, the same transformations and Delta writes in one script;
- ``duckdb``: ``bench/duckdb_pipeline.sql``, the same transformations to Parquet;

and checks that the three agree (``bench/consistency.py``) before going on. ``incremental``
materializes, through the platform, the first day of an empty lakehouse and one new day on top of
a history of N days (restored from a snapshot for each repetition). ``year`` (not in the default
parts) is a year of daily runs: the history as one range run, then ``--new-days`` days one run
each on the same lakehouse, measuring per day the bytes and files each run's commits wrote against
the day's own partitions (``bench/delta_log.py``), then table maintenance, a fresh one-run build
of the same data to compare storage with, and plain Spark and DuckDB doing the same new days
incrementally. ``small-day`` (not in the default parts) is the floor: per repetition, from empty
tables, one day of ``--small-day-orders`` orders through a trivial one-table Spark + Delta job in
its own process (``bench/floor.py``) and through the platform's whole graph (one ``--partition``
run), with the ratio of the two and the platform's start-up, run and per-step times. Every
command is measured for wall time and the peak resident memory of its whole process tree
(``bench/sampler.py``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform as host
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, Optional

from bench import consistency, delta_log, report
from bench.events import last_run
from bench.sampler import Measurement, measure

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DAGSTER = str(Path(sys.executable).parent / "dagster")
SYSTEMS = ("platform", "plain-spark", "duckdb")
PARTS = (*SYSTEMS, "incremental", "year", "small-day")
# `year` takes about an hour at its defaults (365 days of 10,000 orders); `small-day` a few minutes
# a repetition, and its platform run is what `incremental`'s first day measures: both asked for explicitly.
DEFAULT_PARTS = (*SYSTEMS, "incremental")
MAINTENANCE_JOB = "table_maintenance"


def log(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psutil

    return {
        "CPU": cpu, "cores": str(os.cpu_count()), "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": host.platform(), "Python": host.python_version(),
        "versions": ", ".join(f"{p} {version(p)}" for p in ("pyspark", "delta-spark", "dagster", "duckdb")),
    }


class Failed(RuntimeError):
    pass


def run_measured(name: str, command: list[str], log_path: Path, env: Optional[dict] = None) -> Measurement:
    result = measure(command, env=env, cwd=REPO_ROOT, log=log_path)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-4000:] if log_path.exists() else ""
        raise Failed(f"{name} failed (exit {result.returncode}); log {log_path}:\n{tail}")
    return result


# -- landing data --------------------------------------------------------------------------------
def generate(landing: Path, logs: Path, *, orders: int, days: int, customers: int, products: int, start: date,
             seed: int) -> tuple[dict, Measurement]:
    command = [PYTHON, "-m", "datagen", "--root", str(landing), "--orders", str(orders), "--days", str(days),
               "--customers", str(customers), "--products", str(products), "--start-date", start.isoformat(),
               "--seed", str(seed)]
    logs.mkdir(parents=True, exist_ok=True)
    result = run_measured("datagen", command, logs / f"datagen-{orders}-{days}d.log")
    return json.loads((landing / "_manifest.json").read_text()), result


def landing_mib(landing: Path) -> int:
    return round(sum(f.stat().st_size for f in landing.rglob("*") if f.is_file()) / 2**20)


# -- the platform --------------------------------------------------------------------------------
def dagster_home(path: Path) -> Path:
    """An instance like `make demo`'s: the platform's local config and its silver_orders pool."""
    if not (path / "dagster.yaml").exists():
        path.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "platform/dagster.local.yaml", path / "dagster.yaml")
        subprocess.run([DAGSTER, "instance", "concurrency", "set", "silver_orders", "1"], cwd=REPO_ROOT,
                       env={**os.environ, "DAGSTER_HOME": str(path)}, check=True, capture_output=True)
    return path


# --spark-remote: the platform's runs compute on this warm Spark Connect server (started beforehand,
# e.g. `make spark-connect`) instead of starting a JVM each; the baselines still start their own.
PLATFORM_SPARK_REMOTE: Optional[str] = None


def platform_env(root: Path, landing: Path, home: Path, start: date, end: date, lineage: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "DAGSTER_"))}
    env.update(LAKEHOUSE_ENV="local", LAKEHOUSE_ROOT=str(root), LAKEHOUSE_LANDING_ROOT=str(landing),
               DAGSTER_HOME=str(home), LAKEHOUSE_START_DATE=start.isoformat(), LAKEHOUSE_END_DATE=end.isoformat(),
               LAKEHOUSE_LINEAGE=lineage)
    if PLATFORM_SPARK_REMOTE:
        env["LAKEHOUSE_SPARK_REMOTE"] = PLATFORM_SPARK_REMOTE
    return env


def materialize(root: Path, landing: Path, home: Path, start: date, end: date, first: date, last: date,
                lineage: str, log_path: Path) -> tuple[Measurement, Any]:
    """One platform run over first..last (a single-run backfill; one partition when first == last)."""
    partitions = (["--partition", first.isoformat()] if first == last
                  else ["--partition-range", f"{first.isoformat()}...{last.isoformat()}"])
    command = [DAGSTER, "asset", "materialize", "-f", "platform/definitions.py", "-d", ".", "--select", "*",
               *partitions]
    result = run_measured("platform", command, log_path, platform_env(root, landing, home, start, end, lineage))
    times = last_run(home)
    if times.status != "SUCCESS":
        raise Failed(f"platform run {times.run_id} ended {times.status}; log {log_path}")
    return result, times


def has_job(env: dict[str, str], job: str, log_path: Path) -> bool:
    """Whether the platform's definitions hold ``job`` (``dagster job list``)."""
    result = subprocess.run([DAGSTER, "job", "list", "-f", "platform/definitions.py", "-d", "."], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True)
    log_path.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise Failed(f"dagster job list failed (exit {result.returncode}); log {log_path}")
    return any(line.startswith("Job:") and line.split(":", 1)[1].strip() == job for line in result.stdout.splitlines())


def run_job(job: str, env: dict[str, str], home: Path, log_path: Path) -> tuple[Measurement, Any]:
    command = [DAGSTER, "job", "execute", "-f", "platform/definitions.py", "-d", ".", "-j", job]
    result = run_measured(job, command, log_path, env)
    times = last_run(home)
    if times.status != "SUCCESS":
        raise Failed(f"{job} run {times.run_id} ended {times.status}; log {log_path}")
    return result, times


def ratio(numerator: float, denominator: float) -> Optional[float]:
    return round(numerator / denominator, 2) if denominator else None


# Where the two small-day processes spend their wall time (labels of the steps rows, kind floor/process).
FLOOR_PHASES = ("interpreter start", "imports (pyspark, delta jars lookup)", "SparkSession start (JVM)",
                "read, explode, Delta write", "session stop", "process exit")
PLATFORM_PHASES = ("start-up: CLI import + definitions load", "start-up: run creation and planning",
                   "run: RUN_START to RUN_SUCCESS", "run: steps (sum)", "run: between steps", "process exit")


def floor_phases(log_path: Path, began: float, seconds: float) -> dict[str, float]:
    """The floor's phases from the ``FLOOR {json}`` line it prints (epoch times) and its launch time."""
    lines = reversed(log_path.read_text(errors="replace").splitlines())
    line = next((text for text in lines if text.startswith("FLOOR ")), None)
    if line is None:
        return {}
    t = json.loads(line[len("FLOOR "):])
    points = [began, t["started"], t["imported"], t["session"], t["written"], t["stopped"], began + seconds]
    return {label: b - a for label, a, b in zip(FLOOR_PHASES, points, points[1:])}


def platform_phases(times, began: float, seconds: float) -> dict[str, float]:
    """Process start to the run's first event (the `dagster` CLI's imports and the definitions'
    load), to RUN_START (run creation, planning), the run, and its end to the process's exit."""
    steps = sum(s.seconds for s in times.steps)
    points = [began, times.first_event_at, times.started_at, times.ended_at, began + seconds]
    return {PLATFORM_PHASES[0]: points[1] - points[0], PLATFORM_PHASES[1]: points[2] - points[1],
            PLATFORM_PHASES[2]: points[3] - points[2], PLATFORM_PHASES[3]: steps,
            PLATFORM_PHASES[4]: points[3] - points[2] - steps, PLATFORM_PHASES[5]: points[4] - points[3]}


# -- the benchmark -------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Path(args.out).resolve()
        self.work = Path(args.work).resolve()
        self.logs = self.work / "logs"
        self.home = dagster_home(self.work / "dagster_home")
        self.raw: list[dict] = []
        self.steps: list[dict] = []
        self.generator: list[dict] = []
        self.notes: list[str] = []
        self.year_rows: list[dict] = []  # the year scenario: one row per run (storage and Delta-log figures)
        self.year_tables: list[dict] = []  # ... and per table
        self.start = date.fromisoformat(args.start_date)
        if args.append:
            self.load()

    def load(self) -> None:
        """Earlier measurements in --out, so runs of different sizes and parts make one report."""
        def rows(name: str) -> list[dict]:
            path = self.out / name
            if not path.exists():
                return []
            with path.open(newline="") as f:
                return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]

        self.raw, self.steps, self.generator = rows("raw.csv"), rows("steps_raw.csv"), rows("generator.csv")
        self.year_rows, self.year_tables = rows("year.csv"), rows("year_tables.csv")
        notes = self.out / "notes.txt"
        self.notes = notes.read_text().splitlines() if notes.exists() else []
        for row in self.steps:
            row["label"], row["step"] = str(row["label"]), str(row["step"])
        log(f"appending to {len(self.raw)} measurements in {self.out}")

    def record(self, part: str, system: str, size: int, days: int, repeat: int, orders: int, m: Measurement,
               run_id: str = "") -> None:
        self.raw.append({"part": part, "system": system, "size_orders": size, "days": days, "repeat": repeat,
                         "seconds": round(m.seconds, 3), "orders": orders,
                         "orders_per_second": round(orders / m.seconds), "peak_rss_mib": round(m.peak_rss_mib),
                         "load_before": round(m.load_before, 2), "run_id": run_id})
        log(f"  {part:<22} {system:<28} {size:>11,} orders  repeat {repeat}: {m.seconds:8.1f} s  "
            f"{orders / m.seconds:10,.0f} orders/s  peak RSS {m.peak_rss_mib:8,.0f} MiB  (load {m.load_before:.1f})")

    def record_steps(self, part: str, size: int, days: int, repeat: int, times) -> None:
        for s in times.steps:
            self.steps.append({"part": part, "size_orders": size, "days": days, "repeat": repeat, "kind": s.kind,
                               "label": s.label, "step": s.step, "seconds": s.seconds})

    def customers_for(self, orders: int) -> int:
        return self.args.customers or max(100, orders // self.args.orders_per_customer)

    def landing_for(self, orders: int, days: int, customers: int, start: Optional[date] = None) -> tuple[Path, dict]:
        landing = self.work / f"landing-{orders}-{days}d"
        manifest, m = generate(landing, self.logs, orders=orders, days=days, customers=customers,
                               products=self.args.products, start=start or self.start, seed=self.args.seed)
        self.generator.append({"orders": orders, "days": days, "customers": customers, "seconds": round(m.seconds, 2),
                               "orders_per_second": round(orders / m.seconds), "peak_rss_mib": round(m.peak_rss_mib),
                               "landing_mib": landing_mib(landing), "load_before": round(m.load_before, 2)})
        log(f"generated {orders:,} orders over {days} days ({customers:,} customers) in {m.seconds:.1f} s, "
            f"peak RSS {m.peak_rss_mib:,.0f} MiB, {landing_mib(landing):,} MiB on disk")
        return landing, manifest

    # -- part 1-3: the whole range, three systems ---------------------------------------------------
    def pipelines(self, size: int) -> None:
        days = self.args.days
        first, last = self.start, self.start + timedelta(days=days - 1)
        landing, manifest = self.landing_for(size, days, self.customers_for(size))
        orders = manifest["orders"]["distinct_orders"]
        systems = [s for s in SYSTEMS if s in self.args.parts]
        for repeat in range(1, self.args.repeats + 1):
            outputs = []
            for system in systems:
                root = self.work / f"{system}-{size}"
                shutil.rmtree(root, ignore_errors=True)
                root.mkdir(parents=True)
                log_path = self.logs / f"{system}-{size}-r{repeat}.log"
                if system == "platform":
                    m, times = materialize(root, landing, self.home, first, last, first, last, self.args.lineage,
                                           log_path)
                    self.record("pipeline", system, size, days, repeat, orders, m, times.run_id)
                    self.record_steps("pipeline", size, days, repeat, times)
                    outputs.append(consistency.read_delta(system, root / "tables"))
                elif system == "plain-spark":
                    m = run_measured(system, [PYTHON, "-m", "bench.plain_spark", "--landing", str(landing),
                                              "--tables", str(root / "tables"), "--start", first.isoformat(),
                                              "--end", last.isoformat()], log_path)
                    self.record("pipeline", system, size, days, repeat, orders, m)
                    outputs.append(consistency.read_delta(system, root / "tables"))
                else:
                    m = run_measured(system, [PYTHON, "-m", "bench.duckdb_run", "--landing", str(landing),
                                              "--out", str(root / "parquet"), "--start", first.isoformat(),
                                              "--end", last.isoformat()], log_path)
                    self.record("pipeline", system, size, days, repeat, orders, m)
                    outputs.append(consistency.read_parquet(system, root / "parquet"))
            if len(outputs) > 1:
                line = consistency.compare(outputs)  # raises when they disagree
                log(f"  {size:,} orders, repeat {repeat}: {line}")
                if repeat == 1:
                    self.notes.append(f"{size:,} orders: {line}")
        if not self.args.keep:
            shutil.rmtree(landing, ignore_errors=True)
            for system in systems:
                shutil.rmtree(self.work / f"{system}-{size}", ignore_errors=True)

    # -- part 4: incremental ---------------------------------------------------------------------
    def incremental(self, history: int) -> None:
        per_day = self.args.incremental_orders_per_day
        days = history + 1
        customers = self.args.incremental_customers
        # Dagster's daily partitions end at yesterday: a long history starts early enough to fit.
        first_day = min(self.start, date.today() - timedelta(days=history + 1))
        new_day = first_day + timedelta(days=history)
        landing, manifest = self.landing_for(per_day * days, days, customers, start=first_day)
        day_orders = {d: n for d, n in manifest["orders"]["json_lines_by_landing_date"].items()}
        root = self.work / f"incremental-{history}"
        for repeat in range(1, self.args.repeats + 1):
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            m, times = materialize(root, landing, self.home, first_day, new_day, first_day, first_day,
                                   self.args.lineage, self.logs / f"incremental-{history}-first-r{repeat}.log")
            self.record("incremental-first", "first day (empty lakehouse)", per_day, history, repeat,
                        day_orders[first_day.isoformat()], m, times.run_id)
            self.record_steps("incremental-first", per_day, history, repeat, times)
        # The history, built once as one range run, then restored before each new-day run.
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        m, times = materialize(root, landing, self.home, first_day, new_day, first_day,
                               new_day - timedelta(days=1), self.args.lineage,
                               self.logs / f"incremental-{history}-history.log")
        history_orders = sum(n for d, n in day_orders.items() if d < new_day.isoformat())
        self.record("incremental-history", f"history build ({history} days, one run)", per_day, history, 1,
                    history_orders, m, times.run_id)
        snapshot = self.work / f"incremental-{history}-snapshot"
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(root, snapshot)
        for repeat in range(1, self.args.repeats + 1):
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(snapshot, root)
            m, times = materialize(root, landing, self.home, first_day, new_day, new_day, new_day,
                                   self.args.lineage, self.logs / f"incremental-{history}-new-r{repeat}.log")
            self.record("incremental-new", f"new day after {history} days", per_day, history, repeat,
                        day_orders[new_day.isoformat()], m, times.run_id)
            self.record_steps("incremental-new", per_day, history, repeat, times)
        if not self.args.keep:
            for path in (landing, root, snapshot):
                shutil.rmtree(path, ignore_errors=True)

    # -- part 5: a year of daily runs -----------------------------------------------------------
    def year_row(self, history: int, system: str, run: str, index: int, day: Optional[date], orders: int,
                 m: Optional[Measurement], root: Path, before: Optional[dict[str, int]]) -> dict:
        """One run of the year scenario: what its commits wrote (Delta tables) and the size after it."""
        row: dict[str, Any] = {"history": history, "system": system, "run": run, "index": index,
                               "date": day.isoformat() if day else "", "orders": orders,
                               "seconds": round(m.seconds, 2) if m else "",
                               "peak_rss_mib": round(m.peak_rss_mib) if m else ""}
        if before is not None:
            per_table = delta_log.changes(root, before, day.isoformat() if day else None)
            whole = delta_log.total(per_table.values())
            sizes = delta_log.storage(root)
            for table, c in per_table.items():
                size = sizes.get(table, delta_log.Storage())
                self.year_tables.append({
                    "history": history, "system": system, "run": run, "index": index, "date": row["date"],
                    "table": table, "operations": c.operations, "commits": c.commits,
                    "bytes_written": c.bytes_written, "own_bytes": c.own_bytes, "files_written": c.files_written,
                    "files_removed": c.files_removed, "rows_copied": c.rows_copied, "live_files": size.live_files,
                    "live_bytes": size.live_bytes, "disk_files": size.disk_files, "disk_bytes": size.disk_bytes})
            size = delta_log.storage_total(sizes)
            row.update(commits=whole.commits, bytes_written=whole.bytes_written, own_bytes=whole.own_bytes,
                       written_per_own=ratio(whole.bytes_written, whole.own_bytes) if day else "",
                       files_written=whole.files_written, files_removed=whole.files_removed,
                       rows_copied=whole.rows_copied, live_files=size.live_files, live_bytes=size.live_bytes)
        files, size_on_disk = delta_log.disk_size(root)
        row.update(disk_files=files, disk_bytes=size_on_disk)
        self.year_rows.append(row)
        if before is not None:
            own = (f" ({row['own_bytes'] / 2**20:,.2f} MiB in its own day partitions, {row['written_per_own']}x)"
                   if day else "")
            log(f"    {system} {run}: wrote {row['bytes_written'] / 2**20:,.2f} MiB in {row['files_written']:,} files{own}"
                f", removed {row['files_removed']:,} files, copied {row['rows_copied']:,} rows; tables now "
                f"{row['live_bytes'] / 2**20:,.1f} MiB live, {size_on_disk / 2**20:,.1f} MiB on disk")
        return row

    def year(self, history: int) -> None:
        """History as one range run, then --new-days days one run each, on the same lakehouse."""
        args = self.args
        per_day, new_days, customers = args.incremental_orders_per_day, args.new_days, args.incremental_customers
        days = history + new_days
        # Dagster's daily partitions end yesterday: the last new day is at most yesterday.
        first_day = min(self.start, date.today() - timedelta(days=days))
        last_day = first_day + timedelta(days=days - 1)
        last_history = first_day + timedelta(days=history - 1)
        new = [last_history + timedelta(days=i) for i in range(1, new_days + 1)]
        landing, manifest = self.landing_for(per_day * days, days, customers, start=first_day)
        day_orders = manifest["orders"]["json_lines_by_landing_date"]
        history_orders = sum(n for d, n in day_orders.items() if d <= last_history.isoformat())
        all_orders = sum(day_orders.values())
        work = self.work / f"year-{history}"
        shutil.rmtree(work, ignore_errors=True)
        root, fresh = work / "platform", work / "fresh"
        logs = self.logs / f"year-{history}"
        logs.mkdir(parents=True, exist_ok=True)
        label = f"{history} days + {new_days}"
        log(f"year: {history} days of history ({first_day}..{last_history}), then {new_days} new days one run each "
            f"({new[0]}..{new[-1]})")

        # The platform: history in one run, then one run per new day on top of it.
        root.mkdir(parents=True)
        tables = root / "tables"
        m, times = materialize(root, landing, self.home, first_day, last_day, first_day, last_history,
                               args.lineage, logs / "platform-history.log")
        self.record("year", f"platform: history ({history} days, one run)", per_day, history, 1, history_orders, m,
                    times.run_id)
        self.year_row(history, "platform", "history", 0, None, history_orders, m, tables, {})
        for i, day in enumerate(new, 1):
            before = delta_log.versions(tables)
            m, times = materialize(root, landing, self.home, first_day, last_day, day, day, args.lineage,
                                   logs / f"platform-day{i}.log")
            self.record("year", f"platform: new day {i} of {new_days}", per_day, history, 1,
                        day_orders[day.isoformat()], m, times.run_id)
            self.record_steps(f"year-day{i}", per_day, history, 1, times)
            self.year_row(history, "platform", f"new day {i}", i, day, day_orders[day.isoformat()], m, tables, before)

        # Table maintenance (OPTIMIZE + VACUUM), once, if the platform has the job.
        env = platform_env(root, landing, self.home, first_day, last_day, args.lineage)
        if has_job(env, MAINTENANCE_JOB, logs / "job-list.log"):
            before = delta_log.versions(tables)
            m, times = run_job(MAINTENANCE_JOB, env, self.home, logs / "maintenance.log")
            self.record("year", "platform: table maintenance", per_day, history, 1, 0, m, times.run_id)
            self.year_row(history, "platform", "after maintenance", new_days + 1, None, 0, m, tables, before)
        else:
            note = (f"year ({label} days): the platform has no `{MAINTENANCE_JOB}` job yet, so maintenance was not "
                    f"run or measured")
            log("  " + note)
            self.notes.append(note)

        # The same data built fresh, in one run: what the daily-run lakehouse's storage compares to.
        fresh.mkdir(parents=True)
        m, times = materialize(fresh, landing, self.home, first_day, last_day, first_day, last_day, args.lineage,
                               logs / "platform-fresh.log")
        self.record("year", f"platform: fresh build ({days} days, one run)", per_day, history, 1, all_orders, m,
                    times.run_id)
        self.year_row(history, "platform", "fresh build", new_days + 2, None, all_orders, m, fresh / "tables", {})

        # The baselines, the same way: the history in one run, then each new day on top of it.
        outputs = [consistency.read_delta("platform", tables)]
        if args.year_platform_only:
            self.notes.append(f"year ({label} days): platform only (--year-platform-only), no baselines")
            if not args.keep:
                shutil.rmtree(landing, ignore_errors=True)
                shutil.rmtree(work, ignore_errors=True)
            return
        plain, duck = work / "plain-spark", work / "duckdb"
        command = [PYTHON, "-m", "bench.plain_spark", "--landing", str(landing), "--tables", str(plain / "tables")]
        m = run_measured("plain-spark", [*command, "--start", first_day.isoformat(), "--end", last_history.isoformat()],
                         logs / "plain-history.log")
        self.record("year", f"plain-spark: history ({history} days, one run)", per_day, history, 1, history_orders, m)
        self.year_row(history, "plain-spark", "history", 0, None, history_orders, m, plain / "tables", {})
        for i, day in enumerate(new, 1):
            before = delta_log.versions(plain / "tables")
            m = run_measured("plain-spark", [*command, "--day", day.isoformat()], logs / f"plain-day{i}.log")
            self.record("year", f"plain-spark: new day {i} of {new_days}", per_day, history, 1,
                        day_orders[day.isoformat()], m)
            self.year_row(history, "plain-spark", f"new day {i}", i, day, day_orders[day.isoformat()], m,
                          plain / "tables", before)
        outputs.append(consistency.read_delta("plain-spark", plain / "tables"))
        command = [PYTHON, "-m", "bench.duckdb_run", "--landing", str(landing), "--out", str(duck / "parquet")]
        m = run_measured("duckdb", [*command, "--start", first_day.isoformat(), "--end", last_history.isoformat()],
                         logs / "duckdb-history.log")
        self.record("year", f"duckdb: history ({history} days, one run)", per_day, history, 1, history_orders, m)
        self.year_row(history, "duckdb", "history", 0, None, history_orders, m, duck / "parquet", None)
        for i, day in enumerate(new, 1):
            m = run_measured("duckdb", [*command, "--incremental", "--start", day.isoformat(), "--end", day.isoformat()],
                             logs / f"duckdb-day{i}.log")
            self.record("year", f"duckdb: new day {i} of {new_days}", per_day, history, 1,
                        day_orders[day.isoformat()], m)
            self.year_row(history, "duckdb", f"new day {i}", i, day, day_orders[day.isoformat()], m,
                          duck / "parquet", None)
        outputs.append(consistency.read_parquet("duckdb", duck / "parquet"))
        line = consistency.compare(outputs)  # raises when they disagree
        log(f"  year, {label} days, after the daily runs: {line}")
        self.notes.append(f"year ({label} days), after the daily runs: {line}")
        if not args.keep:
            shutil.rmtree(landing, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)

    # -- part 6: the floor, one small day ---------------------------------------------------------
    def small_day(self, orders_wanted: int) -> None:
        """One day of N orders from empty tables: a trivial Spark + Delta job, then the whole graph."""
        args = self.args
        # Dagster's daily partitions end yesterday.
        day = min(self.start, date.today() - timedelta(days=1))
        landing, manifest = self.landing_for(orders_wanted, 1, args.incremental_customers, start=day)
        orders = manifest["orders"]["distinct_orders"]
        work = self.work / f"small-day-{orders_wanted}"
        part, size = "small-day", orders_wanted
        for repeat in range(1, args.repeats + 1):
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            log_path = self.logs / f"small-day-{orders_wanted}-floor-r{repeat}.log"
            began = time.time()
            m = run_measured("floor", [PYTHON, "-m", "bench.floor", "--landing", str(landing), "--day",
                                       day.isoformat(), "--table", str(work / "floor" / "order_lines")], log_path)
            self.record(part, "floor: one Spark + Delta job", size, 1, repeat, orders, m)
            phases = floor_phases(log_path, began, m.seconds)
            for label, seconds in phases.items():
                self.steps.append({"part": part, "size_orders": size, "days": 1, "repeat": repeat, "kind": "floor",
                                   "label": label, "step": label, "seconds": round(seconds, 3)})

            root = work / "platform"
            root.mkdir(parents=True)
            began = time.time()
            m, times = materialize(root, landing, self.home, day, day, day, day, args.lineage,
                                   self.logs / f"small-day-{orders_wanted}-platform-r{repeat}.log")
            self.record(part, "platform: whole graph", size, 1, repeat, orders, m, times.run_id)
            self.record_steps(part, size, 1, repeat, times)
            for label, seconds in platform_phases(times, began, m.seconds).items():
                self.steps.append({"part": part, "size_orders": size, "days": 1, "repeat": repeat,
                                   "kind": "process", "label": label, "step": label, "seconds": round(seconds, 3)})
        if not args.keep:
            shutil.rmtree(landing, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)

    # -- results -------------------------------------------------------------------------------
    def write(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        report.write_csv(self.out / "raw.csv", report.RAW_FIELDS, self.raw)
        report.write_csv(self.out / "steps_raw.csv", ["part", "size_orders", "days", "repeat", "kind", "label",
                                                      "step", "seconds"], self.steps)
        summary = report.summarise(self.raw)
        steps = report.summarise_steps(self.steps)
        report.write_csv(self.out / "results.csv", report.SUMMARY_FIELDS, summary)
        report.write_csv(self.out / "steps.csv", report.STEP_FIELDS, steps)
        report.write_csv(self.out / "generator.csv", list(self.generator[0]) if self.generator else ["orders"],
                         self.generator)
        if self.year_rows:
            report.write_csv(self.out / "year.csv", report.YEAR_FIELDS, self.year_rows)
            report.write_csv(self.out / "year_tables.csv", report.YEAR_TABLE_FIELDS, self.year_tables)
        (self.out / "notes.txt").write_text("".join(f"{n}\n" for n in self.notes))
        notes = list(self.notes)
        if self.generator:
            largest = max(self.generator, key=lambda g: g["orders"])
            if largest["orders"] < 10_000_000:
                scale = 10_000_000 / largest["orders"]
                notes.append(f"generator, extrapolated linearly from {largest['orders']:,} orders: 10,000,000 orders "
                             f"in about {largest['seconds'] * scale / 60:.1f} min and "
                             f"{largest['landing_mib'] * scale / 1024:.1f} GiB of landing files; its memory does not "
                             f"grow with orders (it streams them)")
        notes.append(f"platform lineage setting: LAKEHOUSE_LINEAGE={self.args.lineage}; peak RSS is the sum over the "
                     f"process tree (Python + JVM), sampled every 0.1 s; 'load before' is the 1-minute load average "
                     f"when a measurement started: measurements run back to back, so 2 to 3 on this 2-core machine is "
                     f"the previous measurement's load decaying, while more than the core count means another process "
                     f"competed")
        (self.out / "results.md").write_text(
            report.markdown(summary, steps, machine_info(), notes, self.generator, self.year_rows, self.year_tables))
        if any(r["part"] == "pipeline" for r in summary):
            report.plot(summary, steps, self.out / "bench.png")
        log(f"results: {self.out}/results.md, results.csv, steps.csv, raw.csv, bench.png")


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _ints(text: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text.split(",") if v.strip()]


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_ints, default=[1_000_000, 10_000_000], help="orders per landing zone")
    parser.add_argument("--days", type=int, default=30, help="days the orders of each size are spread over")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", type=lambda s: s.split(","), default=list(DEFAULT_PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)} (default: {','.join(DEFAULT_PARTS)}; "
                             f"year, a year of daily runs, takes about an hour at its defaults; small-day, the "
                             f"floor: one day through a trivial Spark + Delta job and through the platform)")
    parser.add_argument("--history", type=_ints, default=None,
                        help="history lengths (days): for incremental (default 30,365) and, the longest, for year "
                             "(default 365)")
    parser.add_argument("--year-history", type=int, default=None,
                        help="year: days of history built in one run before the new days (default: the longest "
                             "--history if given, else 365)")
    parser.add_argument("--new-days", type=int, default=5,
                        help="year: new days materialized one run each, in order, on top of the history (default 5)")
    parser.add_argument("--year-platform-only", action="store_true",
                        help="year: skip the plain-Spark and DuckDB baselines (re-measuring the platform alone)")
    parser.add_argument("--small-day-orders", type=int, default=10_000,
                        help="small-day: orders in the one landing day the floor and the platform process")
    parser.add_argument("--incremental-orders-per-day", type=int, default=10_000, help="incremental and year")
    parser.add_argument("--incremental-customers", type=int, default=20_000, help="incremental, year and small-day")
    parser.add_argument("--customers", type=int, default=None, help="customers per landing zone (default: orders / "
                        "--orders-per-customer)")
    parser.add_argument("--orders-per-customer", type=int, default=20)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--start-date", default="2026-01-01")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lineage", choices=("file", "off"), default="file",
                        help="the platform's LAKEHOUSE_LINEAGE (default: the platform's default, file)")
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results"))
    parser.add_argument("--work", default=str(REPO_ROOT / ".lakehouse" / "bench"),
                        help="landing zones, tables and logs (deleted per size unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep landing zones and tables")
    parser.add_argument("--spark-remote", default=None,
                        help="the platform's runs use this running Spark Connect server (e.g. sc://127.0.0.1:15002 "
                        "after `make spark-connect`): a warm engine, no JVM start per run")
    parser.add_argument("--append", action="store_true",
                        help="add to the measurements already in --out (e.g. 10 M once after 1 M three times)")
    args = parser.parse_args(argv)
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    if args.new_days < 1:
        parser.error("--new-days must be at least 1")
    args.year_history = args.year_history or (max(args.history) if args.history else 365)
    args.history = args.history or [30, 365]
    return args


def main(argv: Optional[list[str]] = None) -> int:
    global PLATFORM_SPARK_REMOTE
    args = parse_args(argv)
    PLATFORM_SPARK_REMOTE = args.spark_remote
    bench = Bench(args)
    if args.spark_remote:
        bench.notes.append(f"the platform's runs computed on a warm Spark Connect server ({args.spark_remote}); "
                           f"the floor and the baselines started their own JVM")
    log("machine: " + "; ".join(f"{k}: {v}" for k, v in machine_info().items()))
    try:
        if any(p in SYSTEMS for p in args.parts):
            for size in args.sizes:
                bench.pipelines(size)
        if "incremental" in args.parts:
            for history in args.history:
                bench.incremental(history)
        if "year" in args.parts:
            bench.year(args.year_history)
        if "small-day" in args.parts:
            bench.small_day(args.small_day_orders)
    except (Failed, consistency.InconsistentResults) as error:
        bench.write()
        sys.stderr.write(f"\nBENCHMARK FAILED: {error}\n")
        return 1
    bench.write()
    return 0

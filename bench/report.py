"""Results: every repetition as raw rows, then median [min, max] per measurement as CSV,
Markdown and a plot (throughput by size; platform time per asset and check)."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

RAW_FIELDS = ["part", "system", "size_orders", "days", "repeat", "seconds", "orders", "orders_per_second",
              "peak_rss_mib", "load_before", "run_id"]
SUMMARY_FIELDS = ["part", "system", "size_orders", "days", "repeats", "orders", "seconds_median", "seconds_min",
                  "seconds_max", "orders_per_second_median", "peak_rss_mib_median", "peak_rss_mib_max",
                  "load_before_max"]
# The year scenario (bench.run.Bench.year): one row per run, and per table of each run.
YEAR_FIELDS = ["history", "system", "run", "index", "date", "orders", "seconds", "peak_rss_mib", "commits",
               "bytes_written", "own_bytes", "written_per_own", "files_written", "files_removed", "rows_copied",
               "live_files", "live_bytes", "disk_files", "disk_bytes"]
YEAR_TABLE_FIELDS = ["history", "system", "run", "index", "date", "table", "operations", "commits", "bytes_written",
                     "own_bytes", "files_written", "files_removed", "rows_copied", "live_files", "live_bytes",
                     "disk_files", "disk_bytes"]
STEP_FIELDS = ["part", "size_orders", "days", "kind", "label", "step", "repeats", "seconds_median", "seconds_min",
               "seconds_max"]


def write_csv(path: Path, fields: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def summarise(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in raw:
        groups[(row["part"], row["system"], row["size_orders"], row["days"])].append(row)
    out = []
    for (part, system, size, days), rows in groups.items():
        seconds = [r["seconds"] for r in rows]
        rss = [r["peak_rss_mib"] for r in rows]
        median = statistics.median(seconds)
        orders = rows[0]["orders"]
        out.append({
            "part": part, "system": system, "size_orders": size, "days": days, "repeats": len(rows),
            "orders": orders, "seconds_median": round(median, 2), "seconds_min": round(min(seconds), 2),
            "seconds_max": round(max(seconds), 2),
            "orders_per_second_median": round(orders / median) if median else None,
            "peak_rss_mib_median": round(statistics.median(rss)), "peak_rss_mib_max": round(max(rss)),
            "load_before_max": round(max(r["load_before"] for r in rows), 2),
        })
    return out


def summarise_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in steps:
        groups[(row["part"], row["size_orders"], row["days"], row["kind"], row["label"], row["step"])].append(row)
    out = []
    for (part, size, days, kind, label, step), rows in groups.items():
        seconds = [r["seconds"] for r in rows]
        out.append({"part": part, "size_orders": size, "days": days, "kind": kind, "label": label, "step": step,
                    "repeats": len(rows), "seconds_median": round(statistics.median(seconds), 2),
                    "seconds_min": round(min(seconds), 2), "seconds_max": round(max(seconds), 2)})
    return out


def _fmt_seconds(s: float) -> str:
    return f"{s:,.1f} s" if s < 120 else f"{s / 60:,.1f} min"


def _range(row: dict) -> str:
    return f"{_fmt_seconds(row['seconds_median'])} [{_fmt_seconds(row['seconds_min'])}, {_fmt_seconds(row['seconds_max'])}]"


def _fmt_bytes(b) -> str:
    if b == "" or b is None:
        return ""
    b = float(b)
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= size:
            return f"{b / size:,.1f} {unit}"
    return f"{b:,.0f} B"


def _int(v) -> str:
    return "" if v == "" or v is None else f"{int(v):,}"


def year_markdown(rows: list[dict], tables: list[dict]) -> list[str]:
    """The year scenario: per new day, the platform's cost and what it wrote; storage; baselines."""
    lines: list[str] = []
    for history in sorted({r["history"] for r in rows}):
        runs = sorted((r for r in rows if r["history"] == history), key=lambda r: (r["system"], r["index"]))
        platform = [r for r in runs if r["system"] == "platform"]
        days = [r for r in platform if str(r["run"]).startswith("new day")]
        if not days:
            continue
        first = days[0]["seconds"]
        plain = {r["index"]: r["seconds"] for r in runs if r["system"] == "plain-spark"}
        lines += [f"## A year of daily runs: {history} days of history, then {len(days)} new days one run each", "",
                  "The platform built the history in one range run, then materialized each new day in its own run "
                  "(`--partition DAY --select '*'`), in order, on the same lakehouse. Bytes and files written are "
                  "the `add` actions of the run's Delta commits over all tables; own bytes are the adds in that "
                  "day's partitions of the day-partitioned tables (`_landed_date`, `order_date`, `as_of_date`); "
                  "rows copied are MERGE's `numTargetRowsCopied`. Live size: the files the tables' latest versions "
                  "reference; on disk: a directory walk (files removed from the log stay until VACUUM).", "",
                  "| Run | Day | Orders landed | Wall time | vs new day 1 | vs plain Spark | Bytes written | Own bytes | "
                  "Written / own | Files written / removed | Rows copied | Lakehouse live | on disk | Peak RSS |",
                  "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in platform:
            is_day = str(r["run"]).startswith("new day")
            seconds = r["seconds"]
            vs_first = f"{seconds / first:.2f}x" if is_day and first else ""
            vs_plain = (f"{seconds / plain[r['index']]:.2f}x" if seconds != "" and r["run"] != "fresh build"
                        and r["index"] in plain and plain[r["index"]] else "")
            ratio = f"{r['written_per_own']}x" if r.get("written_per_own") not in ("", None) else ""
            files = (f"{_int(r['files_written'])} / {_int(r['files_removed'])}"
                     if r.get("files_written") not in ("", None) else "")
            lines.append(
                f"| {r['run']} | {r['date']} | {_int(r['orders'])} | "
                f"{_fmt_seconds(seconds) if seconds != '' else ''} | {vs_first} | {vs_plain} | "
                f"{_fmt_bytes(r.get('bytes_written'))} | {_fmt_bytes(r.get('own_bytes')) if is_day else ''} | {ratio} | "
                f"{files} | {_int(r.get('rows_copied'))} | {_fmt_bytes(r.get('live_bytes'))} | "
                f"{_fmt_bytes(r['disk_bytes'])} | {_int(r['peak_rss_mib'])} MiB |")
        lines.append("")
        worst = max(days, key=lambda r: float(r["written_per_own"] or 0))
        lines.append(f"Bytes written per own byte, worst new day: {worst['written_per_own']}x (goal: at most 2x); "
                     f"last new day against the first: {days[-1]['seconds'] / first:.2f}x wall time.")
        lines.append("")
        last = [t for t in tables if t["history"] == history and t["system"] == "platform"
                and t["run"] == days[-1]["run"] and (t["bytes_written"] or t["files_removed"])]
        if last:
            lines += [f"What {days[-1]['run']} ({days[-1]['date']}) wrote, per table:", "",
                      "| Table | Operations | Bytes written | Own bytes | Files written / removed | Rows copied | "
                      "Live size | On disk |", "|---|---|---:|---:|---:|---:|---:|---:|"]
            for t in sorted(last, key=lambda t: -int(t["bytes_written"])):
                lines.append(f"| {t['table']} | {t['operations']} | {_fmt_bytes(t['bytes_written'])} | "
                             f"{_fmt_bytes(t['own_bytes'])} | {_int(t['files_written'])} / {_int(t['files_removed'])} | "
                             f"{_int(t['rows_copied'])} | {_fmt_bytes(t['live_bytes'])} | {_fmt_bytes(t['disk_bytes'])} |")
            lines.append("")
        daily = days[-1]
        maintained = next((r for r in platform if r["run"] == "after maintenance"), None)
        fresh = next((r for r in platform if r["run"] == "fresh build"), None)
        lines += ["Storage of the daily-run lakehouse against the same data built fresh in one run:", "",
                  "| Lakehouse | Live files | Live size | Files on disk | Size on disk | Live size vs fresh | "
                  "On disk vs fresh |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, r in (("daily runs, after the last new day", daily), ("daily runs, after maintenance", maintained),
                        ("fresh build, one run", fresh)):
            if r is None:
                continue
            live_vs = f"{int(r['live_bytes']) / int(fresh['live_bytes']):.2f}x" if fresh else ""
            disk_vs = f"{int(r['disk_bytes']) / int(fresh['disk_bytes']):.2f}x" if fresh else ""
            lines.append(f"| {name} | {_int(r['live_files'])} | {_fmt_bytes(r['live_bytes'])} | "
                         f"{_int(r['disk_files'])} | {_fmt_bytes(r['disk_bytes'])} | {live_vs} | {disk_vs} |")
        lines.append("")
        if maintained is None:
            lines += ["Table maintenance was not run (the platform had no `table_maintenance` job).", ""]
        else:
            lines += [f"Maintenance (OPTIMIZE + VACUUM) took {_fmt_seconds(maintained['seconds'])}, wrote "
                      f"{_int(maintained['files_written'])} files and removed {_int(maintained['files_removed'])} from "
                      f"the logs. VACUUM keeps files removed less than 7 days ago (Delta's minimum retention), so right "
                      f"after the runs it deletes nothing they replaced: it compacts, and the space comes back a week "
                      f"later.", ""]
        baselines = [r for r in runs if r["system"] != "platform"]
        if baselines:
            systems = [s for s in ("plain-spark", "duckdb") if any(r["system"] == s for r in baselines)]
            by = {(r["system"], r["index"]): r for r in runs}
            lines += ["The same new days through the baselines (each on top of its own history built in one run; "
                      "plain Spark with the platform's Delta writes and partitioning, DuckDB appending the day's "
                      "Parquet partitions):", "",
                      "| Run | " + " | ".join(["platform", *systems]) + " | platform vs plain Spark |",
                      "|---|" + "---:|" * (len(systems) + 2)]
            for r in [r for r in platform if r["run"] == "history"] + days:
                cells = [_fmt_seconds(by[(s, r["index"])]["seconds"]) if (s, r["index"]) in by else ""
                         for s in ["platform", *systems]]
                vs = (f"{r['seconds'] / plain[r['index']]:.2f}x" if r["index"] in plain and plain[r["index"]] else "")
                lines.append(f"| {r['run']} | " + " | ".join(cells) + f" | {vs} |")
            lines.append("")
            plain_days = [by[("plain-spark", r["index"])] for r in days if ("plain-spark", r["index"]) in by]
            if plain_days and plain_days[-1].get("written_per_own") not in ("", None):
                lines += [f"Plain Spark's last new day wrote {_fmt_bytes(plain_days[-1]['bytes_written'])} "
                          f"({plain_days[-1]['written_per_own']}x its own bytes); its tables are "
                          f"{_fmt_bytes(plain_days[-1]['live_bytes'])} live, {_fmt_bytes(plain_days[-1]['disk_bytes'])} "
                          f"on disk.", ""]
    return lines


def small_day_markdown(summary: list[dict], steps: list[dict]) -> list[str]:
    """The floor (``--parts small-day``): one day through a trivial Spark + Delta job and through
    the platform, the ratio, where each process's wall time went, and the platform's steps."""
    lines: list[str] = []
    rows = [r for r in summary if r["part"] == "small-day"]
    for size in sorted({r["size_orders"] for r in rows}):
        here = {str(r["system"]).split(":")[0]: r for r in rows if r["size_orders"] == size}
        floor, platform = here.get("floor"), here.get("platform")
        lines += [f"## The floor: one day of {size:,} orders from empty tables (median [min, max])", "",
                  "`floor` is `bench/floor.py` in its own process: a SparkSession configured as the platform's "
                  "`local` environment (JVM start included), the day's order JSON read, items exploded into lines, "
                  "one Delta table written. `platform` is `dagster asset materialize --select '*' --partition DAY` "
                  "on an empty lakehouse: the whole graph with its checks.", "",
                  "| System | Orders | Wall time | vs floor | Peak RSS (tree) | Repeats | Max load before |",
                  "|---|---:|---|---:|---:|---:|---:|"]
        for r in (floor, platform):
            if r is None:
                continue
            vs = f"{r['seconds_median'] / floor['seconds_median']:.2f}x" if floor else ""
            lines.append(f"| {r['system']} | {r['orders']:,} | {_range(r)} | {vs} | {r['peak_rss_mib_median']:,} MiB | "
                         f"{r['repeats']} | {r['load_before_max']} |")
        lines.append("")
        if floor and platform:
            ratio = platform["seconds_median"] / floor["seconds_median"]
            lines += [f"Platform / floor: {ratio:.2f}x (goal: at most 1.4x, "
                      f"{'met' if ratio <= 1.4 else 'not met'}).", ""]
        mine = [s for s in steps if s["part"] == "small-day" and s["size_orders"] == size]
        for kind, title in (("floor", "Where the floor's wall time went"),
                            ("process", "Where the platform's wall time went (process start, its run's events, exit)")):
            phases = [s for s in mine if s["kind"] == kind]
            if phases:
                lines += [f"{title}:", "", "| Phase | Median | Min | Max |", "|---|---:|---:|---:|"]
                lines += [f"| {s['label']} | {_fmt_seconds(s['seconds_median'])} | {_fmt_seconds(s['seconds_min'])} | "
                          f"{_fmt_seconds(s['seconds_max'])} |" for s in phases]
                lines.append("")
        chosen = sorted((s for s in mine if s["kind"] in ("asset", "check")), key=lambda s: -s["seconds_median"])
        if chosen:
            total = sum(s["seconds_median"] for s in chosen)
            lines += [f"Platform steps (the first Spark step also starts the JVM and SparkSession; an asset's checks "
                      f"count in its step when they run inside it; they add up to {_fmt_seconds(total)}):", "",
                      "| Step | Kind | Median | Min | Max | Share |", "|---|---|---:|---:|---:|---:|"]
            lines += [f"| {s['label']} | {s['kind']} | {_fmt_seconds(s['seconds_median'])} | "
                      f"{_fmt_seconds(s['seconds_min'])} | {_fmt_seconds(s['seconds_max'])} | "
                      f"{100 * s['seconds_median'] / total:.1f} % |" for s in chosen]
            for kind in ("asset", "check"):
                if any(s["kind"] == kind for s in chosen):
                    part = sum(s["seconds_median"] for s in chosen if s["kind"] == kind)
                    lines.append(f"| **all {kind}s** | | {_fmt_seconds(part)} | | | {100 * part / total:.1f} % |")
            lines.append("")
    return lines


def markdown(summary: list[dict], steps: list[dict], machine: dict[str, str], notes: list[str],
             generator: list[dict], year_rows: list[dict] = (), year_tables: list[dict] = ()) -> str:
    lines = ["# Benchmark results", ""]
    lines += ["Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()), ""]
    main = [r for r in summary if r["part"] == "pipeline"]
    if main:
        plain = {r["size_orders"]: r["seconds_median"] for r in main if r["system"] == "plain-spark"}
        lines += ["## Full range, one run per system (median [min, max])", "",
                  "| System | Orders | Days | Wall time | vs plain Spark | Orders/s | Peak RSS (tree) | Repeats | Max load before |",
                  "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
        for r in sorted(main, key=lambda r: (r["size_orders"], r["system"])):
            ratio = f"{r['seconds_median'] / plain[r['size_orders']]:.2f}x" if r["size_orders"] in plain else ""
            lines.append(f"| {r['system']} | {r['orders']:,} | {r['days']} | {_range(r)} | {ratio} | "
                         f"{r['orders_per_second_median']:,} | {r['peak_rss_mib_median']:,} MiB | {r['repeats']} | "
                         f"{r['load_before_max']} |")
        lines.append("")
    incremental = [r for r in summary if r["part"].startswith("incremental")]
    if incremental:
        first = {r["days"]: r["seconds_median"] for r in incremental if r["part"] == "incremental-first"}
        lines += ["## Incremental: one day through the platform (median [min, max])", "",
                  "| Measurement | History (days) | Order records landed (day or history) | Wall time | vs first day | Orders/s | Peak RSS (tree) | Repeats |",
                  "|---|---:|---:|---|---:|---:|---:|---:|"]
        for r in sorted(incremental, key=lambda r: (r["days"], r["part"])):
            ratio = (f"{r['seconds_median'] / first[r['days']]:.2f}x"
                     if r["part"] == "incremental-new" and r["days"] in first else "")
            lines.append(f"| {r['system']} | {r['days']} | {r['orders']:,} | {_range(r)} | {ratio} | "
                         f"{r['orders_per_second_median']:,} | {r['peak_rss_mib_median']:,} MiB | {r['repeats']} |")
        lines.append("")
    if year_rows:
        lines += year_markdown(list(year_rows), list(year_tables))
    lines += small_day_markdown(summary, steps)
    if generator:
        lines += ["## Data generator (`python -m datagen`)", "",
                  "| Orders | Days | Wall time | Orders/s | Peak RSS | Landing size |", "|---:|---:|---|---:|---:|---:|"]
        for g in generator:
            lines.append(f"| {g['orders']:,} | {g['days']} | {_fmt_seconds(g['seconds'])} | {g['orders_per_second']:,} | "
                         f"{g['peak_rss_mib']:,} MiB | {g['landing_mib']:,} MiB |")
        lines.append("")
    platform_steps = [s for s in steps if s["part"] == "pipeline"]
    if platform_steps:
        size = max(s["size_orders"] for s in platform_steps)
        chosen = sorted((s for s in platform_steps if s["size_orders"] == size), key=lambda s: -s["seconds_median"])
        total = sum(s["seconds_median"] for s in chosen)
        lines += [f"## Platform: time per asset step and check, {size:,} orders (median of repeats)", "",
                  f"Steps add up to {_fmt_seconds(total)}; the first Spark step also starts the JVM and SparkSession.",
                  "", "| Step | Kind | Median | Share |", "|---|---|---:|---:|"]
        for s in chosen:
            lines.append(f"| {s['label']} | {s['kind']} | {_fmt_seconds(s['seconds_median'])} | "
                         f"{100 * s['seconds_median'] / total:.1f} % |")
        for kind in ("asset", "check"):
            part = sum(s["seconds_median"] for s in chosen if s["kind"] == kind)
            lines.append(f"| **all {kind}s** | | {_fmt_seconds(part)} | {100 * part / total:.1f} % |")
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def plot(summary: list[dict], steps: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [r for r in summary if r["part"] == "pipeline"]
    platform_steps = [s for s in steps if s["part"] == "pipeline"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [1, 1.4]})
    for system in sorted({r["system"] for r in main}):
        rows = sorted((r for r in main if r["system"] == system), key=lambda r: r["orders"])
        left.plot([r["orders"] for r in rows], [r["orders_per_second_median"] for r in rows], marker="o", label=system)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("orders in the landing zone")
    left.set_ylabel("orders per second (median, whole pipeline)")
    left.set_title("Throughput by size")
    left.grid(True, which="both", alpha=0.3)
    left.legend()
    if platform_steps:
        size = max(s["size_orders"] for s in platform_steps)
        chosen = sorted((s for s in platform_steps if s["size_orders"] == size), key=lambda s: s["seconds_median"])
        colours = ["tab:blue" if s["kind"] == "asset" else "tab:orange" for s in chosen]
        right.barh([s["label"][:48] for s in chosen], [s["seconds_median"] for s in chosen], color=colours)
        right.set_xlabel("seconds (median)")
        right.set_title(f"Platform: time per asset (blue) and check (orange), {size:,} orders")
        right.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

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


def markdown(summary: list[dict], steps: list[dict], machine: dict[str, str], notes: list[str],
             generator: list[dict]) -> str:
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

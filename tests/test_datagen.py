"""The landing-zone generator: deterministic, exact manifest, every kind of dirt, flat memory."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import tracemalloc
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from datagen import GeneratorConfig, generate_landing_zone
from datagen.generator import ORDER_DIRT


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _generate(root: Path, **sizes) -> dict:
    config = dict(customers=60, products=12, orders=300, days=3, seed=3) | sizes
    return generate_landing_zone(GeneratorConfig(root=str(root), **config))


def test_same_seed_gives_identical_files_and_other_seed_does_not(tmp_path):
    _generate(tmp_path / "a")
    _generate(tmp_path / "b")
    _generate(tmp_path / "c", seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_layout_and_headers(tmp_path):
    manifest = _generate(tmp_path)
    assert manifest["days"] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    for day in manifest["days"]:
        assert (tmp_path / f"orders/date={day}/orders_{day}_part0000.jsonl").is_file()
        header = (tmp_path / f"customers/date={day}/customers_{day}.csv").read_text().splitlines()[0]
        assert header == "customer_id,name,email,address,city,signup_date,updated_at"
    assert (tmp_path / "products/date=2026-01-01/products_2026-01-01.csv").read_text().startswith(
        "product_id,name,category,unit_price\n"
    )


def test_manifest_matches_what_the_files_hold(tmp_path):
    manifest = _generate(tmp_path, orders=2000, days=4)
    orders = manifest["orders"]
    customer_ids = set()
    for path in (tmp_path / "customers").rglob("*.csv"):
        with path.open() as f:
            customer_ids |= {row["customer_id"] for row in csv.DictReader(f) if row["customer_id"]}
    seen = Counter()
    found = Counter()
    for day in manifest["days"]:
        lines = []
        for path in sorted((tmp_path / f"orders/date={day}").glob("*.jsonl")):
            lines += path.read_text().splitlines()
        assert len(lines) == orders["json_lines_by_landing_date"][day]
        exploded = 0
        for line in lines:
            try:
                order = json.loads(line)
            except json.JSONDecodeError:
                found["malformed_line"] += 1
                continue
            exploded += max(1, len(order["items"]))
            seen[line] += 1
            if seen[line] > 1:
                continue  # a duplicate copy (a re-delivered order looks late, but it is not)
            if order["customer_id"] is None:
                found["null_customer_id"] += 1
            elif order["customer_id"] not in customer_ids:
                found["unknown_customer"] += 1
            if order["order_ts"] is None:
                found["null_order_ts"] += 1
            elif date.fromisoformat(order["order_ts"][:10]) < date.fromisoformat(day):
                found["late_arriving"] += 1
            if not order["items"]:
                found["empty_items"] += 1
            elif any(item["quantity"] < 0 for item in order["items"]):
                found["negative_quantity"] += 1
        assert exploded == orders["order_lines_by_landing_date"][day]
    duplicates = sum(n - 1 for n in seen.values())
    for kind in ("malformed_line", "null_customer_id", "unknown_customer", "null_order_ts",
                 "late_arriving", "empty_items", "negative_quantity"):
        assert found[kind] == orders["dirt"][kind], kind
    assert duplicates == orders["dirt"]["duplicate_in_file"] + orders["dirt"]["duplicate_redelivered"]
    assert all(orders["dirt"][kind] >= 1 for kind in ORDER_DIRT)
    assert all(count >= 1 for count in manifest["customers"]["dirt"].values())
    assert sum(orders["json_lines_by_landing_date"].values()) == orders["lines_written"]


def _dirt_in_files(root: Path, manifest: dict) -> Counter:
    """Each kind of order dirt as the files hold it. A copy of an order in the same part file is
    ``duplicate_in_file``, on a later landing day ``duplicate_redelivered``, elsewhere ``split_copy``."""
    customer_ids = set()
    for path in (root / "customers").rglob("*.csv"):
        with path.open() as f:
            customer_ids |= {row["customer_id"] for row in csv.DictReader(f) if row["customer_id"]}
    first_seen: dict[str, tuple[str, str]] = {}
    found = Counter()
    for day in manifest["days"]:
        for path in sorted((root / f"orders/date={day}").glob("*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    order = json.loads(line)
                except json.JSONDecodeError:
                    found["malformed_line"] += 1
                    continue
                if line in first_seen:
                    where = first_seen[line]
                    found["duplicate_in_file" if where == (day, path.name) else
                          "duplicate_redelivered" if where[0] < day else "split_copy"] += 1
                    continue
                first_seen[line] = (day, path.name)
                if order["customer_id"] is None:
                    found["null_customer_id"] += 1
                elif order["customer_id"] not in customer_ids:
                    found["unknown_customer"] += 1
                if order["order_ts"] is None:
                    found["null_order_ts"] += 1
                elif order["order_ts"][:10] < day:
                    found["late_arriving"] += 1
                if not order["items"]:
                    found["empty_items"] += 1
                elif any(item["quantity"] < 0 for item in order["items"]):
                    found["negative_quantity"] += 1
    return found


def test_an_order_and_its_copy_in_the_file_share_one_part_file(tmp_path):
    """Small part files: the two copies of a duplicate_in_file order never straddle a rollover."""
    manifest = _generate(tmp_path, orders=600, days=2, orders_per_file=5, dirt_rate=0.1)
    found = _dirt_in_files(tmp_path, manifest)
    assert found["split_copy"] == 0
    assert found["duplicate_in_file"] == manifest["orders"]["dirt"]["duplicate_in_file"] > 10
    assert found["duplicate_redelivered"] == manifest["orders"]["dirt"]["duplicate_redelivered"]
    parts = list((tmp_path / "orders").rglob("*.jsonl"))
    assert len(parts) > 100 and all(len(p.read_text().splitlines()) <= 5 for p in parts)


def test_a_late_order_is_priced_at_its_order_day(tmp_path):
    """Prices change on days 0 and 3; an order landing on day 3 but placed before has the old prices."""
    manifest = _generate(tmp_path, orders=1200, days=4, products=10, dirt_rate=0.1)
    price_files = sorted((tmp_path / "products").rglob("*.csv"))
    assert [p.parent.name for p in price_files] == ["date=2026-01-01", "date=2026-01-04"]

    def prices_on(day: str) -> dict[str, float]:
        prices = {}
        for path in price_files:
            if path.parent.name.removeprefix("date=") <= day:
                with path.open() as f:
                    prices |= {row["product_id"]: float(row["unit_price"]) for row in csv.DictReader(f)}
        return prices

    by_day = {day: prices_on(day) for day in manifest["days"]}
    late_with_a_changed_price = 0
    for day in manifest["days"]:
        for path in (tmp_path / f"orders/date={day}").glob("*.jsonl"):
            for line in path.read_text().splitlines():
                try:
                    order = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if order["order_ts"] is None:
                    continue
                ordered = order["order_ts"][:10]
                for item in order["items"]:
                    assert item["unit_price"] == by_day[ordered][item["product_id"]], (day, order)
                    if ordered < day and by_day[ordered][item["product_id"]] != by_day[day][item["product_id"]]:
                        late_with_a_changed_price += 1
    assert late_with_a_changed_price  # the run has late orders whose prices changed since


def test_redelivered_copies_are_not_held_in_memory(tmp_path):
    """Eight times the orders (a tenth of them re-delivered) need no more Python memory."""

    def peak(orders: int) -> int:
        tracemalloc.start()
        try:
            _generate(tmp_path / str(orders), customers=10, products=12, orders=orders, days=2, dirt_rate=0.1)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(600), peak(4800)
    assert large - small < 30_000, (small, large)  # holding ~240 copies would take ~90 kB


@pytest.mark.parametrize("orders, days", [(9, 2), (20, 5), (24, 3), (30, 6), (12, 12), (40, 2)])
def test_a_tiny_run_holds_every_kind_of_dirt(tmp_path, orders, days):
    manifest = _generate(tmp_path, customers=10, products=3, orders=orders, days=days)
    found = _dirt_in_files(tmp_path, manifest)
    assert {kind: found[kind] for kind in ORDER_DIRT} == manifest["orders"]["dirt"]
    assert all(manifest["orders"]["dirt"][kind] >= 1 for kind in ORDER_DIRT), manifest["orders"]["dirt"]
    assert _generate(tmp_path / "again", customers=10, products=3, orders=orders, days=days) == manifest


@pytest.mark.parametrize("orders, days", [(5, 1), (8, 2), (3, 5)])
def test_a_run_too_small_for_every_kind_counts_what_it_holds(tmp_path, orders, days):
    manifest = _generate(tmp_path, customers=10, products=3, orders=orders, days=days)
    found = _dirt_in_files(tmp_path, manifest)
    assert {kind: found[kind] for kind in ORDER_DIRT} == manifest["orders"]["dirt"]
    assert sum(manifest["orders"]["dirt"].values()) == min(orders, 9 if days > 1 else 7)


def test_customers_change_over_time(tmp_path):
    _generate(tmp_path, days=4)
    versions = {}
    for path in sorted((tmp_path / "customers").rglob("*.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                if row["customer_id"] and row["email"] and not row["customer_id"].startswith("C8"):
                    versions.setdefault(row["customer_id"], []).append(row)
    changed = {cid: rows for cid, rows in versions.items() if len({r["updated_at"] for r in rows}) > 1}
    assert changed
    for rows in changed.values():
        times = [r["updated_at"] for r in rows]
        assert times == sorted(times)
        assert len({(r["email"], r["address"], r["city"]) for r in rows}) > 1


@pytest.mark.slow  # a subprocess
def test_cli_prints_a_json_summary(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "datagen", "--root", str(tmp_path), "--orders", "100", "--days", "2", "--customers", "20"],
        capture_output=True, text=True, check=True,
    )
    summary = json.loads(done.stdout)
    assert summary["orders"] == 100 and summary["days"] == 2


@pytest.mark.slow  # 200k orders in a subprocess
def test_memory_stays_flat_for_large_runs(tmp_path):
    """200k orders in a subprocess: peak RSS stays far below what holding them would take."""
    code = (
        "from datagen import GeneratorConfig, generate_landing_zone;"
        f"generate_landing_zone(GeneratorConfig(root={str(tmp_path)!r}, orders=200000, days=2, customers=5000));"
        # VmHWM is this program's peak; ru_maxrss would include the forking pytest's
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(done.stdout.strip()) < 150_000  # KiB

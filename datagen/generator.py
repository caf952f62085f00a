"""A seeded landing zone with the dirt real feeds have, written as a stream.

Only the customers' latest versions and the prices of the last few days are held in memory
(O(customers + products)); orders are generated and written one at a time, and the copies
re-delivered on the next day wait in an anonymous temporary file, so the order count is
bounded by disk, not memory. The same config always gives byte-identical files.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from random import Random
from typing import IO, Optional

from datagen.config import GeneratorConfig

log = logging.getLogger(__name__)

CATEGORIES = ["books", "electronics", "home", "garden", "toys", "grocery", "sports", "beauty"]
CITIES = ["Oslo", "Bergen", "Lisbon", "Porto", "Lyon", "Turin", "Leeds", "Ghent", "Graz", "Malmo"]
STREETS = ["Elm Street", "Oak Avenue", "Harbour Road", "Mill Lane", "King's Way", "Station Road"]
FIRST = ["Ann", "Bo", "Chen", "Dara", "Eli", "Femi", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Luis"]
LAST = ["Berg", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen", "Khan"]
CHANNELS = ["web", "app", "store"]
CUSTOMER_HEADER = ["customer_id", "name", "email", "address", "city", "signup_date", "updated_at"]
PRODUCT_HEADER = ["product_id", "name", "category", "unit_price"]

# Dirt an order can carry, one kind per order (the duplicate kinds copy a clean order).
ORDER_DIRT = [
    "duplicate_in_file",
    "duplicate_redelivered",
    "late_arriving",
    "malformed_line",
    "null_customer_id",
    "null_order_ts",
    "unknown_customer",
    "negative_quantity",
    "empty_items",
]
# The order in which the first orders of a run are given each kind, so that every kind lands
# at least once when the run has room for them (see ``_forced_dirt``).
FORCED_DIRT = [
    "malformed_line", "null_customer_id", "null_order_ts", "unknown_customer", "negative_quantity",
    "empty_items", "duplicate_in_file", "duplicate_redelivered", "late_arriving",
]
# How many days before its landing day a late order can have been placed.
MAX_LATENESS = 3


def _forced_dirt(counts: list[int]) -> dict[int, str]:
    """Order number -> the dirt kind it is given, so that each kind lands at least once.

    ``counts`` are the orders per landing day. The first orders take the kinds in
    ``FORCED_DIRT`` order, skipping a kind their day cannot hold (a late order needs an earlier
    day, a re-delivery a later one); the last order before the final day takes the re-delivery
    if it is still due. Every kind is placed when the run has at least nine orders and two
    days; a smaller run lacks some kinds, and the manifest counts them as 0.
    """
    days = len(counts)
    pending = [k for k in FORCED_DIRT if days > 1 or k not in ("late_arriving", "duplicate_redelivered")]
    last_before_final_day = sum(counts[:-1])
    plan: dict[int, str] = {}
    number = 0
    for index, count in enumerate(counts):
        for _ in range(count):
            number += 1
            if not pending:
                return plan
            if number == last_before_final_day and "duplicate_redelivered" in pending:
                kind: Optional[str] = "duplicate_redelivered"
            else:
                kind = next((k for k in pending if not (
                    (k == "late_arriving" and index == 0)
                    or (k == "duplicate_redelivered" and index == days - 1))), None)
            if kind:
                pending.remove(kind)
                plan[number] = kind
    return plan


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Customer:
    customer_id: str
    name: str
    email: str
    address: str
    city: str
    signup_date: date
    updated_at: datetime

    def row(self) -> list[str]:
        return [self.customer_id, self.name, self.email, self.address, self.city,
                self.signup_date.isoformat(), _ts(self.updated_at)]


class _CsvFile:
    """A CSV file being written, counting its data rows."""

    def __init__(self, path: Path, header: list[str]):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = path.open("w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.writer.writerow(header)
        self.rows = 0

    def write(self, row: list[str]) -> None:
        self.writer.writerow(row)
        self.rows += 1

    def write_raw(self, line: str) -> None:
        self.handle.write(line + "\n")
        self.rows += 1

    def close(self) -> None:
        self.handle.close()


class _OrderFiles:
    """The JSON-lines part files of one landing day, rolled over every ``per_file`` lines."""

    def __init__(self, folder: Path, day: date, per_file: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.day, self.per_file = folder, day, per_file
        self.part, self.lines_in_part, self.lines = 0, 0, 0
        self.handle = self._open()

    def _open(self):
        return (self.folder / f"orders_{self.day.isoformat()}_part{self.part:04d}.jsonl").open("w", encoding="utf-8")

    def write(self, *lines: str) -> None:
        """Write ``lines`` into one part file (an order and its in-file copy are never split).

        A new part starts when they do not fit into the current one; a group longer than
        ``per_file`` (only with ``per_file`` 1) gets a part of its own.
        """
        if self.lines_in_part and self.lines_in_part + len(lines) > self.per_file:
            self.handle.close()
            self.part += 1
            self.lines_in_part = 0
            self.handle = self._open()
        for line in lines:
            self.handle.write(line + "\n")
        self.lines_in_part += len(lines)
        self.lines += len(lines)

    def close(self) -> None:
        self.handle.close()


class LandingZoneGenerator:
    def __init__(self, config: GeneratorConfig):
        self.config = config
        self.rng = Random(config.seed)
        self.root = Path(config.root)
        self.customers: list[Customer] = []
        self.active_by_day: list[int] = []  # customers signed up by the end of each day
        self.prices: list[float] = []  # the current price of each product
        # Prices in effect on each of the last days, so a late order is priced at its order
        # day (unchanged days share one list).
        self.prices_by_day: dict[int, list[float]] = {}
        self.forced_dirt: dict[int, str] = {}
        self.manifest = {
            "config": {k: v for k, v in config.as_dict().items() if k != "root"},  # same bytes wherever written
            "days": [config.day(i).isoformat() for i in range(config.days)],
            "orders": {
                "distinct_orders": 0,
                "lines_written": 0,
                "order_lines_by_landing_date": {},
                "json_lines_by_landing_date": {},
                "dirt": {kind: 0 for kind in ORDER_DIRT},
                "dirt_order_ids": {kind: [] for kind in ORDER_DIRT},
                "late_by_landing_date": {},
            },
            "customers": {
                "rows_by_landing_date": {},
                "distinct_customers": 0,
                "changes": 0,
                "dirt": {"customers_null_email": 0, "customers_null_id": 0,
                         "customers_malformed_line": 0, "customers_duplicate_row": 0},
            },
            "products": {
                "rows_by_landing_date": {},
                "dirt": {"products_negative_price": 0, "products_null_category": 0},
            },
        }

    # -- customers -------------------------------------------------------------
    def _new_customer(self, number: int, signup: date) -> Customer:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        moment = datetime.combine(signup, time(self.rng.randrange(7, 22), self.rng.randrange(60), self.rng.randrange(60)))
        return Customer(
            customer_id=f"C{number:07d}",
            name=f"{first} {last}",
            email=f"{first.lower()}.{last.lower()}{number}@example.com",
            address=self._address(),
            city=self.rng.choice(CITIES),
            signup_date=signup,
            updated_at=moment,
        )

    def _address(self) -> str:
        street = f"{self.rng.randrange(1, 200)} {self.rng.choice(STREETS)}"
        return f"{street}, Apt {self.rng.randrange(1, 40)}" if self.rng.random() < 0.4 else street

    def _write_customers(self, index: int) -> None:
        cfg, day = self.config, self.config.day(index)
        out = _CsvFile(self.root / "customers" / f"date={day}" / f"customers_{day}.csv", CUSTOMER_HEADER)
        dirt = self.manifest["customers"]["dirt"]
        initial = cfg.customers - cfg.customers // 10
        if index == 0:
            for number in range(1, initial + 1):
                signup = cfg.start - timedelta(days=self.rng.randrange(1, 366))
                self.customers.append(self._new_customer(number, signup))
            for customer in self.customers:
                out.write(customer.row())
        else:
            late_signups = cfg.customers - initial
            later_days = cfg.days - 1
            first = initial + late_signups * (index - 1) // later_days + 1
            last = initial + late_signups * index // later_days
            changes = max(1, len(self.customers) // 50)
            for customer in self.rng.sample(self.customers, min(changes, len(self.customers))):
                if self.rng.random() < 0.5:
                    customer.address, customer.city = self._address(), self.rng.choice(CITIES)
                else:
                    customer.email = f"{customer.customer_id.lower()}.{index}@mail.example.org"
                customer.updated_at = datetime.combine(day, time(self.rng.randrange(0, 7), self.rng.randrange(60)))
                out.write(customer.row())
                self.manifest["customers"]["changes"] += 1
            for number in range(first, last + 1):
                customer = self._new_customer(number, day)
                self.customers.append(customer)
                out.write(customer.row())
        if index in (0, cfg.days - 1):
            # Dirty rows use ids no order references, so they never make clean orders dirty.
            ghost = self._new_customer(8_000_000 + index * 10, day)
            out.write([ghost.customer_id, ghost.name, "", ghost.address, ghost.city,
                       ghost.signup_date.isoformat(), _ts(ghost.updated_at)])
            dirt["customers_null_email"] += 1
            out.write(["", ghost.name, ghost.email, ghost.address, ghost.city,
                       ghost.signup_date.isoformat(), _ts(ghost.updated_at)])
            dirt["customers_null_id"] += 1
            out.write(self.customers[-1].row())  # exact duplicate of the row written last for it
            dirt["customers_duplicate_row"] += 1
            out.write_raw(f'C{8_000_001 + index * 10:07d},"Unclosed quote,broken@example.com')
            dirt["customers_malformed_line"] += 1
        out.close()
        self.manifest["customers"]["rows_by_landing_date"][day.isoformat()] = out.rows
        self.active_by_day.append(len(self.customers))

    # -- products --------------------------------------------------------------
    def _write_products(self, index: int) -> None:
        cfg, day = self.config, self.config.day(index)
        if index == 0:
            self.prices = [round(self.rng.uniform(1, 500), 2) for _ in range(cfg.products)]
            rows = [[f"P{n + 1:05d}", f"Product {n + 1}", CATEGORIES[n % len(CATEGORIES)], f"{self.prices[n]:.2f}"]
                    for n in range(cfg.products)]
            rows.append(["P90001", "Broken price", "home", "-4.99"])
            rows.append(["P90002", "No category", "", "12.00"])
            self.manifest["products"]["dirt"] = {"products_negative_price": 1, "products_null_category": 1}
        elif index % 3 == 0:
            rows = []
            self.prices = list(self.prices)  # earlier days keep theirs
            for n in sorted(self.rng.sample(range(cfg.products), max(1, cfg.products // 20))):
                self.prices[n] = round(self.prices[n] * self.rng.uniform(0.8, 1.2), 2) or 1.0
                rows.append([f"P{n + 1:05d}", f"Product {n + 1}", CATEGORIES[n % len(CATEGORIES)], f"{self.prices[n]:.2f}"])
        else:
            rows = []
        self.prices_by_day[index] = self.prices
        self.prices_by_day.pop(index - MAX_LATENESS - 1, None)
        if not rows:
            return
        out = _CsvFile(self.root / "products" / f"date={day}" / f"products_{day}.csv", PRODUCT_HEADER)
        for row in rows:
            out.write(row)
        out.close()
        self.manifest["products"]["rows_by_landing_date"][day.isoformat()] = out.rows

    # -- orders ----------------------------------------------------------------
    def _order(self, order_number: int, order_day: int) -> dict:
        """An order placed on ``order_day``, with the customers and prices of that day."""
        customer = self.customers[self.rng.randrange(self.active_by_day[order_day])]
        moment = datetime.combine(self.config.day(order_day), time(self.rng.randrange(24), self.rng.randrange(60), self.rng.randrange(60)))
        prices = self.prices_by_day[order_day]
        count = self.rng.randint(1, 5)
        products = self.rng.sample(range(len(prices)), min(count, len(prices)))
        return {
            "order_id": f"O{order_number:09d}",
            "customer_id": customer.customer_id,
            "order_ts": _ts(moment),
            "channel": self.rng.choice(CHANNELS),
            "currency": "EUR",
            "items": [
                {"line_no": i + 1, "product_id": f"P{p + 1:05d}", "quantity": self.rng.randint(1, 5),
                 "unit_price": prices[p]}
                for i, p in enumerate(products)
            ],
        }

    def _dirt_for(self, index: int, number: int) -> Optional[str]:
        if number in self.forced_dirt:
            return self.forced_dirt[number]
        if self.rng.random() >= self.config.dirt_rate * len(ORDER_DIRT):
            return None
        kind = self.rng.choice(ORDER_DIRT)
        if kind == "late_arriving" and index == 0:
            return None
        if kind == "duplicate_redelivered" and index == self.config.days - 1:
            return None
        return kind

    def _write_orders(self, index: int, first_number: int, count: int, redelivered: Optional[IO[str]]) -> IO[str]:
        """Write the day's orders after ``redelivered`` (yesterday's copies, a file that is closed
        here); return the file holding the copies to re-deliver tomorrow."""
        cfg, day = self.config, self.config.day(index)
        stats = self.manifest["orders"]
        files = _OrderFiles(self.root / "orders" / f"date={day}", day, cfg.orders_per_file)
        order_lines = 0
        late = 0
        # On disk, not in a list: the copies of a large run must not grow the memory.
        next_redelivered = tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.root)

        def emit(lines: list[str], parseable_items: Optional[int]) -> None:
            nonlocal order_lines
            files.write(*lines)
            if parseable_items is not None:
                order_lines += max(1, parseable_items) * len(lines)

        if redelivered is not None:
            redelivered.seek(0)
            for line in redelivered:
                line = line.rstrip("\n")
                emit([line], len(json.loads(line)["items"]))
            redelivered.close()
        for position in range(count):
            number = first_number + position
            kind = self._dirt_for(index, number)
            order_day = index
            if kind == "late_arriving":
                order_day = index - self.rng.randint(1, min(MAX_LATENESS, index))
                late += 1
            order = self._order(number, order_day)
            if kind == "null_customer_id":
                order["customer_id"] = None
            elif kind == "null_order_ts":
                order["order_ts"] = None
            elif kind == "unknown_customer":
                order["customer_id"] = f"C9{self.rng.randrange(1_000_000):06d}"
            elif kind == "negative_quantity":
                order["items"][self.rng.randrange(len(order["items"]))]["quantity"] = -self.rng.randint(1, 3)
            elif kind == "empty_items":
                order["items"] = []
            line = json.dumps(order)
            if kind == "malformed_line":
                emit([line[: len(line) // 2]], None)
            elif kind == "duplicate_in_file":
                emit([line, line], len(order["items"]))  # both copies in one part file
            else:
                emit([line], len(order["items"]))
            if kind == "duplicate_redelivered":
                next_redelivered.write(line + "\n")
            if kind:
                stats["dirt"][kind] += 1
                if len(stats["dirt_order_ids"][kind]) < 20:
                    stats["dirt_order_ids"][kind].append(order["order_id"])
        files.close()
        key = day.isoformat()
        stats["json_lines_by_landing_date"][key] = files.lines
        stats["order_lines_by_landing_date"][key] = order_lines
        stats["late_by_landing_date"][key] = late
        stats["lines_written"] += files.lines
        stats["distinct_orders"] += count
        return next_redelivered

    # -- the run ---------------------------------------------------------------
    def run(self) -> dict:
        cfg = self.config
        for sub in ("customers", "products", "orders"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        (self.root / "_manifest.json").unlink(missing_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        counts = [cfg.orders // cfg.days + (1 if index < cfg.orders % cfg.days else 0) for index in range(cfg.days)]
        # The first orders carry each kind of dirt, so even a tiny run has all of them.
        self.forced_dirt = _forced_dirt(counts)
        redelivered: Optional[IO[str]] = None
        number = 1
        for index, count in enumerate(counts):
            self._write_customers(index)
            self._write_products(index)
            redelivered = self._write_orders(index, number, count, redelivered)
            number += count
            log.info("landed %s: %d orders", cfg.day(index), count)
        redelivered.close()  # empty: nothing is re-delivered from the last day
        self.manifest["customers"]["distinct_customers"] = len(self.customers)
        (self.root / "_manifest.json").write_text(json.dumps(self.manifest, indent=2, sort_keys=True))
        return self.manifest


def generate_landing_zone(config: GeneratorConfig) -> dict:
    """Write the landing zone for ``config`` and return its manifest."""
    return LandingZoneGenerator(config).run()

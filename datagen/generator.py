"""A seeded landing zone with the dirt real feeds have, written as a stream.

Only the customers' and products' latest versions are held in memory (O(customers +
products)); orders are generated and written one at a time, so the order count is
bounded by disk, not memory. The same config always gives byte-identical files.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from random import Random
from typing import Optional

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

    def write(self, line: str) -> None:
        if self.lines_in_part == self.per_file:
            self.handle.close()
            self.part += 1
            self.lines_in_part = 0
            self.handle = self._open()
        self.handle.write(line + "\n")
        self.lines_in_part += 1
        self.lines += 1

    def close(self) -> None:
        self.handle.close()


class LandingZoneGenerator:
    def __init__(self, config: GeneratorConfig):
        self.config = config
        self.rng = Random(config.seed)
        self.root = Path(config.root)
        self.customers: list[Customer] = []
        self.active_by_day: list[int] = []  # customers signed up by the end of each day
        self.prices: list[float] = []
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
            for n in sorted(self.rng.sample(range(cfg.products), max(1, cfg.products // 20))):
                self.prices[n] = round(self.prices[n] * self.rng.uniform(0.8, 1.2), 2) or 1.0
                rows.append([f"P{n + 1:05d}", f"Product {n + 1}", CATEGORIES[n % len(CATEGORIES)], f"{self.prices[n]:.2f}"])
        else:
            return
        out = _CsvFile(self.root / "products" / f"date={day}" / f"products_{day}.csv", PRODUCT_HEADER)
        for row in rows:
            out.write(row)
        out.close()
        self.manifest["products"]["rows_by_landing_date"][day.isoformat()] = out.rows

    # -- orders ----------------------------------------------------------------
    def _order(self, order_number: int, order_day: int, landing_day: date) -> dict:
        customer = self.customers[self.rng.randrange(self.active_by_day[order_day])]
        moment = datetime.combine(self.config.day(order_day), time(self.rng.randrange(24), self.rng.randrange(60), self.rng.randrange(60)))
        count = self.rng.randint(1, 5)
        products = self.rng.sample(range(len(self.prices)), min(count, len(self.prices)))
        return {
            "order_id": f"O{order_number:09d}",
            "customer_id": customer.customer_id,
            "order_ts": _ts(moment),
            "channel": self.rng.choice(CHANNELS),
            "currency": "EUR",
            "items": [
                {"line_no": i + 1, "product_id": f"P{p + 1:05d}", "quantity": self.rng.randint(1, 5),
                 "unit_price": self.prices[p]}
                for i, p in enumerate(products)
            ],
        }

    def _dirt_for(self, index: int, position: int, forced: list[str]) -> Optional[str]:
        if forced:
            return forced.pop(0)
        if self.rng.random() >= self.config.dirt_rate * len(ORDER_DIRT):
            return None
        kind = self.rng.choice(ORDER_DIRT)
        if kind == "late_arriving" and index == 0:
            return None
        if kind == "duplicate_redelivered" and index == self.config.days - 1:
            return None
        return kind

    def _write_orders(self, index: int, first_number: int, count: int, redelivered: list[str], forced: list[str]) -> list[str]:
        cfg, day = self.config, self.config.day(index)
        stats = self.manifest["orders"]
        files = _OrderFiles(self.root / "orders" / f"date={day}", day, cfg.orders_per_file)
        order_lines = 0
        late = 0
        next_redelivered: list[str] = []

        def emit(line: str, parseable_items: Optional[int]) -> None:
            nonlocal order_lines
            files.write(line)
            if parseable_items is not None:
                order_lines += max(1, parseable_items)

        for line in redelivered:
            emit(line, len(json.loads(line)["items"]))
        for position in range(count):
            number = first_number + position
            kind = self._dirt_for(index, position, forced)
            order_day = index
            if kind == "late_arriving":
                order_day = index - self.rng.randint(1, min(3, index))
                late += 1
            order = self._order(number, order_day, day)
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
                emit(line[: len(line) // 2], None)
            else:
                emit(line, len(order["items"]))
            if kind == "duplicate_in_file":
                emit(line, len(order["items"]))
            elif kind == "duplicate_redelivered":
                next_redelivered.append(line)
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
        # The first orders carry each kind of dirt, so even a tiny run has all of them.
        forced_day0 = ["malformed_line", "null_customer_id", "null_order_ts", "unknown_customer",
                       "negative_quantity", "empty_items", "duplicate_in_file"]
        if cfg.days > 1:
            forced_day0.append("duplicate_redelivered")
        redelivered: list[str] = []
        number = 1
        for index in range(cfg.days):
            self._write_customers(index)
            self._write_products(index)
            count = cfg.orders // cfg.days + (1 if index < cfg.orders % cfg.days else 0)
            forced = forced_day0 if index == 0 else (["late_arriving"] if index == 1 else [])
            redelivered = self._write_orders(index, number, count, redelivered, forced[:count])
            number += count
            log.info("landed %s: %d orders", cfg.day(index), count)
        self.manifest["customers"]["distinct_customers"] = len(self.customers)
        (self.root / "_manifest.json").write_text(json.dumps(self.manifest, indent=2, sort_keys=True))
        return self.manifest


def generate_landing_zone(config: GeneratorConfig) -> dict:
    """Write the landing zone for ``config`` and return its manifest."""
    return LandingZoneGenerator(config).run()

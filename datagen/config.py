"""Generator settings: sizes, dates, seed and how dirty the feed is."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta


def default_root() -> str:
    base = os.environ.get("LAKEHOUSE_ROOT") or os.path.join(".", ".lakehouse")
    return os.path.join(base, "landing")


@dataclass(frozen=True)
class GeneratorConfig:
    root: str = field(default_factory=default_root)
    customers: int = 1000
    products: int = 100
    orders: int = 10000
    days: int = 5
    start_date: str = "2026-01-01"
    seed: int = 42
    orders_per_file: int = 500_000
    # Probability that an order carries each kind of dirt (there are nine kinds).
    dirt_rate: float = 0.005

    def __post_init__(self) -> None:
        for name in ("customers", "products", "orders", "days", "orders_per_file"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.customers < 10:
            raise ValueError("--customers must be at least 10 (a tenth of them sign up during the run)")
        if not 0 <= self.dirt_rate <= 0.1:
            raise ValueError(f"--dirt-rate must be between 0 and 0.1, got {self.dirt_rate}")
        date.fromisoformat(self.start_date)

    @property
    def start(self) -> date:
        return date.fromisoformat(self.start_date)

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def as_dict(self) -> dict:
        return asdict(self)

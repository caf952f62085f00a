"""Where the lakehouse lives, read once from the environment.

``LAKEHOUSE_ENV`` picks the environment (default ``local``); ``LAKEHOUSE_ROOT`` is
the directory (or object-store URI) holding the landing zone, the Delta tables
and, locally, DAGSTER_HOME. Nothing here is secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_START_DATE = "2026-01-01"


@dataclass(frozen=True)
class LakehouseSettings:
    env: str
    root: str
    start_date: str

    @property
    def landing_root(self) -> str:
        return os.environ.get("LAKEHOUSE_LANDING_ROOT", f"{self.root}/landing")

    @property
    def table_root(self) -> str:
        return os.environ.get("LAKEHOUSE_TABLE_ROOT", f"{self.root}/tables")

    @property
    def reports_root(self) -> str:
        return f"{self.root}/reports"

    @classmethod
    def from_env(cls) -> "LakehouseSettings":
        root = os.environ.get("LAKEHOUSE_ROOT") or str(REPO_ROOT / ".lakehouse")
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        return cls(
            env=os.environ.get("LAKEHOUSE_ENV", "local"),
            root=root.rstrip("/"),
            start_date=os.environ.get("LAKEHOUSE_START_DATE", DEFAULT_START_DATE),
        )

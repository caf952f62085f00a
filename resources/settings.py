"""Where the lakehouse lives, read once from the environment.

``LAKEHOUSE_ENV`` picks the environment (default ``local``); ``LAKEHOUSE_ROOT`` is
the directory (or object-store URI) holding the landing zone, the Delta tables
and, locally, DAGSTER_HOME. Nothing here is secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_START_DATE = "2026-01-01"


@dataclass(frozen=True)
class LakehouseSettings:
    env: str
    root: str
    start_date: str
    end_date: Optional[str] = None  # last daily partition; none: partitions run up to today
    max_file_bytes: int = 2 * 1024**3  # larger landed files are quarantined
    sensor_interval_seconds: int = 30  # how often the landing and automation sensors evaluate
    settle_seconds: int = 60  # a landed file this old (or unchanged across two ticks) is complete
    automation_running: bool = False  # sensors start running without a click in the UI
    lineage: str = "file"  # where OpenLineage events go: file | http | off (LAKEHOUSE_LINEAGE)
    lineage_namespace: str = "lakehouse"
    lineage_timeout_seconds: float = 5.0  # longest a run waits for the lineage backend per event

    @property
    def landing_root(self) -> str:
        return os.environ.get("LAKEHOUSE_LANDING_ROOT", f"{self.root}/landing")

    @property
    def table_root(self) -> str:
        return os.environ.get("LAKEHOUSE_TABLE_ROOT", f"{self.root}/tables")

    @property
    def reports_root(self) -> str:
        return f"{self.root}/reports"

    @property
    def lineage_file(self) -> str:
        return os.environ.get("LAKEHOUSE_LINEAGE_FILE", f"{self.root}/lineage/events.jsonl")

    @classmethod
    def from_env(cls) -> "LakehouseSettings":
        root = os.environ.get("LAKEHOUSE_ROOT") or str(REPO_ROOT / ".lakehouse")
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        return cls(
            env=os.environ.get("LAKEHOUSE_ENV", "local"),
            root=root.rstrip("/"),
            start_date=os.environ.get("LAKEHOUSE_START_DATE", DEFAULT_START_DATE),
            end_date=os.environ.get("LAKEHOUSE_END_DATE") or None,
            max_file_bytes=_int("LAKEHOUSE_MAX_FILE_BYTES", 2 * 1024**3),
            sensor_interval_seconds=_int("LAKEHOUSE_SENSOR_INTERVAL_SECONDS", 30),
            settle_seconds=_int("LAKEHOUSE_SETTLE_SECONDS", 60),
            automation_running=os.environ.get("LAKEHOUSE_AUTOMATION", "off").lower() in ("on", "1", "true"),
            lineage=_choice("LAKEHOUSE_LINEAGE", ("file", "http", "off"), "file"),
            lineage_namespace=os.environ.get("LAKEHOUSE_LINEAGE_NAMESPACE", "lakehouse"),
            lineage_timeout_seconds=float(os.environ.get("LAKEHOUSE_LINEAGE_TIMEOUT_SECONDS") or 5.0),
        )


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = (os.environ.get(name) or default).lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None

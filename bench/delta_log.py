"""What runs wrote to Delta tables, read from the tables' transaction logs.

A commit is the JSON file ``_delta_log/<version>.json``: one action per line. Its ``add`` actions
are the data files it wrote (``size`` in bytes, ``partitionValues``), its ``remove`` actions the
files it took out of the table (they stay on disk until VACUUM), and its ``commitInfo`` the
operation and Delta's ``operationMetrics`` (for a MERGE, ``numTargetRowsCopied``: unchanged rows
rewritten because they shared a file with a changed one).

``versions(root)`` before a run and ``changes(root, before)`` after it give, per table, what that
run's commits wrote; ``live_size`` is what the latest version references (delta-rs add actions)
and ``disk_size`` what the table's directory holds (data files the log no longer references
included, until VACUUM deletes them).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

LOG = "_delta_log"
# Columns that partition tables by day: an add action in the partition of day D is D's own data.
DAY_COLUMNS = ("_landed_date", "as_of_date", "order_date")


@dataclass
class Commit:
    version: int
    operation: str = ""
    bytes_added: int = 0
    files_added: int = 0
    files_removed: int = 0
    bytes_removed: int = 0
    rows_copied: int = 0  # MERGE: operationMetrics.numTargetRowsCopied
    adds: list[tuple[dict, int]] = field(default_factory=list)  # (partitionValues, size) per add action

    def own_bytes(self, day: str) -> int:
        """Bytes of the adds in ``day``'s partition (a table partitioned by one of DAY_COLUMNS)."""
        return sum(size for values, size in self.adds
                   if any(values.get(c) == day for c in DAY_COLUMNS))


def read_commit(table: Path, version: int) -> Commit:
    commit = Commit(version)
    with (table / LOG / f"{version:020d}.json").open() as handle:
        for line in handle:
            if not line.strip():
                continue
            action = json.loads(line)
            if "add" in action:
                add = action["add"]
                size = int(add.get("size") or 0)
                commit.files_added += 1
                commit.bytes_added += size
                commit.adds.append((add.get("partitionValues") or {}, size))
            elif "remove" in action:
                commit.files_removed += 1
                commit.bytes_removed += int(action["remove"].get("size") or 0)
            elif "commitInfo" in action:
                info = action["commitInfo"]
                commit.operation = str(info.get("operation", ""))
                if commit.operation == "MERGE":
                    commit.rows_copied = int((info.get("operationMetrics") or {}).get("numTargetRowsCopied") or 0)
    return commit


def latest_version(table: Path) -> int:
    """The table's latest version from its log's file names; -1 when there is no table yet."""
    versions = [int(p.name[:20]) for p in (table / LOG).glob("*.json") if p.name[:20].isdigit()]
    return max(versions, default=-1)


def tables(root: Path) -> list[str]:
    """The Delta tables under ``root``, as paths relative to it (``silver/orders``)."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        if LOG in dirnames:
            found.append(Path(dirpath).relative_to(root).as_posix())
            dirnames.clear()  # a table holds no tables
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
    return sorted(found)


def versions(root: Path) -> dict[str, int]:
    return {t: latest_version(root / t) for t in tables(root)}


def commits(table: Path, after: int, upto: Optional[int] = None) -> list[Commit]:
    """The commits of versions ``after + 1 .. upto`` (default: the latest)."""
    upto = latest_version(table) if upto is None else upto
    return [read_commit(table, v) for v in range(after + 1, upto + 1)
            if (table / LOG / f"{v:020d}.json").exists()]


@dataclass
class TableChange:
    table: str
    commits: int = 0
    bytes_written: int = 0
    files_written: int = 0
    files_removed: int = 0
    rows_copied: int = 0
    own_bytes: int = 0
    operations: str = ""

    def add(self, commit: Commit, day: Optional[str]) -> None:
        self.commits += 1
        self.bytes_written += commit.bytes_added
        self.files_written += commit.files_added
        self.files_removed += commit.files_removed
        self.rows_copied += commit.rows_copied
        if day:
            self.own_bytes += commit.own_bytes(day)
        ops = self.operations.split(",") if self.operations else []
        if commit.operation and commit.operation not in ops:
            self.operations = ",".join([*ops, commit.operation])


def changes(root: Path, before: dict[str, int], day: Optional[str] = None) -> dict[str, TableChange]:
    """Per table, what the commits after ``before`` (a ``versions(root)``) wrote; ``day`` (ISO)
    counts the adds in that day's partitions as its own bytes."""
    out = {}
    for table in tables(root):
        change = TableChange(table)
        for commit in commits(root / table, before.get(table, -1)):
            change.add(commit, day)
        out[table] = change
    return out


def total(changes_: Iterable[TableChange]) -> TableChange:
    whole = TableChange("total")
    for c in changes_:
        whole.commits += c.commits
        whole.bytes_written += c.bytes_written
        whole.files_written += c.files_written
        whole.files_removed += c.files_removed
        whole.rows_copied += c.rows_copied
        whole.own_bytes += c.own_bytes
    return whole


def live_size(table: Path) -> tuple[int, int]:
    """(files, bytes) the table's latest version references, from delta-rs's add actions."""
    import pyarrow
    from deltalake import DeltaTable

    actions = pyarrow.table(DeltaTable(str(table)).get_add_actions(flatten=True))
    return actions.num_rows, int(sum(actions.column("size_bytes").to_pylist()))


def disk_size(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path``, transaction log included: what a directory walk sees."""
    files = size = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                size += (Path(dirpath) / name).stat().st_size
                files += 1
            except OSError:
                pass
    return files, size


@dataclass
class Storage:
    live_files: int = 0
    live_bytes: int = 0
    disk_files: int = 0
    disk_bytes: int = 0


def storage(root: Path) -> dict[str, Storage]:
    """Live and on-disk size of every table under ``root``."""
    out = {}
    for table in tables(root):
        live_files, live_bytes = live_size(root / table)
        disk_files, disk_bytes = disk_size(root / table)
        out[table] = Storage(live_files, live_bytes, disk_files, disk_bytes)
    return out


def storage_total(sizes: dict[str, Storage]) -> Storage:
    whole = Storage()
    for s in sizes.values():
        whole.live_files += s.live_files
        whole.live_bytes += s.live_bytes
        whole.disk_files += s.disk_files
        whole.disk_bytes += s.disk_bytes
    return whole

"""The landing schema history: per landed file, every field it sent and the field's JSON type.

A small schema registry beside the ingestion log (``_system/landing_schemas``, a Delta table
partitioned by source): one row per (file, field path, JSON type) of every file bronze read, the
quarantined ones included (a feed that re-types a field in every line is quarantined whole, and
that is the drift most worth seeing), with how many lines sent it,
the file's schema fingerprint, the file version (size, modification time) and the run that first
saw that field with that type in the source. Bronze writes it after its own commit and before the
ingestion log, replacing the rows of exactly the files it ingested (one atomic ``replaceWhere``),
so re-ingesting a file, a replayed run or a retry after a crash leaves one set of rows per file.
Readers (the drift check, its audit) use delta-rs: the table is small and needs no JVM.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable, Mapping, Optional, Sequence

from deltalake.exceptions import TableNotFoundError

from resources.delta import DeltaCommit, DeltaLakeResource
from resources.landing import LandedFile

SCHEMA_TABLE = "_system/landing_schemas"
SCHEMA_DDL = (
    "source string, path string, landed_date date, size bigint, mtime_ns bigint, field string, json_type string, "
    "lines bigint, schema_fingerprint string, first_seen_run string, first_seen_at timestamp, run_id string, "
    "recorded_at timestamp"
)

# What a file sent: (field path, JSON type) -> lines that sent it.
FileFields = Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class ObservedField:
    """One row of the history."""

    source: str
    path: str
    landed_date: date
    size: int
    mtime_ns: int
    field: str
    json_type: str
    lines: int
    schema_fingerprint: str
    first_seen_run: str  # the run that first recorded this field with this type in the source
    first_seen_at: datetime
    run_id: str  # the run that recorded this file's version
    recorded_at: datetime


@dataclass(frozen=True)
class LandingSchemaHistory:
    """Reads (delta-rs) and records (Spark ``replaceWhere`` per file) the observed schemas."""

    delta: DeltaLakeResource

    def rows(self, source: str) -> list[ObservedField]:
        """Every recorded row of ``source`` (none before the table exists)."""
        try:
            table = self.delta.delta_rs_table(SCHEMA_TABLE)
        except TableNotFoundError:
            return []
        return [ObservedField(**row) for row in table.to_pyarrow_table(filters=[("source", "=", source)]).to_pylist()]

    def record(
        self, source: str, files: Sequence[LandedFile], observed: Mapping[str, FileFields], run_id: str,
        now: Optional[datetime] = None,
    ) -> Optional[DeltaCommit]:
        """Replace the rows of ``files`` with what ``observed`` says they sent, in one commit.

        Files without an observation (quarantined before anything was read) lose their rows: the
        history describes the current version of every file bronze read. A field keeps the run that first recorded it with its type, also
        when the file that showed it first is re-ingested.
        """
        if not files:
            return None
        now = now or datetime.now(timezone.utc)
        first_seen = _first_seen(self.rows(source))
        rows = [
            row
            for f in files if f.path in observed
            for row in _file_rows(source, f, observed[f.path], run_id, now, first_seen)
        ]
        df = self.delta.session.createDataFrame(rows, SCHEMA_DDL)
        days = _sql_list(sorted({f.landed_date.isoformat() for f in files}))
        predicate = (f"source = {_sql_list([source])} AND landed_date IN ({days}) "
                     f"AND path IN ({_sql_list([f.path for f in files])})")
        return self.delta.replace_where(df, SCHEMA_TABLE, predicate, partition_by=["source"])


def schema_fingerprint(fields: Iterable[tuple[str, str]]) -> str:
    """A short digest of a file's (field, type) set: files that sent the same schema share it,
    so a changed schema shows as a new fingerprint without comparing fields."""
    text = "\n".join(sorted(f"{name}\t{json_type}" for name, json_type in set(fields)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _first_seen(history: Sequence[ObservedField]) -> dict[tuple[str, str], tuple[str, datetime]]:
    """(field, type) -> the earliest (run, time) any recorded row says first saw it."""
    out: dict[tuple[str, str], tuple[str, datetime]] = {}
    for row in history:
        key, seen = (row.field, row.json_type), _utc(row.first_seen_at)
        if key not in out or seen < out[key][1]:
            out[key] = (row.first_seen_run, seen)
    return out


def _file_rows(source: str, f: LandedFile, fields: FileFields, run_id: str, now: datetime,
               first_seen: Mapping[tuple[str, str], tuple[str, datetime]]) -> list[tuple]:
    fingerprint = schema_fingerprint(fields)
    return [
        (source, f.path, f.landed_date, f.size, f.mtime_ns, name, json_type, int(lines), fingerprint,
         *first_seen.get((name, json_type), (run_id, now)), run_id, now)
        for (name, json_type), lines in sorted(fields.items())
    ]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)

"""The ingestion log: one row per landed file, the record both the sensor and bronze trust.

A row says which version of a file (size and modification time) was ingested or
quarantined, why, how many records it held, and which bronze table version holds
them. Bronze writes it (through Spark, after its own commit); the sensor reads it
with delta-rs (``DeltaLakeResource.delta_rs_table``), so a sensor tick never starts a JVM.

Exactly-once does not rest on this table alone: bronze replaces a file's rows by
``_source_file``, so ingesting a file whose log row was lost (a crash between the
bronze commit and the log commit) replaces its rows instead of adding them again.
"""


from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from typing import Iterable, Optional, Sequence

from dagster import ConfigurableResource, ResourceDependency
from deltalake.exceptions import TableNotFoundError

from resources.delta import DeltaCommit, DeltaLakeResource

LOG_TABLE = "_system/ingestion_log"
INGESTED = "ingested"
QUARANTINED = "quarantined"

LOG_SCHEMA = (
    "source string, path string, landed_date date, size bigint, mtime_ns bigint, modified_at timestamp, "
    "status string, reason string, lines bigint, rows_accepted bigint, rows_rejected bigint, "
    "table_version bigint, run_id string, ingested_at timestamp"
)


@dataclass(frozen=True)
class IngestionEntry:
    source: str
    path: str
    landed_date: date
    size: int
    mtime_ns: int
    modified_at: datetime
    status: str  # INGESTED or QUARANTINED
    reason: Optional[str]  # why a file was quarantined
    lines: Optional[int]  # non-blank lines in the file, header included; None if quarantined unread
    rows_accepted: int  # records in bronze
    rows_rejected: int  # lines in the source's reject table
    table_version: Optional[int]  # bronze table version holding the rows
    run_id: str
    ingested_at: datetime

    @property
    def fingerprint(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


class IngestionLogResource(ConfigurableResource):
    """Reads (delta-rs) and records (Spark MERGE by source and path) per-file ingestion state."""

    delta: ResourceDependency[DeltaLakeResource]

    def entries(self, source: Optional[str] = None) -> dict[tuple[str, str], IngestionEntry]:
        """The current log row of every file, keyed by ``(source, path)``."""
        try:
            table = self.delta.delta_rs_table(LOG_TABLE)
        except TableNotFoundError:
            return {}
        filters = [("source", "=", source)] if source else None
        rows = table.to_pyarrow_table(filters=filters).to_pylist()
        out = {}
        for row in rows:
            for column in ("modified_at", "ingested_at"):
                if row[column] is not None and row[column].tzinfo is None:
                    row[column] = row[column].replace(tzinfo=timezone.utc)
            entry = IngestionEntry(**row)
            out[(entry.source, entry.path)] = entry
        return out

    def record(self, entries: Sequence[IngestionEntry]) -> Optional[DeltaCommit]:
        """Upsert the files' rows in one commit (retried if another run committed meanwhile)."""
        if not entries:
            return None
        spark = self.delta.session
        df = spark.createDataFrame([tuple(asdict(e).values()) for e in entries], LOG_SCHEMA)
        days = sorted({e.landed_date for e in entries})
        sources = sorted({e.source for e in entries})
        # Naming the sources and days lets Delta's conflict check see that runs for
        # other sources or days touched other files.
        scope = (
            f"t.source IN ({_sql_list(sources)}) AND t.landed_date IN ({_sql_list(d.isoformat() for d in days)})"
        )
        # DeltaLakeResource.merge retries when another run's commit conflicts.
        return self.delta.merge(df, LOG_TABLE, ["source", "path"], match_condition=scope, partition_by=["source"])


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)

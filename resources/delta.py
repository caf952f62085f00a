"""Delta Lake tables: where they live and the only ways assets write them.

Every write is one atomic Delta commit and is re-runnable:
- ``replace_where``: overwrite exactly the rows matching a predicate (a day or a
  range of days), so re-materializing a partition replaces it instead of appending;
- ``merge``: upsert by key, updating only rows whose content changed and
  optionally deleting target rows of the same slice the source no longer has;
- ``overwrite``: replace a whole (unpartitioned) table.
Each returns a ``DeltaCommit`` describing the new version, which assets turn
into Dagster metadata.

MERGE and the commit history go through Delta's SQL (``delta.`<path>```), which a
classic session and a Spark Connect server with the Delta extension both run: the
Python ``DeltaTable`` API needs a JVM in this process or, over Connect, Delta's
Connect plugin on the server, which is not on the Maven Central CI reaches.
"""

import uuid
from dataclasses import dataclass, field
from typing import Optional, Sequence

import deltalake
import pyarrow as pa
from dagster import ConfigurableResource, ResourceDependency
from delta.tables import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from resources.jars import jar_paths, s3a_artifacts
from resources.object_store import ObjectStoreResource
from resources.spark import SparkResource, is_connect

# Operation metrics worth showing in the UI, renamed to plain words.
_METRIC_NAMES = {
    "numOutputRows": "rows_written",
    "numOutputBytes": "bytes_written",
    "numTargetBytesAdded": "bytes_written",
    "numTargetRowsInserted": "rows_inserted",
    "numTargetRowsUpdated": "rows_updated",
    "numTargetRowsDeleted": "rows_deleted",
    "numTargetRowsNotMatchedBySourceDeleted": "rows_deleted_not_in_source",
    "numDeletedRows": "rows_deleted",
    "numRemovedFiles": "files_removed",
    "numFiles": "files_added",
    "numTargetFilesAdded": "files_added",
    "numTargetFilesRemoved": "files_removed",
    "numTargetRowsCopied": "rows_copied",
}

_NO_CHANGE = ("rows_inserted", "rows_updated", "rows_deleted", "rows_copied", "files_added", "files_removed",
              "bytes_written")

# The MERGE source's flag for a target row to delete (see ``DeltaLakeResource.merge``).
_DELETE_MARK = "_merge_delete"


@dataclass(frozen=True)
class DeltaCommit:
    table: str
    uri: str
    version: int
    operation: str
    metrics: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TableChanges:
    """Data files a table gained and lost between two versions, from its log (no data read).

    Partitions are the values of the table's first partition column (ISO dates here).
    With no file removed, every row added since ``from_version`` is a new row.
    """

    table: str
    from_version: int
    to_version: int
    files_added: int
    files_removed: int
    added_partitions: frozenset[str]
    removed_partitions: frozenset[str]

    @property
    def insert_only(self) -> bool:
        return self.files_removed == 0

    @property
    def partitions(self) -> frozenset[str]:
        return self.added_partitions | self.removed_partitions


def _files_by_partition(table: deltalake.DeltaTable, partition_columns: Sequence[str]) -> dict[str, Optional[str]]:
    """Each live data file of ``table`` and the value of its first partition column."""
    actions = pa.table(table.get_add_actions(flatten=True))
    paths = actions.column("path").to_pylist()
    if not partition_columns:
        return dict.fromkeys(paths)
    values = actions.column(f"partition.{partition_columns[0]}").to_pylist()
    return {path: None if value is None else str(value) for path, value in zip(paths, values)}


class DeltaLakeResource(ConfigurableResource):
    """Delta tables under one root (a local path or ``s3a://bucket/prefix``).

    Tables are named ``<layer>/<name>``, mirroring their asset keys. Spark does
    all writes; delta-rs (readers without a JVM) reads. ``object_store`` configures
    both from one place: s3a settings and jars for the Spark session, storage
    options for delta-rs.
    """

    spark: ResourceDependency[SparkResource]
    root: str
    object_store: Optional[ObjectStoreResource] = None

    # -- locations ---------------------------------------------------------
    def uri(self, table: str) -> str:
        return f"{self.root.rstrip('/')}/{table}"

    def delta_rs_uri(self, table: str) -> str:
        """The same table as delta-rs names it (it speaks ``s3://``, not ``s3a://``)."""
        uri = self.uri(table)
        return "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri

    @property
    def storage_options(self) -> dict[str, str]:
        """What delta-rs needs to reach the root (nothing for a local path)."""
        return self.object_store.delta_rs_options() if self.object_store else {}

    def delta_rs_table(self, table: str, version: Optional[int] = None) -> deltalake.DeltaTable:
        """The table (at ``version``, default the latest) opened with delta-rs: for readers
        that should not start a JVM, or that only need the log's file statistics."""
        return deltalake.DeltaTable(self.delta_rs_uri(table), version=version,
                                    storage_options=self.storage_options or None)

    @property
    def session(self) -> SparkSession:
        if self.object_store is None or self.spark.remote:
            return self.spark.get_session()  # over Connect, s3a settings belong to the server
        return self.spark.get_session(extra_conf=self.object_store.spark_conf(), extra_jars=jar_paths(s3a_artifacts()))

    def sql_name(self, table: str) -> str:
        """The table as Delta's SQL names a path: ``delta.`<uri>```."""
        return "delta.`" + self.uri(table).replace("`", "``") + "`"

    def exists(self, table: str) -> bool:
        session = self.session
        if not is_connect(session):
            return DeltaTable.isDeltaTable(session, self.uri(table))
        try:
            session.sql(f"DESCRIBE DETAIL {self.sql_name(table)}").collect()
        except AnalysisException as error:
            if error.getCondition() == "DELTA_MISSING_DELTA_TABLE":
                return False
            raise
        return True

    # -- reads -------------------------------------------------------------
    def read(self, table: str, where: Optional[str] = None) -> DataFrame:
        df = self.session.read.format("delta").load(self.uri(table))
        return df.where(where) if where else df

    def read_or_empty(self, table: str, schema: str, where: Optional[str] = None) -> DataFrame:
        """Read a table that may not exist yet (first run), as an empty frame of ``schema``."""
        if self.exists(table):
            return self.read(table, where)
        return self.session.createDataFrame([], schema)

    def lookup_keys(
        self, table: str, batch: DataFrame, keys: Sequence[str], columns: Sequence[str] = (), schema: str = ""
    ) -> DataFrame:
        """The rows of ``table`` (``keys`` and ``columns``) whose keys are among ``batch``'s.

        Reads only the files whose statistics on the first key column overlap the batch's
        range (Delta data skipping), not every key of history: a day's order ids fall in a
        narrow range, so a new day's lookup costs what the day costs. ``schema`` describes
        the empty result when the table does not exist yet.
        """
        if not self.exists(table):
            return self.session.createDataFrame([], schema)
        first = keys[0]
        low, high = batch.agg(F.min(first), F.max(first)).first()
        rows = self.read(table).select(*keys, *columns)
        if low is None:
            return rows.limit(0)
        bounded = rows.where(F.col(first).between(F.lit(low), F.lit(high)))
        return bounded.join(batch.select(*keys).distinct(), list(keys), "left_semi")

    # -- writes ------------------------------------------------------------
    def replace_where(
        self, df: DataFrame, table: str, predicate: str, partition_by: Sequence[str] = ()
    ) -> DeltaCommit:
        """Atomically replace the rows matching ``predicate`` with ``df``.

        Delta verifies every written row matches the predicate, so a bug can
        never leak rows into another day's slice.
        """
        writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        if not self.exists(table) and partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(self.uri(table))
        return self.last_commit(table)

    def overwrite(self, df: DataFrame, table: str) -> DeltaCommit:
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(self.uri(table))
        return self.last_commit(table)

    def merge(
        self,
        df: DataFrame,
        table: str,
        keys: Sequence[str],
        *,
        change_column: Optional[str] = None,
        delete_missing_where: Optional[str] = None,
        delete_missing_among: Optional[DataFrame] = None,
        match_condition: Optional[str] = None,
        partition_by: Sequence[str] = (),
    ) -> DeltaCommit:
        """Upsert ``df`` by ``keys``, touching only the files that hold changed keys.

        ``change_column`` (a content hash) drops source rows identical to the target's
        before the MERGE, so a re-run inserts, updates and rewrites nothing.
        ``delete_missing_where`` (a predicate on ``t.``) and/or ``delete_missing_among``
        (a frame of key-column values, e.g. the customers being rebuilt) name the slice of
        the target that ``df`` replaces: target rows in it that ``df`` no longer holds are
        deleted, which makes re-processing a slice exact rather than additive.
        ``match_condition`` (on ``t.``) bounds the target rows a source row can match
        (partition pruning for the MERGE and for the change lookup), so that concurrent
        merges into other slices do not conflict.

        Deletions travel in the MERGE's source as marked rows (``WHEN MATCHED AND
        s._merge_delete THEN DELETE``) rather than as ``WHEN NOT MATCHED BY SOURCE``:
        with that clause Delta scans and rewrites every file of the target whatever its
        condition (delta-io/delta#7362). One MERGE is still one atomic commit.
        """
        if not self.exists(table):
            writer = df.write.format("delta").mode("overwrite")
            if partition_by:
                writer = writer.partitionBy(*partition_by)
            writer.save(self.uri(table))
            return self.last_commit(table)
        columns = df.columns
        target = self.session.sql(f"SELECT * FROM {self.sql_name(table)} AS t" + (
            f" WHERE {match_condition}" if match_condition else ""))
        source = df
        if change_column:
            source = df.join(target.select(*keys, change_column), [*keys, change_column], "left_anti")
        source = source.select(*columns, F.lit(False).alias(_DELETE_MARK))
        if delete_missing_where or delete_missing_among is not None:
            replaced = self.session.sql(f"SELECT * FROM {self.sql_name(table)} AS t" + (
                f" WHERE {delete_missing_where}" if delete_missing_where else ""))
            if delete_missing_among is not None:
                replaced = replaced.join(delete_missing_among, delete_missing_among.columns, "left_semi")
            gone = replaced.select(*keys).join(df.select(*keys), list(keys), "left_anti")
            key_types = {f.name: f.dataType for f in df.schema.fields}
            source = source.unionByName(gone.select(
                *[F.col(c) if c in keys else F.lit(None).cast(key_types[c]).alias(c) for c in columns],
                F.lit(True).alias(_DELETE_MARK),
            ))
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        if match_condition:
            on = f"{on} AND ({match_condition})"
        quoted = [f"`{c}`" for c in columns]
        view = f"merge_source_{uuid.uuid4().hex}"  # a session-scoped view: the MERGE's source
        source.createOrReplaceTempView(view)
        statement = (
            f"MERGE INTO {self.sql_name(table)} AS t USING {view} AS s ON {on} "
            f"WHEN MATCHED AND s.{_DELETE_MARK} THEN DELETE "
            f"WHEN MATCHED THEN UPDATE SET {', '.join(f't.{c} = s.{c}' for c in quoted)} "
            f"WHEN NOT MATCHED AND NOT s.{_DELETE_MARK} THEN INSERT ({', '.join(quoted)}) "
            f"VALUES ({', '.join(f's.{c}' for c in quoted)})"
        )
        before = self.version(table)
        try:
            self.session.sql(statement).collect()
        finally:
            self.session.catalog.dropTempView(view)
        commit = self.last_commit(table)
        if commit.version == before:  # nothing changed: Delta commits no empty MERGE
            return DeltaCommit(table, self.uri(table), commit.version, "MERGE", dict.fromkeys(_NO_CHANGE, 0))
        return commit

    # -- what changed ------------------------------------------------------
    def version(self, table: str) -> Optional[int]:
        """The table's latest version, or None when it does not exist yet (read from the log)."""
        try:
            return self.delta_rs_table(table).version()
        except TableNotFoundError:
            return None

    def read_version(self, table: str, version: int, where: Optional[str] = None) -> DataFrame:
        """The table as it was at ``version`` (time travel)."""
        df = self.session.read.format("delta").option("versionAsOf", version).load(self.uri(table))
        return df.where(where) if where else df

    def changes_since(self, table: str, version: int) -> Optional["TableChanges"]:
        """Which files and partitions ``table`` gained and lost since ``version``, from the log alone.

        None when that version can no longer be loaded (its log entries were cleaned up).
        """
        try:
            before = self.delta_rs_table(table, version=version)
        except (TableNotFoundError, DeltaError, OSError):
            return None
        now = self.delta_rs_table(table)
        partition_columns = now.metadata().partition_columns

        old, new = _files_by_partition(before, partition_columns), _files_by_partition(now, partition_columns)
        added = {path: part for path, part in new.items() if path not in old}
        removed = {path: part for path, part in old.items() if path not in new}
        return TableChanges(
            table=table,
            from_version=version,
            to_version=now.version(),
            files_added=len(added),
            files_removed=len(removed),
            added_partitions=frozenset(p for p in added.values() if p is not None),
            removed_partitions=frozenset(p for p in removed.values() if p is not None),
        )

    # -- table state -------------------------------------------------------
    def last_commit(self, table: str) -> DeltaCommit:
        last = self.session.sql(f"DESCRIBE HISTORY {self.sql_name(table)} LIMIT 1").collect()[0]
        metrics: dict[str, int] = {}
        for name, value in (last["operationMetrics"] or {}).items():
            if name in _METRIC_NAMES and value is not None:
                metrics[_METRIC_NAMES[name]] = metrics.get(_METRIC_NAMES[name], 0) + int(value)
        return DeltaCommit(table, self.uri(table), int(last["version"]), str(last["operation"]), metrics)

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

import json
import random
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Sequence

import deltalake
from dagster import ConfigurableResource, ResourceDependency, get_dagster_logger
from dagster_deltalake import DeltaTableResource, LocalConfig, S3Config
from dagster_deltalake.config import ClientConfig
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from resources.jars import jar_paths, s3a_artifacts
from resources.object_store import ObjectStoreResource
from resources.spark import SparkResource

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

def commit_metrics(operation_metrics: dict[str, Any]) -> dict[str, int]:
    """A commit's operation metrics (Delta writes them as strings) under the platform's names."""
    metrics: dict[str, int] = {}
    for name, value in operation_metrics.items():
        if name in _METRIC_NAMES and value is not None:
            metrics[_METRIC_NAMES[name]] = metrics.get(_METRIC_NAMES[name], 0) + int(value)
    return metrics


_NO_CHANGE = ("rows_inserted", "rows_updated", "rows_deleted", "rows_copied", "files_added", "files_removed",
              "bytes_written")

# Delta's optimistic-concurrency conflicts: another commit touched what this one read or
# replaces. Every write here is idempotent (a slice replaced, a MERGE recomputed against the
# new snapshot), so it is retried from the start.
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
              "ConcurrentTransactionException", "MetadataChangedException", "ProtocolChangedException",
              "DELTA_CONCURRENT", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED")


class WriteConflictError(RuntimeError):
    """A write kept conflicting with concurrent commits after every retry."""


def is_conflict(error: BaseException) -> bool:
    text = f"{type(error).__name__} {error}"
    return any(marker in text for marker in _CONFLICTS)


# The MERGE source's flag for a target row to delete (see ``DeltaLakeResource.merge``).
_DELETE_MARK = "_merge_delete"


@dataclass(frozen=True)
class DeltaCommit:
    table: str
    uri: str
    version: int
    operation: str
    metrics: dict[str, int] = field(default_factory=dict)
    attempts: int = 1  # > 1 when concurrent commits conflicted and the write was retried


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


# The object store's delta-rs options (``ObjectStoreResource.delta_rs_options``) as
# dagster-deltalake's S3Config / ClientConfig fields (object_store accepts both spellings).
_S3_CONFIG_FIELDS = {
    "AWS_REGION": "region",
    "AWS_ENDPOINT_URL": "endpoint",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "virtual_hosted_style_request",
    "AWS_ACCESS_KEY_ID": "access_key_id",
    "AWS_SECRET_ACCESS_KEY": "secret_access_key",
}
_CLIENT_CONFIG_FIELDS = {"AWS_ALLOW_HTTP": "allow_http"}
_SECRET_FIELDS = ("access_key_id", "secret_access_key", "token")


def delta_table_storage(object_store: Optional[ObjectStoreResource]) -> tuple[S3Config | LocalConfig,
                                                                               Optional[ClientConfig]]:
    """dagster-deltalake's storage and client config for tables under ``object_store``
    (``LocalConfig`` for a local root). An option the library has no field for is an error,
    named without its value, so a new object-store setting cannot be dropped silently."""
    if object_store is None:
        return LocalConfig(), None
    storage: dict[str, str] = {}
    client: dict[str, str] = {}
    for name, value in object_store.delta_rs_options().items():
        if name in _S3_CONFIG_FIELDS:
            storage[_S3_CONFIG_FIELDS[name]] = value
        elif name in _CLIENT_CONFIG_FIELDS:
            client[_CLIENT_CONFIG_FIELDS[name]] = value
        else:
            raise ValueError(f"delta-rs option {name} has no dagster-deltalake S3Config/ClientConfig field")
    return S3Config(**storage), (ClientConfig(**client) if client else None)


class LakehouseDeltaTable(DeltaTableResource):
    """dagster-deltalake's ``DeltaTableResource``, printed without credentials: its config
    classes show every field, the S3 secret key included, in a repr or a log line."""

    def __repr_args__(self):
        for name, value in super().__repr_args__():
            if name == "storage_options" and value is not None:
                shown = {k: v for k, v in value.str_dict().items() if k not in _SECRET_FIELDS}
                yield name, f"{type(value).__name__}({shown}, credentials hidden)"
            else:
                yield name, value

    def options(self) -> dict[str, str]:
        """The storage options ``load()`` hands delta-rs (storage config, then client config)."""
        return {**self.storage_options.str_dict(), **(self.client_options.str_dict() if self.client_options else {})}


class DeltaLakeResource(ConfigurableResource):
    """Delta tables under one root (a local path or ``s3a://bucket/prefix``).

    Tables are named ``<layer>/<name>``, mirroring their asset keys. Spark does
    all writes; delta-rs (readers without a JVM) reads, every table opened through
    dagster-deltalake's ``DeltaTableResource`` (``delta_rs_table``). ``object_store``
    configures both from one place: s3a settings and jars for the Spark session,
    the library's S3 config for delta-rs.
    """

    spark: ResourceDependency[SparkResource]
    root: str
    object_store: Optional[ObjectStoreResource] = None
    conflict_retries: int = 5  # a write conflicting with a concurrent commit is retried this often

    # -- locations ---------------------------------------------------------
    def uri(self, table: str) -> str:
        return f"{self.root.rstrip('/')}/{table}"

    def delta_rs_uri(self, table: str) -> str:
        """The same table as delta-rs names it (it speaks ``s3://``, not ``s3a://``)."""
        uri = self.uri(table)
        return "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri

    def delta_table_resource(self, table: str, version: Optional[int] = None) -> LakehouseDeltaTable:
        """``table`` (at ``version``, default the latest) as a dagster-deltalake ``DeltaTableResource``:
        its ``s3://`` or local URL and the object store's settings as the library's S3 config."""
        storage, client = delta_table_storage(self.object_store)
        return LakehouseDeltaTable(url=self.delta_rs_uri(table), storage_options=storage, client_options=client,
                                   version=version)

    @property
    def storage_options(self) -> dict[str, str]:
        """The options delta-rs gets for tables under the root, as ``DeltaTableResource.load()`` passes them."""
        return self.delta_table_resource("").options()

    def delta_rs_table(self, table: str, version: Optional[int] = None) -> deltalake.DeltaTable:
        """The table (at ``version``, default the latest) opened with delta-rs, through
        ``DeltaTableResource.load()``: for readers that should not start a JVM, or that only need
        the log's file statistics. Every delta-rs open in the platform goes through here."""
        return self.delta_table_resource(table, version).load()

    @property
    def session(self) -> SparkSession:
        if self.object_store is None or self.spark.remote:
            return self.spark.get_session()  # over Connect, s3a settings belong to the server
        return self.spark.get_session(extra_conf=self.object_store.spark_conf(), extra_jars=jar_paths(s3a_artifacts()))

    def sql_name(self, table: str) -> str:
        """The table as Delta's SQL names a path: ``delta.`<uri>```."""
        return "delta.`" + self.uri(table).replace("`", "``") + "`"

    def exists(self, table: str) -> bool:
        """Whether the table has a Delta log, asked of delta-rs: no Spark round trip (over Spark
        Connect a probe of a missing table is a failed RPC the client logs as an error)."""
        resource = self.delta_table_resource(table)
        # dagster-deltalake has no existence probe: delta-rs's own, with the options load() would pass.
        return deltalake.DeltaTable.is_deltatable(resource.url, resource.options())

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
        def write() -> DeltaCommit:
            writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
            if not self.exists(table) and partition_by:
                writer = writer.partitionBy(*partition_by)
            writer.save(self.uri(table))
            return self.last_commit(table)

        return self._retrying(table, write)

    def overwrite(self, df: DataFrame, table: str) -> DeltaCommit:
        def write() -> DeltaCommit:
            df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(self.uri(table))
            return self.last_commit(table)

        return self._retrying(table, write)

    def _retrying(self, table: str, write: Callable[[], Any]) -> Any:
        """Run an idempotent write, retrying it with jittered backoff while it conflicts with
        concurrent commits (two runs of one partition, a run beside maintenance)."""
        for attempt in range(1, self.conflict_retries + 2):
            try:
                result = write()
                return replace(result, attempts=attempt) if isinstance(result, DeltaCommit) else result
            except Exception as error:
                if not is_conflict(error):
                    raise
                message = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
                if attempt > self.conflict_retries:
                    raise WriteConflictError(
                        f"{table}: the write conflicted with concurrent commits {attempt} times, giving up: "
                        f"{message}. Another run or maintenance is writing the same slice; re-run when it is done."
                    ) from error
                delay = min(8.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(1.0, 1.5)
                get_dagster_logger().warning(
                    f"{table}: write conflicted with a concurrent commit ({message}); retry {attempt} of "
                    f"{self.conflict_retries} in {delay:.1f}s")
                time.sleep(delay)
        raise AssertionError("unreachable")

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
        s._merge_delete THEN DELETE``) rather than as a not-matched-by-source clause:
        with that clause Delta scans and rewrites every file of the target whatever its
        condition (delta-io/delta#7362). One MERGE is still one atomic commit.
        """
        return self._retrying(table, lambda: self._merge_once(
            df, table, keys, change_column=change_column, delete_missing_where=delete_missing_where,
            delete_missing_among=delete_missing_among, match_condition=match_condition, partition_by=partition_by))

    def _merge_once(self, df: DataFrame, table: str, keys: Sequence[str], *, change_column, delete_missing_where,
                    delete_missing_among, match_condition, partition_by) -> DeltaCommit:
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
        """Which data files and partitions ``table`` gained and lost since ``version``.

        Read from the commits' own add and remove actions (the JSON log), no data scanned.
        Rewrites that keep the rows as they were (OPTIMIZE: ``dataChange`` false) are not
        changes. None when a commit since ``version`` is no longer in the log (log retention).
        """
        latest = self.version(table)
        if latest is None or version > latest:
            return None
        filesystem, base = self._storage(table)
        added: list[Optional[str]] = []
        removed: list[Optional[str]] = []
        partition_column: Optional[str] = None
        for v in range(version + 1, latest + 1):
            try:
                with filesystem.open_input_stream(f"{base}/_delta_log/{v:020d}.json") as stream:
                    lines = stream.read().decode("utf-8").splitlines()
            except (FileNotFoundError, OSError):
                return None
            for line in lines:
                action = json.loads(line) if line.strip() else {}
                if "metaData" in action:
                    columns = action["metaData"].get("partitionColumns") or []
                    partition_column = columns[0] if columns else None
                for kind, found in (("add", added), ("remove", removed)):
                    if kind in action and action[kind].get("dataChange", True):
                        found.append(action[kind].get("partitionValues") or {})
        if partition_column is None:
            columns = self.delta_rs_table(table).metadata().partition_columns
            partition_column = columns[0] if columns else None

        def partitions(values: list) -> frozenset[str]:
            return frozenset(p[partition_column] for p in values
                             if partition_column and p.get(partition_column) is not None)

        return TableChanges(
            table=table, from_version=version, to_version=latest, files_added=len(added),
            files_removed=len(removed), added_partitions=partitions(added), removed_partitions=partitions(removed),
        )

    def _storage(self, table: str):
        """A pyarrow filesystem for ``table``'s storage and the table's path in it."""
        import os

        from pyarrow import fs

        uri = self.delta_rs_uri(table)
        if self.object_store is not None and uri.startswith("s3://"):
            filesystem, base = self.object_store.filesystem(), uri[len("s3://") :]
        else:
            filesystem, base = fs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))
        return filesystem, base.rstrip("/")

    # -- table state -------------------------------------------------------
    def last_commit(self, table: str) -> DeltaCommit:
        """The newest commit's version, operation and metrics, read from that commit's own log
        entry (the ``commitInfo`` action of ``_delta_log/<version>.json``): one listing and one
        small read through storage instead of a ``DESCRIBE HISTORY`` Spark job after each write."""
        from pyarrow import fs

        filesystem, base = self._storage(table)
        log = f"{base}/_delta_log"
        versions = [int(info.base_name[: -len(".json")]) for info in filesystem.get_file_info(fs.FileSelector(log))
                    if info.base_name.endswith(".json") and info.base_name[: -len(".json")].isdigit()]
        if not versions:
            raise TableNotFoundError(f"{self.uri(table)} has no Delta commits")
        version = max(versions)
        with filesystem.open_input_stream(f"{log}/{version:020d}.json") as stream:
            actions = [json.loads(line) for line in stream.read().decode("utf-8").splitlines() if line.strip()]
        info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
        return DeltaCommit(table, self.uri(table), version, str(info.get("operation", "")),
                           commit_metrics(info.get("operationMetrics") or {}))

    # -- maintenance ---------------------------------------------------------
    # Tables rewritten daily for years need compaction (OPTIMIZE), reclaiming of replaced files
    # (VACUUM) and bounded log retention, or storage and log replay grow forever. All through
    # Delta's SQL, so they run over Spark Connect too; sizes are measured by listing the table's
    # files in storage (pyarrow) and reading its log (delta-rs), never estimated.

    @staticmethod
    def require_safe_vacuum_retention(retain_hours: int) -> None:
        """Refuse a VACUUM retention under 7 days: files a reader or writer still in flight needs
        could be deleted. The platform never turns off Delta's own check
        (``spark.databricks.delta.retentionDurationCheck.enabled``); this one is stricter."""
        from resources.settings import MIN_VACUUM_RETENTION_HOURS  # settings cannot import this module

        if retain_hours < MIN_VACUUM_RETENTION_HOURS:
            raise ValueError(
                f"VACUUM retention of {retain_hours} hours is below the {MIN_VACUUM_RETENTION_HOURS}-hour (7-day) "
                f"minimum: files that running readers and writers may still need would be deleted. Set "
                f"LAKEHOUSE_VACUUM_RETENTION_HOURS (or the table_maintenance job's vacuum_retention_hours) to "
                f"{MIN_VACUUM_RETENTION_HOURS} or more."
            )

    def table_properties(self, vacuum_retention_hours: Optional[int] = None) -> dict[str, str]:
        """The TBLPROPERTIES the platform keeps on its tables.

        - ``delta.deletedFileRetentionDuration`` = the VACUUM retention (default 7 days): how
          long replaced files stay readable (time travel, in-flight readers);
        - ``delta.logRetentionDuration`` = 30 days, or the VACUUM retention when longer: commits
          older than that are dropped at the next checkpoint, so the log stops growing while
          history (DESCRIBE HISTORY) still covers every version whose files exist;
        - ``delta.checkpointInterval`` = 10, Delta's default, stated so a reader never replays
          more than 10 JSON commits whatever engine wrote the table.
        """
        from resources.settings import MIN_VACUUM_RETENTION_HOURS

        retain_hours = MIN_VACUUM_RETENTION_HOURS if vacuum_retention_hours is None else vacuum_retention_hours
        self.require_safe_vacuum_retention(retain_hours)

        def interval(hours: int) -> str:
            return f"interval {hours // 24} days" if hours % 24 == 0 else f"interval {hours} hours"

        return {
            "delta.logRetentionDuration": interval(max(retain_hours, 30 * 24)),
            "delta.deletedFileRetentionDuration": interval(retain_hours),
            "delta.checkpointInterval": "10",
        }

    def apply_table_properties(self, table: str, vacuum_retention_hours: Optional[int] = None) -> dict[str, str]:
        """Set ``table_properties()`` on ``table``, in one commit, only where they differ from what
        ``DESCRIBE DETAIL`` reports: a table already in shape gets no new version.

        Returns the properties that were changed (empty: nothing to do).
        """
        wanted = self.table_properties(vacuum_retention_hours)
        detail = self.session.sql(f"DESCRIBE DETAIL {self.sql_name(table)}").collect()[0]
        current = {key: " ".join(str(value).lower().split()) for key, value in (detail["properties"] or {}).items()}
        changed = {key: value for key, value in wanted.items() if current.get(key) != value.lower()}
        if changed:
            assignments = ", ".join(f"'{key}' = '{value}'" for key, value in changed.items())
            self.session.sql(f"ALTER TABLE {self.sql_name(table)} SET TBLPROPERTIES ({assignments})").collect()
        return changed

    def optimize(self, table: str) -> dict[str, int]:
        """Bin-pack the table's small files into large ones (``OPTIMIZE``), per partition.

        The replaced files are only tombstoned: readers of older versions keep working and the
        files stay on disk until VACUUM. Returns what Delta measured: ``files_compacted_from``
        small files (``bytes_compacted_from``) became ``files_compacted_into`` files
        (``bytes_compacted_into``); all zero when there was nothing to compact (no commit then).
        """
        # A day's write into a partition being compacted conflicts; compaction is idempotent.
        metrics = self._retrying(table, lambda: self.session.sql(f"OPTIMIZE {self.sql_name(table)}")
                                 .collect()[0]["metrics"])

        def total_size(files_stats) -> int:
            return int(files_stats["totalSize"] or 0) if files_stats is not None else 0

        return {
            "files_compacted_from": int(metrics["numFilesRemoved"] or 0),
            "files_compacted_into": int(metrics["numFilesAdded"] or 0),
            "bytes_compacted_from": total_size(metrics["filesRemoved"]),
            "bytes_compacted_into": total_size(metrics["filesAdded"]),
            "partitions_optimized": int(metrics["partitionsOptimized"] or 0),
        }

    def vacuum(self, table: str, retain_hours: int) -> dict[str, int]:
        """Delete the table's data files that no version within ``retain_hours`` references
        (``VACUUM ... RETAIN n HOURS``), refusing anything under 7 days.

        Delta deletes a file once no live version references it, its tombstone (if any) is older
        than the retention and its modification time too. What is reported is measured: the
        table's data files are listed before and after, ``files_deleted``/``bytes_deleted`` are
        the ones that disappeared (only VACUUM deletes data files), followed by ``file_stats``
        of the table afterwards.
        """
        self.require_safe_vacuum_retention(retain_hours)
        before, _, _ = self._files_on_disk(table)
        self.session.sql(f"VACUUM {self.sql_name(table)} RETAIN {int(retain_hours)} HOURS").collect()
        after = self._files_on_disk(table)
        deleted = {path: size for path, size in before.items() if path not in after[0]}
        return {
            "retain_hours": int(retain_hours),
            "files_deleted": len(deleted),
            "bytes_deleted": sum(deleted.values()),
            **self._file_stats(table, after),
        }

    def file_stats(self, table: str) -> dict[str, int]:
        """The table's size: its live files (latest version, from the log via delta-rs) and what
        its directory holds (listed from storage), so unreferenced files VACUUM could reclaim show.

        Keys: ``version``, ``live_files``, ``live_bytes``, ``data_files_on_disk``,
        ``data_bytes_on_disk``, ``unreferenced_files``, ``unreferenced_bytes``, ``log_files``,
        ``log_bytes``. Data files are everything outside ``_delta_log`` except hidden names
        (Hadoop's ``.<file>.crc`` checksums, which go with their file).
        """
        return self._file_stats(table, self._files_on_disk(table))

    def _file_stats(self, table: str, on_disk: tuple[dict[str, int], int, int]) -> dict[str, int]:
        from urllib.parse import unquote

        import pyarrow

        snapshot = self.delta_rs_table(table)
        actions = pyarrow.table(snapshot.get_add_actions(flatten=True))
        live = dict(zip((unquote(p) for p in actions.column("path").to_pylist()),
                        actions.column("size_bytes").to_pylist()))
        data, log_files, log_bytes = on_disk
        unreferenced = {path: size for path, size in data.items() if path not in live}
        return {
            "version": int(snapshot.version()),
            "live_files": len(live),
            "live_bytes": int(sum(live.values())),
            "data_files_on_disk": len(data),
            "data_bytes_on_disk": sum(data.values()),
            "unreferenced_files": len(unreferenced),
            "unreferenced_bytes": sum(unreferenced.values()),
            "log_files": log_files,
            "log_bytes": log_bytes,
        }

    def _files_on_disk(self, table: str) -> tuple[dict[str, int], int, int]:
        """What storage holds for ``table``: its data files (path relative to the table -> bytes)
        and its log's file count and bytes. Through the object store's client for s3 roots."""
        from pyarrow import fs

        filesystem, base = self._storage(table)
        data: dict[str, int] = {}
        log_files = log_bytes = 0
        for info in filesystem.get_file_info(fs.FileSelector(base, allow_not_found=True, recursive=True)):
            if info.type != fs.FileType.File:
                continue
            relative = info.path[len(base) + 1 :]
            if relative.startswith("_delta_log/"):
                log_files, log_bytes = log_files + 1, log_bytes + int(info.size)
            elif not relative.rsplit("/", 1)[-1].startswith("."):
                data[relative] = int(info.size)
        return data, log_files, log_bytes

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
from dagster import ConfigurableResource, ResourceDependency
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

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
}


@dataclass(frozen=True)
class DeltaCommit:
    table: str
    uri: str
    version: int
    operation: str
    metrics: dict[str, int] = field(default_factory=dict)


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
        match_condition: Optional[str] = None,
        partition_by: Sequence[str] = (),
    ) -> DeltaCommit:
        """Upsert ``df`` by ``keys``.

        ``change_column`` (a content hash) limits updates to rows that really
        changed, so a re-run commits no updates. ``delete_missing_where``
        deletes target rows in that slice that the source no longer holds,
        which makes re-processing a slice exact rather than additive.
        ``match_condition`` (on ``t.``) narrows the target rows the merge reads,
        so that concurrent merges into other slices do not conflict.
        """
        if not self.exists(table):
            writer = df.write.format("delta").mode("overwrite")
            if partition_by:
                writer = writer.partitionBy(*partition_by)
            writer.save(self.uri(table))
            return self.last_commit(table)
        on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        if match_condition:
            on = f"{on} AND ({match_condition})"
        update_when = f" AND t.`{change_column}` <> s.`{change_column}`" if change_column else ""
        source = f"merge_source_{uuid.uuid4().hex}"  # a session-scoped view: the MERGE's source
        df.createOrReplaceTempView(source)
        statement = (
            f"MERGE INTO {self.sql_name(table)} AS t USING {source} AS s ON {on} "
            f"WHEN MATCHED{update_when} THEN UPDATE SET * "
            "WHEN NOT MATCHED THEN INSERT *"
        )
        if delete_missing_where:
            statement += f" WHEN NOT MATCHED BY SOURCE AND ({delete_missing_where}) THEN DELETE"
        try:
            self.session.sql(statement).collect()
        finally:
            self.session.catalog.dropTempView(source)
        return self.last_commit(table)

    # -- table state -------------------------------------------------------
    def last_commit(self, table: str) -> DeltaCommit:
        last = self.session.sql(f"DESCRIBE HISTORY {self.sql_name(table)} LIMIT 1").collect()[0]
        metrics: dict[str, int] = {}
        for name, value in (last["operationMetrics"] or {}).items():
            if name in _METRIC_NAMES and value is not None:
                metrics[_METRIC_NAMES[name]] = metrics.get(_METRIC_NAMES[name], 0) + int(value)
        return DeltaCommit(table, self.uri(table), int(last["version"]), str(last["operation"]), metrics)

"""OpenLineage events for every asset materialization and asset check evaluation.

``@emits_lineage`` goes under ``@asset`` / ``@multi_asset`` / ``@asset_check``. It is a thin
wrapper: the decorated function declares ``context`` (first) and ``lineage: LineageResource``
itself, so Dagster provides the resource as usual and the wrapper only reads it; the function's
results are passed on as the very objects it produced. Around each call it sends:

- asset steps: a START event (inputs = the step's upstream assets in the Dagster
  asset graph, or the landing directory for bronze), then COMPLETE with the
  written tables as outputs, or FAIL with the error message. One OpenLineage job
  per step, named after the step's first asset key (``gold/daily_sales``); a
  multi-asset step that writes a table and its quarantine or reject table lists
  both as outputs. Output facets: schema, dataSource, version (Delta version),
  outputStatistics, dataQualityMetrics (from Delta's file statistics of the
  written slice, or one aggregation pass for ``profile="scan"``) and, where
  declared, columnLineage;
- asset checks: a COMPLETE event (FAIL when the check raises) of job
  ``<asset key>:<check name>`` whose input, the checked table, carries a
  ``dataQualityAssertions`` facet: one assertion per pandera rule and column for
  contract checks, one assertion for other checks.

Every event has a parent facet naming the Dagster run (run id and job name), a
jobType facet (DAGSTER / BATCH / ASSET or ASSET_CHECK), a sourceCodeLocation
facet (the module defining the asset), a nominalTime facet with the partition
window for partitioned steps, and a processing_engine facet.

Each materialization gains ``openlineage_run_id``, ``lineage_events_dropped`` and, for tables with
declared column lineage, ``dagster/column_lineage``, through ``context.add_asset_metadata`` before
the step's results go to Dagster (without a partition key: every day of a range run gets them).
Check results get no such metadata: Dagster has no public way to add metadata to a check result
a function built, and rebuilding it would drop any field Dagster adds later. A check event's run
id goes to the step's debug log instead.
"""

from __future__ import annotations

import functools
import inspect
import subprocess
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import dagster
import pyspark
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetKey,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
    get_dagster_logger,
)
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    dataset_version_dataset,
    datasource_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
)
from openlineage.client.git import _find_git_dir, get_git_version
from openlineage.client.uuid import generate_new_uuid

from assets.quality.checks import aimed_at_its_day
from assets.transforms.column_lineage import ColumnLineage
from resources.lineage import LineageResource, dataset_identity, namespace_uri
from resources.settings import REPO_ROOT

LINEAGE_PARAM = "lineage"
ASSERTIONS_METADATA = "assertions"  # a check result's per-rule outcomes, set by pandera_check


class DataQualityMetricsDatasetFacet(data_quality_metrics_dataset.DataQualityMetricsDatasetFacet):
    """The client's facet, declared as the spec's 1-0-0 version: 1-0-1 only adds ``captureDate``,
    which we never set, and 1-0-0 is the version in the published spec set we validate against."""

    @staticmethod
    def _get_schema() -> str:
        return "https://openlineage.io/spec/facets/1-0-0/DataQualityMetricsDatasetFacet.json#/$defs/DataQualityMetricsDatasetFacet"


# -- the decorator ---------------------------------------------------------------------
def emits_lineage(
    fn: Optional[Callable] = None,
    *,
    landing_source: Optional[str] = None,
    column_lineage: Optional[Mapping[str, ColumnLineage]] = None,
):
    """Emit OpenLineage events around an asset or asset check function.

    ``fn`` must take ``context`` first and a ``lineage: LineageResource`` parameter.
    ``landing_source``: the step reads that source's landing directory (bronze).
    ``column_lineage``: per written table (``layer/name``), its declared column lineage.
    """
    if fn is None:
        return functools.partial(emits_lineage, landing_source=landing_source, column_lineage=column_lineage)
    signature = inspect.signature(fn)
    params = list(signature.parameters)
    missing = []
    if params[:1] != ["context"]:
        missing.append("`context` as its first parameter")
    if LINEAGE_PARAM not in params:
        missing.append(f"a `{LINEAGE_PARAM}: LineageResource` parameter")
    if missing:
        raise TypeError(f"@emits_lineage: {fn.__module__}.{fn.__qualname__} must take "
                        f"{' and '.join(missing)}, e.g. def {fn.__name__}(context, ..., "
                        f"{LINEAGE_PARAM}: LineageResource)")
    step = _Step(fn, landing_source, dict(column_lineage or {}))

    def lineage_of(context, args, kwargs) -> Optional[LineageResource]:
        if LINEAGE_PARAM in kwargs:  # as Dagster passes resources
            return kwargs[LINEAGE_PARAM]
        return signature.bind_partial(context, *args, **kwargs).arguments.get(LINEAGE_PARAM)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(context, *args, **kwargs):
            targets: dict = {}
            results = step.run(context, lineage_of(context, args, kwargs), lambda: tuple(fn(context, *args, **kwargs)))
            for result in results:
                # a day's check evaluation targets the day's materialization, stored by now
                yield aimed_at_its_day(context.instance, result, targets)
    else:
        @functools.wraps(fn)
        def wrapper(context, *args, **kwargs):
            return step.run(context, lineage_of(context, args, kwargs), lambda: fn(context, *args, **kwargs))
    return wrapper


class _Step:
    def __init__(self, fn: Callable, landing_source: Optional[str], column_lineage: dict[str, ColumnLineage]):
        self.landing_source = landing_source
        self.column_lineage = column_lineage
        self.source_file = Path(inspect.getsourcefile(fn) or "").resolve()

    def run(self, context, lineage: Optional[LineageResource], compute: Callable[[], Any]) -> Any:
        """``compute()``'s value, unchanged, with the events sent around it."""
        if lineage is None or not lineage.enabled:
            return compute()
        check = isinstance(context, AssetCheckExecutionContext)
        started = _guarded(lineage, "check" if check else "START",
                           lambda: self._begin_check(context, lineage) if check else self._start(context, lineage))
        try:
            value = compute()
        except BaseException as error:
            if started:
                event, inputs = started[:2]
                _guarded(lineage, "FAIL", lambda: event.send(RunState.FAIL, inputs=inputs, error=error))
            raise
        if started:
            results = [] if value is None else value if type(value) in (list, tuple) else [value]
            if check:
                _guarded(lineage, "COMPLETE", lambda: self._check_complete(context, lineage, started[0],
                                                                           *started[2], results))
            else:
                self._complete(context, lineage, *started, results)
        return value

    # -- asset steps ---------------------------------------------------------
    def _start(self, context, lineage: LineageResource):
        assets_def = context.assets_def
        keys = [spec.key for spec in assets_def.specs if spec.key in context.selected_asset_keys]
        upstream = sorted({dep for key in keys for dep in assets_def.asset_deps.get(key, ()) if dep not in keys},
                          key=AssetKey.to_user_string)
        inputs = [_input(lineage, lineage.table_uri(_table(dep))) for dep in upstream]
        if self.landing_source:
            inputs.insert(0, _input(lineage, lineage.landing_uri(self.landing_source)))
        engine = "spark" if "spark" in (assets_def.specs_by_key[keys[0]].kinds or ()) else "python"
        event = _Event(lineage, context, keys[0].to_user_string(), "ASSET", self.source_file, engine)
        event.send(RunState.START, inputs=inputs)
        return event, inputs, keys

    def _complete(self, context, lineage: LineageResource, event: "_Event", inputs, keys, results) -> None:
        """COMPLETE with the written tables, their metadata added to the materializations; then each
        check evaluated in the step has an event of its own (a day's share of a range's check none)."""

        def complete():
            written = [(r.asset_key or keys[0], r) for r in results
                       if not isinstance(r, (AssetCheckResult, AssetCheckEvaluation))]
            outputs = [self._output(lineage, context, key, r.metadata or {}) for key, r in written]
            event.send(RunState.COMPLETE, inputs=inputs, outputs=[dataset for dataset, _ in outputs])
            for (key, _), (_, column_lineage) in zip(written, outputs):
                extra = {"dagster/column_lineage": column_lineage} if column_lineage is not None else {}
                context.add_asset_metadata({**extra, "openlineage_run_id": event.run_id,
                                            "lineage_events_dropped": lineage.dropped_events}, asset_key=key)

        def check(result: AssetCheckResult):
            # the result's check, as Dagster resolves it when the result leaves key or name out
            spec = next(s for s in context.assets_def.check_specs
                        if result.asset_key in (None, s.asset_key) and result.check_name in (None, s.name))
            event = self._check_event(context, lineage, spec.asset_key, spec.name)
            self._check_complete(context, lineage, event, spec.asset_key, spec.name, [result])

        _guarded(lineage, "COMPLETE", complete)
        for result in results:
            if isinstance(result, AssetCheckResult):
                _guarded(lineage, "check", lambda r=result: check(r))

    def _output(self, lineage: LineageResource, context, key: AssetKey, metadata: Mapping[str, Any]) -> tuple[OutputDataset, Optional[TableColumnLineage]]:
        meta = {k: getattr(v, "value", v) for k, v in metadata.items()}
        table = _table(key)
        uri = str(meta.get("dagster/uri") or lineage.table_uri(table))
        namespace, name = dataset_identity(uri)
        facets: dict[str, Any] = {"dataSource": _datasource(lineage, namespace)}
        schema = meta.get("dagster/column_schema")
        if isinstance(schema, TableSchema):
            facets["schema"] = _facet(lineage, schema_dataset.SchemaDatasetFacet, fields=[
                schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type, description=c.description)
                for c in schema.columns
            ])
        if "delta_version" in meta:
            facets["version"] = _facet(lineage, dataset_version_dataset.DatasetVersionDatasetFacet,
                                       datasetVersion=str(meta["delta_version"]))
            if lineage.profile != "off":
                profile = _scan_profile if lineage.profile == "scan" else _statistics_profile
                metrics = profile(context, table, uri, int(meta["delta_version"]))
                if metrics is not None:
                    facets["dataQualityMetrics"] = _facet(lineage, DataQualityMetricsDatasetFacet, **metrics)
        dagster_lineage = None
        declared = self.column_lineage.get(table)
        if declared is not None:
            columns = [c.name for c in schema.columns] if isinstance(schema, TableSchema) else list(declared)
            facets["columnLineage"] = _column_lineage_facet(lineage, declared, columns)
            dagster_lineage = TableColumnLineage(deps_by_column={
                column: [TableColumnDep(asset_key=AssetKey(i.table.split("/")), column_name=i.column)
                         for i in declared.get(column, [])]
                for column in columns
            })
        statistics = {
            # a day-partitioned table's write: the run's rows (each day's own are per partition)
            "rowCount": meta.get("run_row_count", meta.get("dagster/row_count")),
            "size": meta.get("delta_bytes_written"),
            "fileCount": meta.get("delta_files_added"),
        }
        output_facets = {"outputStatistics": _facet(
            lineage, output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
            **{k: int(v) for k, v in statistics.items() if v is not None})}
        return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets), dagster_lineage

    # -- asset checks --------------------------------------------------------
    def _check_event(self, context, lineage: LineageResource, key: AssetKey, name: str) -> "_Event":
        """The check's own job, ``<asset key>:<check name>``."""
        return _Event(lineage, context, f"{key.to_user_string()}:{name}", "ASSET_CHECK", self.source_file, "spark")

    def _begin_check(self, context: AssetCheckExecutionContext, lineage: LineageResource):
        spec = context.check_specs[0]
        return (self._check_event(context, lineage, spec.asset_key, spec.name),
                [_input(lineage, lineage.table_uri(_table(spec.asset_key)))], (spec.asset_key, spec.name))

    def _check_complete(self, context, lineage: LineageResource, event: "_Event", key: AssetKey, name: str,
                        results) -> None:
        """COMPLETE asserting the check's outcomes on the checked table."""
        uri = lineage.table_uri(_table(key))
        facet = _facet(lineage, data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet,
                       assertions=[a for result in results for a in _assertions(result, name)])
        event.send(RunState.COMPLETE, inputs=[_input(lineage, uri, {"dataQualityAssertions": facet})])
        context.log.debug(f"OpenLineage run {event.run_id} of {event.job_name}")


def _guarded(lineage: LineageResource, what: str, step: Callable[[], Any]) -> Any:
    """Lineage bookkeeping never fails a step: a bug here costs the event, not the data."""
    try:
        return step()
    except Exception as error:
        lineage.count_dropped()
        get_dagster_logger("lineage").warning(
            f"OpenLineage {what} event not sent: {type(error).__name__}: {error}", exc_info=True)
        return None


class _Event:
    """The run and job of one step's events."""

    def __init__(self, lineage: LineageResource, context, job_name: str, job_type: str, source: Path, engine: str):
        self.lineage = lineage
        self.run_id = str(generate_new_uuid())
        self.job_name = job_name
        self.run_facets: dict[str, Any] = {
            "parent": _facet(
                lineage, parent_run.ParentRunFacet,
                run=parent_run.Run(runId=context.run.run_id),
                job=parent_run.Job(namespace=lineage.namespace, name=context.run.job_name),
                root=parent_run.Root(run=parent_run.RootRun(runId=context.run.run_id),
                                     job=parent_run.RootJob(namespace=lineage.namespace, name=context.run.job_name)),
            ),
            "processing_engine": _facet(
                lineage, processing_engine_run.ProcessingEngineRunFacet,
                name=engine, version=pyspark.__version__ if engine == "spark" else dagster.__version__,
                openlineageAdapterVersion=_client_version(),
            ),
        }
        window = _partition_window(context)
        if window is not None:
            self.run_facets["nominalTime"] = _facet(
                lineage, nominal_time_run.NominalTimeRunFacet,
                nominalStartTime=_iso(window.start), nominalEndTime=_iso(window.end),
            )
        self.job_facets = {
            "jobType": _facet(lineage, job_type_job.JobTypeJobFacet,
                              processingType="BATCH", integration="DAGSTER", jobType=job_type),
            "sourceCodeLocation": _source_code_location(lineage, source),
        }

    def send(self, state: RunState, *, inputs=(), outputs=(), error: Optional[BaseException] = None) -> None:
        run_facets = dict(self.run_facets)
        if error is not None:
            run_facets["errorMessage"] = _facet(
                self.lineage, error_message_run.ErrorMessageRunFacet,
                message=f"{type(error).__name__}: {error}"[:10_000], programmingLanguage="python",
                stackTrace="".join(traceback.format_exception(error))[-20_000:],
            )
        try:
            event = RunEvent(
                eventType=state,
                eventTime=_iso(datetime.now(timezone.utc)),
                run=Run(runId=self.run_id, facets=run_facets),
                job=Job(namespace=self.lineage.namespace, name=self.job_name, facets=self.job_facets),
                inputs=list(inputs),
                outputs=list(outputs),
                producer=self.lineage.producer,
            )
        except Exception as problem:  # building an event must not fail the run either
            self.lineage.count_dropped()
            get_dagster_logger("lineage").warning(f"could not build the OpenLineage {state.value} event: {problem}")
            return
        self.lineage.emit(event)


# -- facets -------------------------------------------------------------------------------
def _facet(lineage: LineageResource, cls, **fields):
    return cls(**fields, producer=lineage.producer)


def _input(lineage: LineageResource, uri: str, input_facets: Optional[dict] = None) -> InputDataset:
    namespace, name = dataset_identity(uri)
    return InputDataset(
        namespace=namespace, name=name,
        facets={"dataSource": _datasource(lineage, namespace)},
        inputFacets=input_facets or {},
    )


def _datasource(lineage: LineageResource, namespace: str):
    """Named like the namespace (as openlineage-spark does); ``uri`` is that namespace as a URI (``file:///``)."""
    return _facet(lineage, datasource_dataset.DatasourceDatasetFacet, name=namespace, uri=namespace_uri(namespace))


def _column_lineage_facet(lineage: LineageResource, declared: ColumnLineage, columns: list[str]):
    fields = {}
    for column in columns:
        inputs = []
        for source in declared.get(column, []):
            namespace, name = dataset_identity(lineage.table_uri(source.table))
            inputs.append(column_lineage_dataset.InputField(
                namespace=namespace, name=name, field=source.column,
                transformations=[column_lineage_dataset.Transformation(
                    type=source.type, subtype=source.subtype, description=source.description or None)],
            ))
        fields[column] = column_lineage_dataset.Fields(inputFields=inputs)
    return _facet(lineage, column_lineage_dataset.ColumnLineageDatasetFacet, fields=fields)


def _assertions(result: AssetCheckResult, check_name: str) -> list:
    severity = result.severity.value.lower()
    declared = (result.metadata or {}).get(ASSERTIONS_METADATA)
    items = getattr(declared, "value", declared) or [{"assertion": check_name, "success": bool(result.passed)}]
    return [
        data_quality_assertions_dataset.Assertion(
            assertion=str(item["assertion"]), success=bool(item["success"]), column=item.get("column"),
            severity=severity, name=f"{check_name}:{item['assertion']}" if declared else check_name,
            expected=item.get("expected"),
        )
        for item in items
    ]


def _source_code_location(lineage: LineageResource, source: Path):
    try:
        path = str(source.relative_to(REPO_ROOT))
    except ValueError:
        path = str(source)
    version = _git_version()
    return _facet(lineage, source_code_location_job.SourceCodeLocationJobFacet,
                  type="git" if version else "file", url=source.as_uri(), path=path, version=version)


@functools.lru_cache(maxsize=1)
def _git_version() -> Optional[str]:
    try:
        git_dir = _find_git_dir(str(REPO_ROOT))
        version = get_git_version(git_dir) if git_dir else None
        if version is None and git_dir is not None:  # linked worktrees keep refs in the common dir
            done = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                  text=True, timeout=5, check=False)
            version = done.stdout.strip() or None if done.returncode == 0 else None
        return version
    except Exception:
        return None


@functools.lru_cache(maxsize=1)
def _client_version() -> str:
    from openlineage.client.constants import __version__

    return __version__


# -- data-quality metrics ---------------------------------------------------------------------
_NUMERIC = ("byte", "short", "int", "bigint", "long", "float", "double", "decimal", "tinyint", "smallint")


def _statistics_profile(context, table: str, uri: str, version: int) -> Optional[dict]:
    """Row and null counts and numeric min/max of the written slice, from the statistics Delta
    keeps for every data file (no data is read): the files of that version whose partition
    lies in the run's window, or every file of an unpartitioned table."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        delta = getattr(context.resources, "delta", None)
        if delta is None:
            return None
        snapshot = delta.delta_rs_table(table, version=version)
        files = pa.table(snapshot.get_add_actions(flatten=True))
        partition_columns = snapshot.metadata().partition_columns
        window = _partition_window(context)
        if window is not None and len(partition_columns) == 1:
            day = files.column(f"partition.{partition_columns[0]}")
            files = files.filter(pc.and_(pc.greater_equal(day, window.start.date()), pc.less(day, window.end.date())))
        rows = pc.sum(files.column("num_records")).as_py() or 0
        columns = {}
        for field in pa.schema(snapshot.schema().to_arrow()):  # arro3 -> pyarrow (Arrow C interface)
            name = field.name

            def total(stat: str, how):
                key = f"{stat}.{name}"
                return how(files.column(key)).as_py() if key in files.column_names and files.num_rows else None

            if name in partition_columns:
                nulls = pc.sum(pc.if_else(pc.is_null(files.column(f"partition.{name}")), files.column("num_records"),
                                          0)).as_py() or 0
            else:
                nulls = total("null_count", pc.sum)
            numeric = pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)
            low, high = (total("min", pc.min), total("max", pc.max)) if numeric else (None, None)
            columns[name] = data_quality_metrics_dataset.ColumnMetrics(
                nullCount=None if nulls is None else int(nulls),
                min=None if low is None else float(low), max=None if high is None else float(high), quantiles=None,
            )
        return {"rowCount": int(rows), "columnMetrics": columns}
    except Exception as error:
        get_dagster_logger("lineage").warning(f"no data-quality metrics for {uri}: {error}")
        return None


def _scan_profile(context, table: str, uri: str, version: int) -> Optional[dict]:
    """The same metrics plus approximate distinct counts, from one aggregation pass over the slice."""
    try:
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F

        spark = SparkSession.getActiveSession()
        if spark is None:
            return None
        df = spark.read.format("delta").option("versionAsOf", version).load(uri)
        window = _partition_window(context)
        # Delta's SQL rather than its Python API, which a Spark Connect session lacks (resources/delta.py)
        detail = spark.sql("DESCRIBE DETAIL delta.`" + uri.replace("`", "``") + "`") if window else None
        partition_columns = detail.first()["partitionColumns"] if detail is not None else []
        if window is not None and len(partition_columns) == 1:  # the run's slice of a day-partitioned table
            column = partition_columns[0]
            df = df.where((F.col(column) >= F.lit(window.start.date())) & (F.col(column) < F.lit(window.end.date())))
        aggregations = [F.count(F.lit(1)).alias("rows")]
        for i, field in enumerate(df.schema.fields):
            c = F.col(f"`{field.name}`")
            kind = field.dataType.simpleString()
            aggregations.append(F.sum(c.isNull().cast("long")).alias(f"nulls_{i}"))
            if not kind.startswith(("array", "map", "struct", "binary")):
                aggregations.append(F.approx_count_distinct(c).alias(f"distinct_{i}"))
            if kind.startswith(_NUMERIC):
                aggregations += [F.min(c).cast("double").alias(f"min_{i}"), F.max(c).cast("double").alias(f"max_{i}")]
        row = df.agg(*aggregations).first().asDict()
        columns = {}
        for i, field in enumerate(df.schema.fields):
            columns[field.name] = data_quality_metrics_dataset.ColumnMetrics(
                nullCount=int(row[f"nulls_{i}"] or 0),
                distinctCount=int(row[f"distinct_{i}"]) if f"distinct_{i}" in row else None,
                min=row.get(f"min_{i}"), max=row.get(f"max_{i}"), quantiles=None,
            )
        return {"rowCount": int(row["rows"]), "columnMetrics": columns}
    except Exception as error:
        get_dagster_logger("lineage").warning(f"no data-quality metrics for {uri}: {error}")
        return None


# -- helpers ------------------------------------------------------------------------------
def _table(key: AssetKey) -> str:
    return "/".join(key.path)


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


def _partition_window(context):
    """The run's partition (range) time window, or None for unpartitioned assets and checks
    (which a partition-range run also executes, whole)."""
    try:
        definition = context.check_specs[0] if isinstance(context, AssetCheckExecutionContext) else context.assets_def
        if definition.partitions_def is None:
            return None
        return context.partition_time_window
    except Exception:
        return None

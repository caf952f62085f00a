"""Shared test fixtures: one SparkSession per test process, isolated lakehouse roots."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Subprocesses the tests start (dagster CLI, the daemon) run in the `ci` environment.
os.environ.setdefault("LAKEHOUSE_ENV", "ci")


def load_platform_definitions():
    """platform/ is deliberately not a package (it would shadow the stdlib module): load by path."""
    spec = importlib.util.spec_from_file_location("lakehouse_platform_definitions", REPO_ROOT / "platform" / "definitions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def spark_resource():
    from resources.spark import SparkResource

    return SparkResource(app_name="lakehouse-tests", master="local[2]", shuffle_partitions=2, driver_memory="2g")


@pytest.fixture(scope="session")
def spark(spark_resource):
    session = spark_resource.get_session()
    yield session
    session.stop()


def run_graph(defs, instance, *, start=None, end=None, partition=None, selection=None):
    """Materialize the asset graph (or a selection) for a day or, as one run, a range of days."""
    # Private but unavoidable: execute_in_process takes no partition range, and the range tags have no public name.
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    tags = {}
    if start is not None:
        tags = {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end}
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, tags=tags, partition_key=partition, asset_selection=selection, raise_on_error=False
    )


def check_evaluations(result) -> dict[str, object]:
    """Asset check evaluations of a run, keyed by ``asset/key:check_name``."""
    from dagster import DagsterEventType

    evaluations = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            evaluations[f"{data.asset_key.to_user_string()}:{data.check_name}"] = data
    return evaluations


def materializations(result) -> dict[str, dict]:
    """Metadata of each materialized asset in a run, keyed by asset key string."""
    from dagster import DagsterEventType

    out = {}
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            m = event.event_specific_data.materialization
            out[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
    return out


# -- the reference end-to-end run, shared by the pipeline tests and the cluster comparisons --------
REFERENCE_START = "2026-01-01"
REFERENCE_END = "2026-01-03"
# Columns that differ between any two runs by design, and the content hash, which covers the
# landed file's path (runs elsewhere read the same files under another root); ``_orders_version``
# is the silver/orders version a cumulative row was computed from, which depends on how many
# commits built silver (one range run or day after day).
RUN_COLUMNS = {"_ingested_at", "_run_id", "_row_hash", "_orders_version"}
COMPARED_TABLES = [
    "gold/daily_sales", "gold/customer_lifetime_value", "features/customer_features",
    "silver/orders", "silver/quarantine_orders", "silver/customers", "silver/products",
    "bronze/orders", "bronze/rejected_orders",
]


def table_rows(uri: str, landing_root: str, storage_options: dict | None = None) -> list[tuple]:
    """A Delta table's rows read with delta-rs, sorted, without run-specific columns, with the
    landing root in file paths replaced by a placeholder (runs read the same files from different roots)."""
    from deltalake import DeltaTable

    table = DeltaTable(uri, storage_options=storage_options or None).to_pyarrow_table()
    table = table.drop_columns([c for c in table.column_names if c in RUN_COLUMNS])
    root = landing_root.rstrip("/")

    def normal(value):
        return "<landing>" + value[len(root):] if isinstance(value, str) and value.startswith(root) else value

    return sorted((tuple((k, normal(v)) for k, v in sorted(r.items())) for r in table.to_pylist()), key=repr)


@pytest.fixture(scope="session")
def reference_lakehouse(tmp_path_factory, spark):
    """Three generated days through the whole graph in-process, as one range run, on local Spark.

    Tests may add days to it afterwards; ``landing_snapshot`` and ``rows`` keep what the range
    run saw and produced, for comparisons with runs elsewhere (a cluster, Spark Connect)."""
    import shutil

    from dagster import DagsterInstance

    from datagen import GeneratorConfig, generate_landing_zone
    from resources.settings import LakehouseSettings

    root = tmp_path_factory.mktemp("lakehouse")
    previous = os.environ.get("LAKEHOUSE_ROOT")
    os.environ["LAKEHOUSE_ROOT"] = str(root)
    manifest = generate_landing_zone(
        GeneratorConfig(root=str(root / "landing"), customers=300, products=40, orders=1500, days=3,
                        start_date=REFERENCE_START, seed=11)
    )
    snapshot = tmp_path_factory.mktemp("landing-snapshot") / "landing"
    shutil.copytree(root / "landing", snapshot)
    settings = LakehouseSettings(env="ci", root=str(root), start_date=REFERENCE_START)
    defs = load_platform_definitions().build_definitions(settings)
    instance = DagsterInstance.ephemeral()
    result = run_graph(defs, instance, start=REFERENCE_START, end=REFERENCE_END)
    rows = {name: table_rows(str(root / "tables" / name), str(root / "landing")) for name in COMPARED_TABLES} \
        if result.success else {}
    yield {"root": root, "manifest": manifest, "defs": defs, "instance": instance, "result": result,
           "delta": defs.resources["delta"], "landing_snapshot": snapshot, "rows": rows}
    if previous is None:
        os.environ.pop("LAKEHOUSE_ROOT", None)
    else:
        os.environ["LAKEHOUSE_ROOT"] = previous

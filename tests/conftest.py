"""Shared test fixtures: one SparkSession per test process, isolated lakehouse roots."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Tests run in the `ci` environment; set before any project module reads it.
os.environ.setdefault("LAKEHOUSE_ENV", "ci")
os.environ.setdefault("LAKEHOUSE_START_DATE", "2026-01-01")


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

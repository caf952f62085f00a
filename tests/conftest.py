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

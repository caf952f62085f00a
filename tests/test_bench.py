"""The benchmark's plain-Spark baseline must run Spark as the platform's local environment does."""

from __future__ import annotations

from conftest import load_platform_definitions

from resources.settings import LakehouseSettings


def test_plain_spark_baseline_uses_the_local_environment_s_spark_settings(monkeypatch):
    """bench/plain_spark.py copies the settings (importing resources.spark would bring Dagster
    into the baseline's process and its wall time); this keeps the copy from drifting."""
    monkeypatch.setenv("LAKEHOUSE_ENV", "local")
    for name in ("LAKEHOUSE_SPARK_SHUFFLE_PARTITIONS", "LAKEHOUSE_SPARK_LINEAGE"):
        monkeypatch.delenv(name, raising=False)
    spark = load_platform_definitions().RESOURCES_BY_ENV["local"](LakehouseSettings.from_env())["spark"]
    from bench.plain_spark import SPARK_CONF  # after the platform's import of `assets`, which it reuses

    platform_conf = {k: v for k, v in spark.spark_conf().items() if k != "spark.jars"}
    assert SPARK_CONF == platform_conf

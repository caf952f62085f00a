"""The Definitions for the current environment: the one place assets meet resources.

``LAKEHOUSE_ENV`` picks a row of ``RESOURCES_BY_ENV``; the settings it reads
(where data lives, which Spark, which object store) are declared and validated
in resources/settings.py. The in-process executor runs every step of a run in
one process, so the whole asset graph shares one SparkSession (one JVM, or one
Spark Connect session) instead of starting one per step.
"""

from __future__ import annotations

import warnings
from datetime import date
from typing import Any, Callable

from dagster import BetaWarning, Definitions, EnvVar, PreviewWarning, definitions, in_process_executor

# Single-run backfill policies and partitioned asset checks are what make a range backfill one
# Spark job with per-day check results; the platform opts in deliberately, so the process that
# loads the definitions does not warn about them (set here, before the assets are declared).
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

from assets import features
from assets.audit import build_audit_job, build_audit_schedule
from assets.bronze import BRONZE_CHECKS, bronze_assets
from assets.gold import GOLD_CHECKS, gold_assets
from assets.maintenance import SYSTEM_TABLES, build_table_maintenance_job, build_table_maintenance_schedule
from assets.metadata import table_of
from assets.partitions import daily_partitions
from assets.refresh import build_daily_refresh_job, build_daily_refresh_schedule
from assets.reports import report_assets
from assets.silver import SILVER_CHECKS, silver_assets
from resources.alerts import AlertWebhookResource
from resources.delta import DeltaLakeResource
from resources.ingestion_log import IngestionLogResource
from resources.landing import LandingZoneResource
from resources.lineage import LineageResource
from resources.metrics import PushgatewayResource
from resources.object_store import ObjectStoreResource
from resources.reports import ReportFolderResource
from resources.settings import ALERT_WEBHOOK_VARIABLE, LakehouseSettings
from resources.spark import SparkResource
from sensors.alerts import build_check_failure_alert_sensor, build_run_failure_alert_sensor
from sensors.automation import build_automation_sensor
from sensors.landing import build_landing_sensor
from sensors.metrics import build_run_metrics_sensors, build_state_metrics_sensor


def _embedded(shuffle_partitions: int, driver_memory: str) -> Callable[[LakehouseSettings], dict[str, Any]]:
    """In-process Spark (local[*]) with Delta tables on the local filesystem, or a warm Spark
    Connect server on this machine (LAKEHOUSE_SPARK_REMOTE) so a run starts no JVM of its own."""

    def resources(settings: LakehouseSettings) -> dict[str, Any]:
        spark = SparkResource(
            app_name=f"lakehouse-{settings.env}",
            master="local[*]",
            remote=settings.spark_remote,
            shuffle_partitions=settings.shuffle_partitions or shuffle_partitions,
            driver_memory=driver_memory,
            openlineage_listener=_spark_lineage(settings),
        )
        return _lakehouse(settings, spark, object_store=None)

    return resources


def _shared(shuffle_partitions: int, driver_memory: str) -> Callable[[LakehouseSettings], dict[str, Any]]:
    """Spark on a standalone cluster or a Spark Connect server; landing zone and tables in an
    S3-compatible bucket. Credentials stay in the environment until a run resolves them."""

    def resources(settings: LakehouseSettings) -> dict[str, Any]:
        store = settings.object_store
        assert store is not None  # settings validation requires it in shared environments
        object_store = ObjectStoreResource.from_settings(store)
        spark = SparkResource(
            app_name=f"lakehouse-{settings.env}",
            master=settings.spark_master or "local[*]",
            remote=settings.spark_remote,
            shuffle_partitions=settings.shuffle_partitions or shuffle_partitions,
            driver_memory=driver_memory,
            openlineage_listener=_spark_lineage(settings),
        )
        return _lakehouse(settings, spark, object_store)

    return resources


def _lakehouse(settings: LakehouseSettings, spark: SparkResource, object_store: ObjectStoreResource | None) -> dict[str, Any]:
    delta = DeltaLakeResource(spark=spark, root=settings.table_root, object_store=object_store)
    return {
        "spark": spark,
        "delta": delta,
        "landing": LandingZoneResource(root=settings.landing_root, max_file_bytes=settings.max_file_bytes,
                                       object_store=object_store),
        "ingestion_log": IngestionLogResource(delta=delta),
        "reports": ReportFolderResource(root=settings.reports_root, object_store=object_store),
        "lineage": _lineage(settings),
        **_monitoring(settings),
    }


def _spark_lineage(settings: LakehouseSettings) -> dict[str, str]:
    """openlineage-spark's settings when LAKEHOUSE_SPARK_LINEAGE=on: the same namespace and
    destination as the assets' own events (a file beside theirs: two processes never share one)."""
    if not settings.spark_lineage:
        return {}
    conf = {"spark.openlineage.namespace": settings.lineage_namespace}
    if settings.lineage == "file":
        base = settings.lineage_file[: -len(".jsonl")] if settings.lineage_file.endswith(".jsonl") else settings.lineage_file
        conf.update({"spark.openlineage.transport.type": "file", "spark.openlineage.transport.location": f"{base}.spark.jsonl"})
    else:
        conf.update({"spark.openlineage.transport.type": "http",
                     "spark.openlineage.transport.url": settings.openlineage_url,
                     "spark.openlineage.transport.timeoutInMillis": str(int(settings.lineage_timeout_seconds * 1000))})
    return conf


def _lineage(settings: LakehouseSettings) -> LineageResource:
    """OpenLineage events per LAKEHOUSE_LINEAGE: ``file`` (default) appends them to
    ``$LAKEHOUSE_ROOT/lineage/events.jsonl``; ``http`` sends them where the OpenLineage client's
    own configuration says (OPENLINEAGE_URL, openlineage.yml); ``off`` sends nothing."""
    return LineageResource(
        mode=settings.lineage,
        namespace=settings.lineage_namespace,
        file_path=settings.lineage_file,
        table_root=settings.table_root,
        landing_root=settings.landing_root,
        timeout_seconds=settings.lineage_timeout_seconds,
    )


def _monitoring(settings: LakehouseSettings) -> dict[str, Any]:
    """Metrics to the Pushgateway (LAKEHOUSE_PUSHGATEWAY_URL) and alerts to the webhook
    (LAKEHOUSE_ALERT_WEBHOOK_URL, a secret: resolved from the environment when a sensor runs, never
    kept in the settings); either off when its variable is unset. Same in every environment."""
    timeout = settings.monitoring_timeout_seconds
    return {
        "pushgateway": PushgatewayResource(url=settings.pushgateway_url, timeout_seconds=timeout),
        "alert_webhook": AlertWebhookResource(
            url=EnvVar(ALERT_WEBHOOK_VARIABLE) if settings.alert_webhook else None, timeout_seconds=timeout),
    }


RESOURCES_BY_ENV: dict[str, Callable[[LakehouseSettings], dict[str, Any]]] = {
    # A laptop: all cores, a roomy driver.
    "local": _embedded(shuffle_partitions=8, driver_memory="4g"),
    # CI and tests: small data, few shuffle partitions, modest memory.
    "ci": _embedded(shuffle_partitions=2, driver_memory="2g"),
    # Shared servers: the driver (this process) only plans; executors do the work.
    "cluster": _shared(shuffle_partitions=8, driver_memory="2g"),
    "prod": _shared(shuffle_partitions=64, driver_memory="4g"),
}


def build_definitions(settings: LakehouseSettings) -> Definitions:
    if settings.env not in RESOURCES_BY_ENV:
        raise ValueError(
            f"LAKEHOUSE_ENV={settings.env!r} is not a known environment; "
            f"choose one of: {', '.join(sorted(RESOURCES_BY_ENV))}"
        )
    first_day = date.fromisoformat(settings.start_date)
    last_day = date.fromisoformat(settings.end_date) if settings.end_date else None
    days = daily_partitions(settings.start_date, settings.end_date)
    assets = [*bronze_assets(days), *silver_assets(days), *gold_assets(days),
              features.customer_features_asset(days), *report_assets]
    maintenance = build_table_maintenance_job([key for asset in assets for key in asset.keys],
                                              vacuum_retention_hours=settings.vacuum_retention_hours)
    audit = build_audit_job([*BRONZE_CHECKS, *SILVER_CHECKS, *GOLD_CHECKS, *features.CHECKS], days)
    refresh = build_daily_refresh_job(days)
    return Definitions(
        assets=assets,
        sensors=[
            build_landing_sensor(first_day, last_day, settings.sensor_interval_seconds, settings.settle_seconds,
                                 settings.automation_running),
            build_automation_sensor(settings.sensor_interval_seconds, settings.automation_running),
            *build_run_metrics_sensors(bool(settings.pushgateway_url), settings.sensor_interval_seconds),
            build_state_metrics_sensor([*(table_of(key) for asset in assets for key in asset.keys), *SYSTEM_TABLES],
                                       first_day, last_day, settings.metrics_interval_seconds,
                                       bool(settings.pushgateway_url)),
            build_run_failure_alert_sensor(settings.alert_webhook, settings.sensor_interval_seconds),
            build_check_failure_alert_sensor(settings.alert_webhook, settings.sensor_interval_seconds),
        ],
        jobs=[refresh, maintenance, audit],
        schedules=[build_daily_refresh_schedule(refresh, settings.automation_running),
                   build_table_maintenance_schedule(maintenance, settings.automation_running),
                   build_audit_schedule(audit, settings.automation_running)],
        resources=RESOURCES_BY_ENV[settings.env](settings),
        executor=in_process_executor,
    )


@definitions
def defs() -> Definitions:
    """What Dagster loads (``dagster dev -f``, ``dagster asset materialize -f``, workspace.yaml): the
    Definitions for the settings in this process's environment, read when Dagster loads them."""
    return build_definitions(LakehouseSettings.from_env())

"""The platform's Prometheus metrics, and pushing them to a Pushgateway without ever failing.

Runs are batch processes: nothing is left to scrape when they end. So sensors read what a
finished run recorded in the Dagster instance (sensors/metrics.py) and push it here, and a
gauge sensor pushes what is true right now (landing backlog, Delta table sizes). Prometheus
scrapes the Pushgateway (``honor_labels: true``, platform/prometheus/prometheus.yml).

Every exported metric is declared once below (``METRICS``); docs/runbook.md says what each means
and what to do when it is off. Pushes are grouped so that a group holds the latest value of
each series and the label sets stay bounded (no run ids): a push replaces its whole group.

- ``lakehouse_runs`` grouped by ``dagster_job``: the job's run counts and its last run;
- ``lakehouse_assets`` grouped by ``table``: the last write of each table, whichever job made it
  (one group per job would lose a table whenever a run of that job built only part of the graph,
  as the landing and automation sensors' runs do);
- ``lakehouse_checks`` grouped by ``table``: the last outcome of each of the table's checks;
- ``lakehouse_state``: landing backlog and table sizes.

A Pushgateway that is unset (``LAKEHOUSE_PUSHGATEWAY_URL``) means no pushes; one that fails
(refused, timeout, error status) costs one warning in Dagster's log per evaluation, never a
failed run or sensor tick.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from dagster import ConfigurableResource, get_dagster_logger
from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydantic import Field

from resources.redact import redact_url, scrub

# Pushgateway groups (their `job` label in Prometheus) and the grouping label of each.
RUNS, ASSETS, CHECKS, STATE = "lakehouse_runs", "lakehouse_assets", "lakehouse_checks", "lakehouse_state"
UNPARTITIONED = "unpartitioned"  # the partition label of a table without partitions


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "counter" or "gauge"
    help: str
    group: str
    labels: tuple[str, ...] = ()  # besides the group's grouping label


# -- runs (grouping label: dagster_job) -----------------------------------------------------------
RUNS_TOTAL = Metric("lakehouse_runs_total", "counter",
                    "Finished runs of the job recorded in the Dagster instance, by outcome.", RUNS, ("outcome",))
LAST_RUN_DURATION = Metric("lakehouse_last_run_duration_seconds", "gauge",
                           "Wall-clock time of the job's last finished run, start to end.", RUNS)
LAST_RUN_SUCCESS = Metric("lakehouse_last_run_success", "gauge",
                          "1 when the job's last finished run succeeded, 0 when it failed or was canceled.", RUNS)
LAST_RUN_FINISHED = Metric("lakehouse_last_run_finish_timestamp_seconds", "gauge",
                           "When the job's last finished run ended (Unix time).", RUNS)
LAST_RUN_FAILED_STEPS = Metric("lakehouse_last_run_failed_steps", "gauge",
                               "Steps that failed in the job's last finished run.", RUNS)
LINEAGE_DROPPED = Metric("lakehouse_last_run_lineage_events_dropped", "gauge",
                         "OpenLineage events the job's last finished run could not deliver.", RUNS)

# -- the last write of each table (grouping label: table) -----------------------------------------
ASSET_LABELS = ("partition", "dagster_job")
ASSET_ROWS = Metric("lakehouse_asset_rows", "gauge",
                    "Rows of the table's partition as its last materialization recorded (dagster/row_count).",
                    ASSETS, ASSET_LABELS)
ASSET_ROWS_IN = Metric("lakehouse_asset_rows_in", "gauge",
                       "Records the table's last write read and validated (silver tables).", ASSETS, ASSET_LABELS)
ASSET_ROWS_OUT = Metric("lakehouse_asset_rows_out", "gauge",
                        "Rows the table's last write produced over the run's partitions.", ASSETS, ASSET_LABELS)
ASSET_ROWS_QUARANTINED = Metric("lakehouse_asset_rows_quarantined", "gauge",
                                "Records the table's last write sent to quarantine (silver tables).",
                                ASSETS, ASSET_LABELS)
ASSET_ROWS_REJECTED = Metric("lakehouse_asset_rows_rejected", "gauge",
                             "Landed lines the table's last write rejected as unparseable (bronze tables).",
                             ASSETS, ASSET_LABELS)
ASSET_STEP_DURATION = Metric("lakehouse_asset_step_duration_seconds", "gauge",
                             "Duration of the step that last wrote the table.", ASSETS, (*ASSET_LABELS, "step"))
ASSET_MATERIALIZED = Metric("lakehouse_asset_materialization_timestamp_seconds", "gauge",
                            "When the table was last materialized (Unix time).", ASSETS, ("dagster_job",))

# -- the last outcome of each check (grouping label: table) ---------------------------------------
CHECK_LABELS = ("check", "severity", "dagster_job")
CHECK_PASSED = Metric("lakehouse_check_passed", "gauge",
                      "1 when the check's last evaluation passed, 0 when it failed.", CHECKS, CHECK_LABELS)
CHECK_FAILURES = Metric("lakehouse_check_failure_count", "gauge",
                        "Failing rows or keys of the check's last evaluation (its failure_count; 0 when passed).",
                        CHECKS, CHECK_LABELS)

# -- now (no grouping label) ----------------------------------------------------------------------
LANDING_FILES = Metric("lakehouse_landing_files_waiting", "gauge",
                       "Landed files not yet ingested in their current version.", STATE, ("source",))
LANDING_BYTES = Metric("lakehouse_landing_waiting_bytes", "gauge",
                       "Bytes of the landed files not yet ingested.", STATE, ("source",))
LANDING_AGE = Metric("lakehouse_landing_oldest_file_age_seconds", "gauge",
                     "Age of the oldest landed file not yet ingested (0 when none waits).", STATE, ("source",))
TABLE_BYTES = Metric("lakehouse_table_size_bytes", "gauge",
                     "Bytes of the Delta table's live data files (latest version, from its log).", STATE, ("table",))
TABLE_FILES = Metric("lakehouse_table_files", "gauge",
                     "Live data files of the Delta table (latest version).", STATE, ("table",))
TABLE_VERSION = Metric("lakehouse_table_version", "gauge", "Latest version of the Delta table.", STATE, ("table",))

METRICS: tuple[Metric, ...] = (
    RUNS_TOTAL, LAST_RUN_DURATION, LAST_RUN_SUCCESS, LAST_RUN_FINISHED, LAST_RUN_FAILED_STEPS, LINEAGE_DROPPED,
    ASSET_ROWS, ASSET_ROWS_IN, ASSET_ROWS_OUT, ASSET_ROWS_QUARANTINED, ASSET_ROWS_REJECTED, ASSET_STEP_DURATION,
    ASSET_MATERIALIZED, CHECK_PASSED, CHECK_FAILURES,
    LANDING_FILES, LANDING_BYTES, LANDING_AGE, TABLE_BYTES, TABLE_FILES, TABLE_VERSION,
)
GROUPING_LABEL = {RUNS: "dagster_job", ASSETS: "table", CHECKS: "table", STATE: None}


@dataclass
class Push:
    """One Pushgateway group's values; pushing it replaces the whole group."""

    group: str
    key: Optional[str] = None  # value of the group's grouping label
    samples: dict[Metric, dict[tuple[str, ...], float]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def grouping_key(self) -> dict[str, str]:
        label = GROUPING_LABEL[self.group]
        return {label: self.key} if label else {}

    def set(self, metric: Metric, value: float, **labels: object) -> None:
        if metric.group != self.group or set(labels) != set(metric.labels):
            raise ValueError(f"{metric.name} belongs to {metric.group} with labels {metric.labels}, got {sorted(labels)}")
        self.samples[metric][tuple(str(labels[name]) for name in metric.labels)] = float(value)

    def value(self, metric: Metric, **labels: object) -> Optional[float]:
        return self.samples.get(metric, {}).get(tuple(str(labels[name]) for name in metric.labels))

    def families(self) -> list:
        out = []
        for metric, series in self.samples.items():
            if metric.kind == "counter":
                family = CounterMetricFamily(metric.name.removesuffix("_total"), metric.help, labels=metric.labels)
            else:
                family = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
            for labels, value in sorted(series.items()):
                family.add_metric(list(labels), value)
            out.append(family)
        return out

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_Families(self.families()))
        return registry


class _Families:
    """A collector of fixed metric families (prometheus_client's custom-collector protocol)."""

    def __init__(self, families: list):
        self._families = families

    def collect(self) -> Iterable:
        return iter(self._families)


class PushgatewayResource(ConfigurableResource):
    """Where metrics are pushed (``LAKEHOUSE_PUSHGATEWAY_URL``); unset: nothing is pushed."""

    url: Optional[str] = Field(default=None, description="The Pushgateway's base URL, e.g. http://pushgateway:9091.")
    timeout_seconds: float = Field(default=5.0, description="Longest one push may take before it is given up.")

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def push(self, pushes: Sequence[Push], log: Optional[logging.Logger] = None) -> int:
        """PUT each group; returns how many were pushed. Never raises: the first failure is logged
        as one warning and the remaining groups of this call are not tried (a Pushgateway that
        is down would otherwise cost a timeout per group)."""
        if not self.enabled:
            return 0
        log = log or get_dagster_logger("metrics")
        for done, push in enumerate(pushes):
            try:
                push_to_gateway(self.url, job=push.group, registry=push.registry(), grouping_key=push.grouping_key,
                                timeout=self.timeout_seconds)
            except Exception as error:  # noqa: BLE001 - metrics must never fail a run or a tick
                log.warning(
                    f"Metrics not pushed to the Pushgateway at {redact_url(self.url)} "
                    f"({type(error).__name__}: {scrub(str(error), self.url)}); {len(pushes) - done} of "
                    f"{len(pushes)} group(s) skipped this time. Runs and sensors carry on; see docs/runbook.md."
                )
                return done
        return len(pushes)

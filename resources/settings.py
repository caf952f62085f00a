"""Where the lakehouse lives and which Spark computes it, read once from the environment.

``LAKEHOUSE_ENV`` picks the environment:

- ``local``: in-process Spark, tables and landing zone under ``LAKEHOUSE_ROOT`` on the local disk;
  with ``LAKEHOUSE_SPARK_REMOTE=sc://127.0.0.1:15002`` runs use a warm Spark Connect server on this
  machine instead of starting a JVM each (``make spark-connect``);
- ``ci``: the same, sized for CI (few shuffle partitions, a small driver);
- ``cluster``: Spark from a standalone master (``LAKEHOUSE_SPARK_MASTER=spark://...``) or a Spark
  Connect server (``LAKEHOUSE_SPARK_REMOTE=sc://...``), tables and landing zone on an S3-compatible
  object store (``LAKEHOUSE_S3_*``, credentials in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``);
- ``prod``: the shape of ``cluster``, where the endpoint may be AWS itself.

Monitoring is off until configured: ``LAKEHOUSE_PUSHGATEWAY_URL`` turns on the Prometheus metrics
(pushed by sensors, resources/metrics.py) and ``LAKEHOUSE_ALERT_WEBHOOK_URL`` the run- and
check-failure alerts (sensors/alerts.py). A webhook URL is a secret (Slack's carries its token in the
path): it is validated here but not kept, and the alert resource reads it as an ``EnvVar``.

Every setting is checked here, at load time, and all problems are reported at once, each naming
its variable. Secrets are never read into these settings: resources take them as Dagster
``EnvVar``s, resolved when a run starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_START_DATE = "2026-01-01"
ENVIRONMENTS = ("local", "ci", "cluster", "prod")
SHARED_ENVIRONMENTS = ("cluster", "prod")  # Spark and storage on servers, not in this process
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# VACUUM never deletes files younger than this: Delta's own default (7 days) for how long a
# replaced file may still be read by a query or written by a commit in flight.
MIN_VACUUM_RETENTION_HOURS = 168
ALERT_WEBHOOK_VARIABLE = "LAKEHOUSE_ALERT_WEBHOOK_URL"  # a secret: validated, never stored or echoed


class SettingsError(ValueError):
    """The environment does not describe a usable lakehouse; the message names each variable."""


@dataclass(frozen=True)
class ObjectStoreSettings:
    """An S3-compatible bucket holding the landing zone and the tables under ``prefix``."""

    bucket: str
    prefix: str = "lakehouse"
    endpoint: Optional[str] = None  # None: AWS S3 itself
    region: str = "us-east-1"
    path_style: bool = True  # bucket in the path, as most non-AWS servers want

    @property
    def root(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.strip('/')}" if self.prefix.strip("/") else f"s3://{self.bucket}"

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, env_name: str = "cluster") -> "ObjectStoreSettings":
        """The ``LAKEHOUSE_S3_*`` variables alone, validated as environment ``env_name`` validates them."""
        env = _Environment(os.environ if environ is None else environ)
        store = _object_store(env, env_name)
        env.raise_problems(env_name)
        return store


@dataclass(frozen=True)
class LakehouseSettings:
    env: str
    root: str  # local directory, or s3://bucket/prefix in the shared environments
    start_date: str
    end_date: Optional[str] = None  # last daily partition; none: partitions run up to today
    max_file_bytes: int = 2 * 1024**3  # larger landed files are quarantined
    sensor_interval_seconds: int = 30  # how often the landing and automation sensors evaluate
    settle_seconds: int = 60  # a landed file this old (or unchanged across two ticks) is complete
    automation_running: bool = False  # sensors start running without a click in the UI
    lineage: str = "file"  # where OpenLineage events go: file | http | off (LAKEHOUSE_LINEAGE)
    lineage_namespace: str = "lakehouse"
    lineage_timeout_seconds: float = 5.0  # longest a run waits for the lineage backend per event
    lineage_file_path: Optional[str] = None  # LAKEHOUSE_LINEAGE_FILE; default under a local root
    spark_master: Optional[str] = None  # spark://host:7077 (shared environments)
    spark_remote: Optional[str] = None  # sc://host:15002 (shared environments, or a local warm server)
    shuffle_partitions: Optional[int] = None  # LAKEHOUSE_SPARK_SHUFFLE_PARTITIONS; None: the environment's default
    spark_lineage: bool = False  # LAKEHOUSE_SPARK_LINEAGE: openlineage-spark's listener in the session too
    vacuum_retention_hours: int = MIN_VACUUM_RETENTION_HOURS  # LAKEHOUSE_VACUUM_RETENTION_HOURS: files VACUUM keeps
    object_store: Optional[ObjectStoreSettings] = None
    landing_root_path: Optional[str] = None  # LAKEHOUSE_LANDING_ROOT; default <root>/landing
    table_root_path: Optional[str] = None  # LAKEHOUSE_TABLE_ROOT; default <root>/tables
    openlineage_url: Optional[str] = None  # OPENLINEAGE_URL, where http lineage goes
    pushgateway_url: Optional[str] = None  # LAKEHOUSE_PUSHGATEWAY_URL; None: no metrics are pushed
    metrics_interval_seconds: int = 60  # LAKEHOUSE_METRICS_INTERVAL_SECONDS: backlog and table-size gauges
    alert_webhook: bool = False  # LAKEHOUSE_ALERT_WEBHOOK_URL is set (its value stays in the environment)
    monitoring_timeout_seconds: float = 5.0  # LAKEHOUSE_MONITORING_TIMEOUT_SECONDS: per push or post

    @property
    def landing_root(self) -> str:
        return self.landing_root_path or f"{self.root}/landing"

    @property
    def table_root(self) -> str:
        default = f"{self.root}/tables"
        if default.startswith("s3://"):  # Spark reaches S3 through hadoop-aws's s3a filesystem
            default = "s3a://" + default[len("s3://") :]
        return self.table_root_path or default

    @property
    def reports_root(self) -> str:
        return f"{self.root}/reports"

    @property
    def lineage_file(self) -> str:
        return self.lineage_file_path or f"{self.root}/lineage/events.jsonl"

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "LakehouseSettings":
        env = _Environment(os.environ if environ is None else environ)
        name = env.choice("LAKEHOUSE_ENV", ENVIRONMENTS, "local")
        shared = name in SHARED_ENVIRONMENTS
        spark_master = env.url("LAKEHOUSE_SPARK_MASTER", ("spark",))
        spark_remote = env.url("LAKEHOUSE_SPARK_REMOTE", ("sc",))
        object_store = None
        if shared:
            if bool(spark_master) == bool(spark_remote):
                env.problem(
                    f"exactly one of LAKEHOUSE_SPARK_MASTER (spark://host:7077) or LAKEHOUSE_SPARK_REMOTE "
                    f"(sc://host:15002) is required when LAKEHOUSE_ENV={name}"
                    + (" (both are set)" if spark_master else "")
                )
            object_store = _object_store(env, name)
            if env.get("LAKEHOUSE_ROOT"):
                env.problem(f"LAKEHOUSE_ROOT is not used when LAKEHOUSE_ENV={name}: the lakehouse lives in "
                            f"s3://$LAKEHOUSE_S3_BUCKET/$LAKEHOUSE_S3_PREFIX")
            root = object_store.root
        else:
            for variable in ("LAKEHOUSE_SPARK_MASTER", "LAKEHOUSE_S3_BUCKET"):
                if env.get(variable):
                    env.problem(f"{variable} is only used when LAKEHOUSE_ENV is cluster or prod (it is {name})")
            root = env.get("LAKEHOUSE_ROOT") or str(REPO_ROOT / ".lakehouse")
            if "://" not in root:
                root = str(Path(root).expanduser().resolve())
        lineage = env.choice("LAKEHOUSE_LINEAGE", ("file", "http", "off"), "http" if shared else "file")
        lineage_file = env.get("LAKEHOUSE_LINEAGE_FILE")
        if lineage == "file" and "://" in root and not lineage_file:
            env.problem(f"LAKEHOUSE_LINEAGE=file needs LAKEHOUSE_LINEAGE_FILE (a local path) when LAKEHOUSE_ENV={name}; "
                        f"or send events to a backend with LAKEHOUSE_LINEAGE=http and OPENLINEAGE_URL")
        if lineage == "http" and not (env.has_prefix("OPENLINEAGE_") or Path("openlineage.yml").is_file()
                                      or (Path.home() / ".openlineage" / "openlineage.yml").is_file()):
            env.problem("LAKEHOUSE_LINEAGE=http needs OPENLINEAGE_URL (e.g. http://marquez:5000) or an "
                        "openlineage.yml (OPENLINEAGE_CONFIG); LAKEHOUSE_LINEAGE=off disables lineage")
        spark_lineage = env.boolean("LAKEHOUSE_SPARK_LINEAGE", default=False)
        if spark_lineage and lineage == "off":
            env.problem("LAKEHOUSE_SPARK_LINEAGE=on needs LAKEHOUSE_LINEAGE=file or http (it sends where they send)")
        if spark_lineage and spark_remote:
            env.problem("LAKEHOUSE_SPARK_LINEAGE=on needs an in-process driver: over Spark Connect the listener "
                        "belongs on the Connect server")
        if spark_lineage and lineage == "http" and not env.get("OPENLINEAGE_URL"):
            env.problem("LAKEHOUSE_SPARK_LINEAGE=on with LAKEHOUSE_LINEAGE=http needs OPENLINEAGE_URL")
        vacuum_retention_hours = env.integer("LAKEHOUSE_VACUUM_RETENTION_HOURS", MIN_VACUUM_RETENTION_HOURS)
        if vacuum_retention_hours < MIN_VACUUM_RETENTION_HOURS:
            env.problem(f"LAKEHOUSE_VACUUM_RETENTION_HOURS must be at least {MIN_VACUUM_RETENTION_HOURS} (7 days): "
                        f"VACUUM would delete files that running readers and writers may still need, "
                        f"got {vacuum_retention_hours}")
        alert_webhook = env.get(ALERT_WEBHOOK_VARIABLE)
        if alert_webhook is not None:
            parsed = urlparse(alert_webhook)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:  # the value is a secret: not echoed
                env.problem(f"{ALERT_WEBHOOK_VARIABLE} must be an http:// or https:// URL (its value is not shown)")
        settings = cls(
            env=name,
            root=root.rstrip("/"),
            start_date=env.date("LAKEHOUSE_START_DATE", DEFAULT_START_DATE),
            end_date=env.date("LAKEHOUSE_END_DATE", None),
            max_file_bytes=env.integer("LAKEHOUSE_MAX_FILE_BYTES", 2 * 1024**3),
            sensor_interval_seconds=env.integer("LAKEHOUSE_SENSOR_INTERVAL_SECONDS", 30),
            settle_seconds=env.integer("LAKEHOUSE_SETTLE_SECONDS", 60),
            automation_running=env.boolean("LAKEHOUSE_AUTOMATION", default=False),
            lineage=lineage,
            lineage_namespace=env.get("LAKEHOUSE_LINEAGE_NAMESPACE") or "lakehouse",
            lineage_timeout_seconds=env.number("LAKEHOUSE_LINEAGE_TIMEOUT_SECONDS", 5.0),
            lineage_file_path=lineage_file,
            spark_master=spark_master if shared else None,
            spark_remote=spark_remote,
            shuffle_partitions=env.integer("LAKEHOUSE_SPARK_SHUFFLE_PARTITIONS", 0) or None,
            spark_lineage=spark_lineage,
            vacuum_retention_hours=vacuum_retention_hours,
            object_store=object_store,
            landing_root_path=env.get("LAKEHOUSE_LANDING_ROOT"),
            table_root_path=env.get("LAKEHOUSE_TABLE_ROOT"),
            openlineage_url=env.get("OPENLINEAGE_URL"),
            pushgateway_url=env.url("LAKEHOUSE_PUSHGATEWAY_URL", ("http", "https")),
            metrics_interval_seconds=env.integer("LAKEHOUSE_METRICS_INTERVAL_SECONDS", 60),
            alert_webhook=alert_webhook is not None,
            monitoring_timeout_seconds=env.number("LAKEHOUSE_MONITORING_TIMEOUT_SECONDS", 5.0),
        )
        env.raise_problems(name)
        return settings


def _object_store(env: "_Environment", name: str) -> ObjectStoreSettings:
    bucket = env.required("LAKEHOUSE_S3_BUCKET", name, "the bucket holding landing files and tables")
    endpoint = env.url("LAKEHOUSE_S3_ENDPOINT", ("http", "https"))
    if name == "cluster" and not endpoint:
        env.required("LAKEHOUSE_S3_ENDPOINT", name, "the object store's URL, e.g. http://127.0.0.1:9000")
    if name == "cluster":
        for variable in CREDENTIAL_VARIABLES:
            env.required(variable, name, "the object store's credentials")
    elif (env.get(CREDENTIAL_VARIABLES[0]) is None) != (env.get(CREDENTIAL_VARIABLES[1]) is None):
        env.problem(f"set both {' and '.join(CREDENTIAL_VARIABLES)}, or neither to use the AWS default "
                    f"credential chain (instance profile, web identity)")
    return ObjectStoreSettings(
        bucket=bucket or "",
        prefix=env.get("LAKEHOUSE_S3_PREFIX") or "lakehouse",
        endpoint=endpoint,
        region=env.get("LAKEHOUSE_S3_REGION") or "us-east-1",
        path_style=env.boolean("LAKEHOUSE_S3_PATH_STYLE", default=name == "cluster"),
    )


class _Environment:
    """Reads variables and collects every problem, so one error lists all of them."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ
        self._problems: list[str] = []

    def get(self, name: str) -> Optional[str]:
        value = self._environ.get(name)
        return value.strip() if value and value.strip() else None

    def has_prefix(self, prefix: str) -> bool:
        return any(key.startswith(prefix) and self.get(key) for key in self._environ)

    def problem(self, message: str) -> None:
        self._problems.append(message)

    def raise_problems(self, env_name: str) -> None:
        if self._problems:
            listed = "\n".join(f"  - {p}" for p in self._problems)
            raise SettingsError(f"The lakehouse settings for LAKEHOUSE_ENV={env_name} are not usable:\n{listed}")

    def required(self, name: str, env_name: str, what: str) -> Optional[str]:
        value = self.get(name)
        if value is None:
            self.problem(f"{name} is required when LAKEHOUSE_ENV={env_name} ({what})")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = (self.get(name) or default).lower()
        if value not in choices:
            self.problem(f"{name} must be one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def url(self, name: str, schemes: tuple[str, ...]) -> Optional[str]:
        value = self.get(name)
        if value is not None:
            parsed = urlparse(value)
            if parsed.scheme not in schemes or not parsed.netloc:
                self.problem(f"{name} must be a {' or '.join(s + '://' for s in schemes)}host:port URL, got {value!r}")
                return None
        return value

    def integer(self, name: str, default: int) -> int:
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            self.problem(f"{name} must be a whole number, got {value!r}")
            return default

    def number(self, name: str, default: float) -> float:
        value = self.get(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            self.problem(f"{name} must be a number, got {value!r}")
            return default

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() in ("on", "1", "true", "yes"):
            return True
        if value.lower() in ("off", "0", "false", "no"):
            return False
        self.problem(f"{name} must be on/off (or true/false), got {value!r}")
        return default

    def date(self, name: str, default: Optional[str]) -> Optional[str]:
        from datetime import date

        value = self.get(name)
        if value is None:
            return default
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            self.problem(f"{name} must be a date like 2026-01-01, got {value!r}")
            return default

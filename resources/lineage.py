"""OpenLineage emission that can never fail or stall a data run.

``LineageResource`` wraps openlineage-python's client. ``mode`` picks where
events go:

- ``file``: one JSON event per line appended to ``file_path`` (locally
  ``$LAKEHOUSE_ROOT/lineage/events.jsonl``), for people and tests to read;
- ``http``: the client's own configuration, untouched: ``openlineage.yml``
  (``OPENLINEAGE_CONFIG``, the working directory or ``~/.openlineage``) or the
  ``OPENLINEAGE_URL`` / ``OPENLINEAGE_API_KEY`` / ``OPENLINEAGE__TRANSPORT__*``
  environment variables. Endpoints and keys never appear in code;
- ``off``: nothing is built or sent (and no data-quality profile is computed).

Every event is sent from a short-lived daemon thread that the run waits for at
most ``timeout_seconds``. An error or a timeout drops the event (counted in
``dropped_events``, logged as a warning) and opens a circuit breaker: the events
of the next ``retry_after_seconds`` are dropped without trying, so an unreachable
backend costs a run at most one timeout per ``retry_after_seconds``, whatever
the transport's own retry settings are.

Datasets are named as openlineage-spark names the same paths, so events from
both sources meet in a backend: namespace ``file`` and the absolute path for
local files; namespace ``s3://bucket`` and the key for object stores. Fields the
spec types as ``format: uri`` (a dataset's dataSource ``uri``, ``producer``) are
absolute URIs: ``file``, a namespace but no URI, becomes ``file:///``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Literal, Optional
from urllib.parse import urlparse

from dagster import ConfigurableResource, InitResourceContext, get_dagster_logger
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import RunEvent
from openlineage.client.transport.file import FileConfig, FileTransport
from pydantic import Field, PrivateAttr, field_validator

# URI naming this producer in every event and facet (an URN: the project has no public URL).
PRODUCER = "urn:lakehouse-platform:dagster-assets"


def dataset_identity(uri: str) -> tuple[str, str]:
    """(namespace, name) of a path or URI, as openlineage-spark names it."""
    if "://" not in uri and not uri.startswith("file:"):
        return "file", str(Path(uri).absolute())
    parsed = urlparse(uri)
    scheme = parsed.scheme
    if scheme == "file":
        return "file", "/" + parsed.path.lstrip("/")
    if scheme in ("s3a", "s3n"):
        scheme = "s3"
    return f"{scheme}://{parsed.netloc}", parsed.path.lstrip("/")


def namespace_uri(namespace: str) -> str:
    """A dataset namespace as the absolute URI of its data source (the dataSource facet's ``uri``,
    ``format: uri`` in the spec): ``s3://bucket`` as it is; openlineage-spark's bare ``file``, which
    has no scheme and so is no URI, as ``file:///``, the local file system its absolute paths name."""
    if namespace == "file":
        return "file:///"
    if not urlparse(namespace).scheme:
        raise ValueError(f"dataset namespace {namespace!r} is not a URI")
    return namespace


class LineageResource(ConfigurableResource):
    """Sends OpenLineage events; see the module docstring for modes and failure handling."""

    mode: Literal["file", "http", "off"] = "file"
    namespace: str = Field(default="lakehouse", description="OpenLineage namespace of the platform's jobs.")
    file_path: Optional[str] = Field(default=None, description="Events file for mode=file (JSON lines, appended).")
    table_root: str = Field(description="Where the Delta tables live (to name input and output datasets).")
    landing_root: str = Field(description="Where landed files live (bronze's inputs).")
    timeout_seconds: float = Field(default=5.0, description="Longest a run waits for one event to be sent.")
    retry_after_seconds: float = Field(
        default=60.0, description="After a failed send, drop events without trying for this long."
    )
    profile: Literal["statistics", "scan", "off"] = Field(
        default="statistics",
        description="Data-quality metrics of written tables: 'statistics' reads row and null counts and numeric "
        "min/max from Delta's file statistics (no data scan); 'scan' adds approximate distinct counts at the "
        "cost of one aggregation pass over the written slice; 'off' sends none.",
    )
    producer: str = Field(default=PRODUCER, description="URI of the producer, in every event and facet.")

    @field_validator("producer")
    @classmethod
    def _producer_is_a_uri(cls, value: str) -> str:
        if not urlparse(value).scheme:  # the spec's `format: uri`: a scheme, at least
            raise ValueError(f"the OpenLineage producer must be an absolute URI, not {value!r}")
        return value

    _client: Optional[OpenLineageClient] = PrivateAttr(default=None)
    _dropped: int = PrivateAttr(default=0)
    _sent: int = PrivateAttr(default=0)
    _blocked_seconds: float = PrivateAttr(default=0.0)
    _closed_until: float = PrivateAttr(default=0.0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    # -- lifecycle -----------------------------------------------------------
    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._client = None
        self._dropped = self._sent = 0
        self._blocked_seconds = self._closed_until = 0.0

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @property
    def dropped_events(self) -> int:
        """Events not delivered in this process (errors, timeouts, open circuit)."""
        return self._dropped

    @property
    def sent_events(self) -> int:
        return self._sent

    @property
    def blocked_seconds(self) -> float:
        """Total time runs spent waiting on the lineage backend."""
        return self._blocked_seconds

    def _get_client(self) -> OpenLineageClient:
        if self._client is None:
            if self.mode == "file":
                if not self.file_path:
                    raise ValueError("LineageResource(mode='file') needs file_path")
                Path(self.file_path).parent.mkdir(parents=True, exist_ok=True)
                transport = FileTransport(FileConfig(log_file_path=self.file_path, append=True))
                self._client = OpenLineageClient(transport=transport)
            else:
                # The client's standard resolution: openlineage.yml, OPENLINEAGE__* or OPENLINEAGE_URL.
                self._client = OpenLineageClient()
                if self._client.transport.kind == "console":
                    get_dagster_logger("lineage").warning(
                        "LAKEHOUSE_LINEAGE=http but no OpenLineage transport is configured "
                        "(set OPENLINEAGE_URL or provide openlineage.yml); events go to the console log"
                    )
        return self._client

    # -- dataset names -------------------------------------------------------
    def table_uri(self, table: str) -> str:
        return f"{self.table_root.rstrip('/')}/{table}"

    def landing_uri(self, source: str) -> str:
        return f"{self.landing_root.rstrip('/')}/{source}"

    # -- sending -------------------------------------------------------------
    def emit(self, event: RunEvent) -> bool:
        """Send ``event``; True when delivered. Never raises, never waits longer than the timeout."""
        if not self.enabled:
            return False
        log = get_dagster_logger("lineage")
        now = time.monotonic()
        if now < self._closed_until:
            self.count_dropped()
            return False
        try:
            client = self._get_client()
        except Exception as error:  # a broken configuration must not fail the run either
            self._fail(log, f"cannot build the OpenLineage client: {error}")
            return False

        outcome: dict[str, BaseException] = {}
        done = threading.Event()

        def send() -> None:
            try:
                client.emit(event)
            except BaseException as error:  # noqa: BLE001 - reported to the waiting run below
                outcome["error"] = error
            finally:
                done.set()

        threading.Thread(target=send, name="openlineage-emit", daemon=True).start()
        finished = done.wait(self.timeout_seconds)
        self._blocked_seconds += time.monotonic() - now
        if not finished:
            self._fail(log, f"no answer within {self.timeout_seconds:g}s")
            return False
        if "error" in outcome:
            self._fail(log, f"{type(outcome['error']).__name__}: {outcome['error']}")
            return False
        self._sent += 1
        return True

    def count_dropped(self) -> None:
        """An event that was not sent (here or because it could not be built)."""
        with self._lock:
            self._dropped += 1

    def _fail(self, log, reason: str) -> None:
        self.count_dropped()
        self._closed_until = time.monotonic() + self.retry_after_seconds
        log.warning(
            f"OpenLineage event dropped ({reason}); lineage events are dropped without trying for the next "
            f"{self.retry_after_seconds:g}s. Dropped so far: {self._dropped}. The data run carries on."
        )

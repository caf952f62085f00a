"""Every delta-rs read goes through dagster-deltalake's ``DeltaTableResource``.

``DeltaLakeResource.delta_rs_table`` builds the library's resource (``LocalConfig`` for a local
root, the object store's settings as ``S3Config``/``ClientConfig``) and calls ``load()``; the
ingestion log, ``platform/summary.py`` and the report read through it. No Spark here: tables are
written with delta-rs itself, as Spark would lay them out.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from dagster import materialize
from dagster_deltalake import DeltaTableResource, LocalConfig, S3Config
from deltalake import write_deltalake

from resources.delta import DeltaLakeResource, LakehouseDeltaTable, delta_table_storage
from resources.object_store import ObjectStoreResource
from resources.spark import SparkResource

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-Value-that-must-not-print"


@pytest.fixture()
def loads(monkeypatch):
    """The URLs and versions ``DeltaTableResource.load()`` opened, in order."""
    opened: list[tuple[str, object]] = []
    original = DeltaTableResource.load

    def load(self):
        opened.append((self.url, self.version))
        return original(self)

    monkeypatch.setattr(DeltaTableResource, "load", load)
    return opened


@pytest.fixture()
def delta(tmp_path) -> DeltaLakeResource:
    return DeltaLakeResource(spark=SparkResource(app_name="no-session"), root=str(tmp_path / "tables"))


def gold_daily_sales(delta: DeltaLakeResource) -> None:
    """Two days of gold/daily_sales, one commit per day, partitioned by order_date as Spark writes it."""
    schema = pa.schema([("order_date", pa.date32()), ("category", pa.string()), ("orders", pa.int64()),
                        ("units", pa.int64()), ("revenue", pa.decimal128(18, 2)), ("customers", pa.int64())])
    days = [
        [(date(2026, 1, 1), "books", 2, 3, Decimal("30.10"), 2), (date(2026, 1, 1), "toys", 1, 1, Decimal("5.00"), 1)],
        [(date(2026, 1, 2), "books", 1, 4, Decimal("12.25"), 1), (date(2026, 1, 2), "games", 3, 3, Decimal("99.99"), 3)],
    ]
    for rows in days:
        write_deltalake(delta.uri("gold/daily_sales"), pa.Table.from_pylist(
            [dict(zip(schema.names, row)) for row in rows], schema=schema), partition_by=["order_date"], mode="append")


def test_tables_open_through_the_library_resource_at_any_version(delta, loads):
    gold_daily_sales(delta)
    assert delta.exists("gold/daily_sales") and not delta.exists("gold/missing")
    latest = delta.delta_rs_table("gold/daily_sales")
    assert latest.version() == 1
    assert sorted(latest.to_pyarrow_table().column("category").to_pylist()) == ["books", "books", "games", "toys"]
    first = delta.delta_rs_table("gold/daily_sales", version=0).to_pyarrow_table()
    assert sorted(first.column("revenue").to_pylist()) == [Decimal("5.00"), Decimal("30.10")]
    assert delta.version("gold/daily_sales") == 1 and delta.version("gold/missing") is None
    url = delta.uri("gold/daily_sales")
    assert loads[:2] == [(url, None), (url, 0)]
    assert isinstance(delta.delta_table_resource("gold/daily_sales").storage_options, LocalConfig)


def test_object_store_settings_map_onto_the_library_s3_config_and_never_print_the_keys():
    store = ObjectStoreResource(bucket="lake", prefix="p", endpoint="http://127.0.0.1:9000", region="eu-west-1",
                                access_key_id="AKIDEXAMPLE", secret_access_key=SECRET)
    delta = DeltaLakeResource(spark=SparkResource(app_name="no-session"), root=store.table_root, object_store=store)
    resource = delta.delta_table_resource("gold/daily_sales", version=4)
    assert isinstance(resource, LakehouseDeltaTable) and isinstance(resource.storage_options, S3Config)
    assert resource.url == "s3://lake/p/tables/gold/daily_sales" and resource.version == 4
    s3 = resource.storage_options
    assert (s3.region, s3.endpoint, s3.virtual_hosted_style_request) == ("eu-west-1", "http://127.0.0.1:9000", "false")
    assert (s3.access_key_id, s3.secret_access_key) == ("AKIDEXAMPLE", SECRET)
    assert resource.client_options.allow_http is True
    # What load() hands delta-rs carries every setting of the object store's own options.
    options = {k.lower(): v.lower() for k, v in resource.options().items()}
    for name, value in store.delta_rs_options().items():
        assert options[name.lower().removeprefix("aws_").replace("endpoint_url", "endpoint")] == value.lower()
    assert delta.storage_options == resource.options()
    assert SECRET not in repr(resource) and SECRET not in str(resource)
    assert "eu-west-1" in repr(resource)  # the rest of the settings still show
    # A local root: LocalConfig, no client options.
    storage, client = delta_table_storage(None)
    assert isinstance(storage, LocalConfig) and client is None


def test_an_object_store_option_without_a_library_field_is_refused_by_name(monkeypatch):
    store = ObjectStoreResource(bucket="lake", secret_access_key=SECRET, access_key_id="AKID")
    monkeypatch.setattr(ObjectStoreResource, "delta_rs_options", lambda self: {"AWS_SESSION_TOKEN": SECRET})
    with pytest.raises(ValueError, match="AWS_SESSION_TOKEN") as raised:
        delta_table_storage(store)
    assert SECRET not in str(raised.value)


def test_the_ingestion_log_is_read_through_the_library_resource(delta, loads):
    from resources.ingestion_log import INGESTED, LOG_TABLE, QUARANTINED, IngestionLogResource

    log = IngestionLogResource(delta=delta)
    assert log.entries() == {} and loads == [(delta.uri(LOG_TABLE), None)]
    when = datetime(2026, 1, 2, 3, 4, 5)
    rows = [
        dict(source="orders", path="/l/orders/2026-01-01/a.jsonl", landed_date=date(2026, 1, 1), size=10,
             mtime_ns=7, modified_at=when, status=INGESTED, reason=None, lines=3, rows_accepted=2, rows_rejected=1,
             table_version=4, run_id="r1", ingested_at=when),
        dict(source="customers", path="/l/customers/2026-01-01/c.csv", landed_date=date(2026, 1, 1), size=5,
             mtime_ns=8, modified_at=when, status=QUARANTINED, reason="empty", lines=None, rows_accepted=0,
             rows_rejected=0, table_version=None, run_id="r1", ingested_at=when),
    ]
    schema = pa.schema([("source", pa.string()), ("path", pa.string()), ("landed_date", pa.date32()),
                        ("size", pa.int64()), ("mtime_ns", pa.int64()), ("modified_at", pa.timestamp("us")),
                        ("status", pa.string()), ("reason", pa.string()), ("lines", pa.int64()),
                        ("rows_accepted", pa.int64()), ("rows_rejected", pa.int64()), ("table_version", pa.int64()),
                        ("run_id", pa.string()), ("ingested_at", pa.timestamp("us"))])
    write_deltalake(delta.uri(LOG_TABLE), pa.Table.from_pylist(rows, schema=schema), partition_by=["source"])
    orders = log.entries("orders")
    assert list(orders) == [("orders", "/l/orders/2026-01-01/a.jsonl")]
    entry = orders[("orders", "/l/orders/2026-01-01/a.jsonl")]
    assert (entry.fingerprint, entry.rows_accepted, entry.table_version) == ((10, 7), 2, 4)
    assert entry.modified_at == when.replace(tzinfo=timezone.utc)
    assert log.entries()[("customers", "/l/customers/2026-01-01/c.csv")].reason == "empty"
    assert len(loads) == 3 and {url for url, _ in loads} == {delta.uri(LOG_TABLE)}


def test_the_summary_counts_rows_and_versions_through_the_library_resource(delta, loads):
    gold_daily_sales(delta)
    spec = importlib.util.spec_from_file_location("lakehouse_platform_summary", REPO_ROOT / "platform" / "summary.py")
    summary = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(summary)
    [line] = summary.table_lines(delta.root)
    assert line.split() == ["gold/daily_sales", "4", "rows", "version", "1"]
    assert loads == [(delta.uri("gold/daily_sales"), None)]


def test_the_report_sums_gold_read_through_the_library_resource(delta, loads, tmp_path):
    from assets.reports import category_sales_summary
    from resources.lineage import LineageResource
    from resources.reports import ReportFolderResource

    gold_daily_sales(delta)
    result = materialize([category_sales_summary], resources={
        "delta": delta,
        "reports": ReportFolderResource(root=str(tmp_path / "reports")),
        "lineage": LineageResource(mode="off", table_root=delta.root, landing_root=str(tmp_path / "landing")),
    })
    assert result.success
    csv = (tmp_path / "reports" / "category_sales_summary.csv").read_text().splitlines()
    assert csv == [
        "category,revenue,orders,units,days",
        "games,99.99,3,3,1",
        "books,42.35,3,7,2",
        "toys,5.0,1,1,1",
    ]
    [materialization] = result.asset_materializations_for_node("reports__category_sales_summary")
    assert materialization.metadata["source_delta_version"].value == 1
    assert materialization.metadata["dagster/row_count"].value == 3
    assert loads == [(delta.uri("gold/daily_sales"), None)]


def test_no_platform_module_opens_a_delta_table_by_hand():
    """``deltalake.DeltaTable(...)`` appears only where ``DeltaTableResource`` cannot serve
    (``is_deltatable`` in DeltaLakeResource.exists); every other open is ``delta_rs_table``."""
    opens = re.compile(r"\bDeltaTable\s*\(")
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}"
        for folder in ("assets", "resources", "sensors", "platform")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if opens.search(line)
    ]
    assert found == []


@pytest.mark.servers
def test_delta_rs_reads_the_object_store_with_the_library_s3_config(monkeypatch, tmp_path):
    """Against S3Proxy, with the keys only in the resource (none in this process's environment),
    so the mapped S3Config is what authenticates; a wrong key is refused."""
    from deltalake.exceptions import DeltaError

    from tests.servers.object_store import s3proxy_server

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with s3proxy_server(bucket="lakehouse-test", workdir=tmp_path / "s3proxy") as server:
        store = ObjectStoreResource(bucket=server.bucket, prefix="lib", endpoint=server.endpoint, region=server.region,
                                    access_key_id=server.access_key_id, secret_access_key=server.secret_access_key)
        delta = DeltaLakeResource(spark=SparkResource(app_name="no-session"), root=store.table_root, object_store=store)
        table = store.uri("tables", "gold/daily_sales", scheme="s3")
        for day, ids in (("2026-01-01", [1, 2]), ("2026-01-02", [3])):
            write_deltalake(table, pa.table({"id": ids, "day": [day] * len(ids)}), partition_by=["day"],
                            mode="append", storage_options=store.delta_rs_options())
        assert delta.exists("gold/daily_sales") and not delta.exists("gold/missing")
        assert delta.version("gold/daily_sales") == 1
        assert sorted(delta.delta_rs_table("gold/daily_sales").to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]
        assert delta.delta_rs_table("gold/daily_sales", version=0).to_pyarrow_table().num_rows == 2
        wrong_key = ObjectStoreResource(bucket=server.bucket, prefix="lib", endpoint=server.endpoint,
                                        region=server.region, access_key_id=server.access_key_id,
                                        secret_access_key="wrong")
        wrong = DeltaLakeResource(spark=SparkResource(app_name="no-session"), root=store.table_root,
                                  object_store=wrong_key)
        with pytest.raises((DeltaError, OSError)):
            wrong.delta_rs_table("gold/daily_sales").version()

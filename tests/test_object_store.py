"""The object-store path of the `cluster` environment against a real S3 server (S3Proxy).

Spark writes a partitioned Delta table through s3a (in a subprocess: the shared
test SparkSession cannot take s3a settings), delta-rs reads it back, pyarrow
lists and reads landing files, and delta-rs writes its own table, including a
commit race that only a server honouring conditional PUT resolves correctly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from dagster import EnvVar

from resources.object_store import ObjectStoreResource

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server():
    from servers.object_store import s3proxy_server

    with s3proxy_server(bucket="lakehouse-test") as running:
        yield running


@pytest.fixture(scope="module")
def store(server, monkeypatch_module):
    for name, value in server.env(prefix="it").items():
        monkeypatch_module.setenv(name, value)
    return ObjectStoreResource.from_env()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_s3a_jars_match_pyspark_and_shadow_nothing():
    from resources.jars import hadoop_version, jar_paths, pyspark_jars_dir, s3a_artifacts
    from servers import platform_jars

    artifacts = {a.artifact: a for a in s3a_artifacts()}
    assert artifacts["hadoop-aws"].version == hadoop_version()
    assert "s3" in artifacts and "s3-transfer-manager" in artifacts and "bundle" not in artifacts
    # Nothing pyspark already ships gets a second, possibly older, copy.
    assert not set(artifacts) & set(platform_jars().jar_artifact_ids(pyspark_jars_dir()))
    assert all(Path(p).is_file() for p in jar_paths(list(artifacts.values())))


@pytest.mark.servers
def test_resource_reads_the_environment_contract(server, store):
    assert store.bucket == server.bucket and store.prefix == "it" and store.endpoint == server.endpoint
    assert isinstance(store.access_key_id, EnvVar) and isinstance(store.secret_access_key, EnvVar)
    assert store.table_root == f"s3a://{server.bucket}/it/tables"
    assert store.landing_root == f"s3://{server.bucket}/it/landing"
    conf = store.spark_conf()
    assert conf["spark.hadoop.fs.s3a.endpoint"] == server.endpoint
    assert conf["spark.hadoop.fs.s3a.secret.key"] == server.secret_access_key
    assert store.delta_rs_options()["AWS_SECRET_ACCESS_KEY"] == server.secret_access_key
    # The secret is never part of the resource's printed form.
    assert server.secret_access_key not in repr(store) and server.secret_access_key not in str(store)


@pytest.mark.servers
def test_pyarrow_lists_and_reads_landing_files(store):
    fs = store.filesystem()
    lines = b'{"order_id": 1, "amount": 9.5}\n{"order_id": 2, "amount": 3.0}\n'
    for day in ("2026-01-01", "2026-01-02"):
        with fs.open_output_stream(store.key("landing", "orders", f"{day}.jsonl")) as out:
            out.write(lines)
    from pyarrow import fs as pafs

    listed = fs.get_file_info(pafs.FileSelector(store.key("landing"), recursive=True))
    files = sorted(info.path for info in listed if info.type == pafs.FileType.File)
    assert files == [store.key("landing", "orders", f"{d}.jsonl") for d in ("2026-01-01", "2026-01-02")]
    assert all(info.size == len(lines) for info in listed if info.type == pafs.FileType.File)
    with fs.open_input_stream(files[0]) as f:
        assert f.read() == lines
    from pyarrow import json as pajson

    with fs.open_input_file(files[1]) as f:
        assert pajson.read_json(f).column("order_id").to_pylist() == [1, 2]


@pytest.mark.servers
def test_spark_writes_delta_over_s3a_and_delta_rs_reads_it(server, store):
    from deltalake import DeltaTable

    env = {**os.environ, **server.env(prefix="it"), "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tests" / "object_store_spark_job.py"), "bronze/orders"],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    out = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    commits = [o["commit"] for o in out if "commit" in o]
    assert [(c["version"], c["operation"]) for c in commits] == [(0, "WRITE"), (1, "WRITE"), (2, "MERGE")]
    assert commits[0]["uri"] == f"s3a://{server.bucket}/it/tables/bronze/orders"
    assert commits[2]["metrics"]["rows_updated"] == 1 and commits[2]["metrics"]["rows_inserted"] == 1
    expected = [
        (1, 11.0, "2026-01-01"), (2, 20.0, "2026-01-01"), (3, 30.0, "2026-01-01"), (10, 100.0, "2026-01-01"),
        (20, 200.0, "2026-01-02"), (21, 210.0, "2026-01-02"), (22, 220.0, "2026-01-02"),
    ]
    assert [tuple(r) for r in out[-1]["rows"]] == expected
    spark_seconds = time.monotonic() - started

    # delta-rs, in this process, reads what Spark committed.
    table = DeltaTable(store.uri("tables", "bronze/orders", scheme="s3"), storage_options=store.delta_rs_options())
    assert table.version() == 2
    assert table.metadata().partition_columns == ["day"]
    assert [h["operation"] for h in table.history()] == ["MERGE", "WRITE", "WRITE"]
    data = table.to_pyarrow_table().sort_by("order_id")
    assert list(zip(*(data.column(c).to_pylist() for c in ("order_id", "amount", "day")))) == expected
    # Time travel through the log Spark wrote: before the day-2 replacement.
    table.load_as_version(0)
    assert sorted(table.to_pyarrow_table().column("order_id").to_pylist()) == [1, 2, 3, 4, 5]
    # The partition layout is real objects in the bucket.
    from pyarrow import fs as pafs

    listed = store.filesystem().get_file_info(pafs.FileSelector(store.key("tables", "bronze/orders"), recursive=False))
    assert {Path(i.path).name for i in listed} >= {"_delta_log", "day=2026-01-01", "day=2026-01-02"}
    print(f"S3Proxy start-up {server.startup_seconds:.2f}s; Spark s3a job {spark_seconds:.1f}s")


@pytest.mark.servers
def test_delta_rs_writes_with_conditional_put(store):
    from deltalake import DeltaTable, write_deltalake

    uri = store.uri("tables", "reports/delta_rs", scheme="s3")
    options = store.delta_rs_options()
    first = pa.table({"id": [1, 2], "day": ["2026-01-01", "2026-01-01"]})
    write_deltalake(uri, first, storage_options=options, partition_by=["day"])
    stale = DeltaTable(uri, storage_options=options)  # a writer holding version 0

    # Another writer commits version 1 meanwhile.
    write_deltalake(uri, pa.table({"id": [3], "day": ["2026-01-02"]}), storage_options=options, mode="append")

    # The stale writer's commit tries version 1 first. The server must refuse to
    # overwrite the existing log entry (If-None-Match: * -> 412); delta-rs then
    # checks for conflicts and commits as version 2. A server ignoring the header
    # would silently replace version 1 and lose row 3.
    stale.delete("id = 1")
    fresh = DeltaTable(uri, storage_options=options)
    assert fresh.version() == 2
    assert [h["operation"] for h in fresh.history()] == ["DELETE", "WRITE", "WRITE"]
    assert sorted(fresh.to_pyarrow_table().column("id").to_pylist()) == [2, 3]

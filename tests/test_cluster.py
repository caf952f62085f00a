"""The `cluster` environment on real servers: the whole asset graph on a Spark standalone
cluster and on a Spark Connect server, with the landing zone and the Delta tables in an
S3-compatible object store.

Every server is a real process started on 127.0.0.1 by this module and stopped by PID:
S3Proxy (tests/servers/object_store.py, the compose stack's start script), a standalone
master with two 1-core workers and a Spark Connect server with Delta and s3a, both from the
installed pyspark (tests/servers/spark.py). Each run is the CLI in a subprocess with
LAKEHOUSE_ENV=cluster and nothing but environment variables to say where things are; Spark
writes the tables through s3a, delta-rs reads them back, and they must equal, row for row,
the tables of the in-process local reference run of the same landing files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import COMPARED_TABLES, REFERENCE_END, REFERENCE_START, table_rows
from servers.object_store import s3proxy_server
from servers.spark import HOST, connect_server, standalone_cluster

pytestmark = [pytest.mark.servers, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")
LANDING_PREFIX = "shared/landing"  # one landing zone, read by every run
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    sys.stderr.write("\ncluster timings (s): " + ", ".join(f"{k}={v:.1f}" for k, v in TIMINGS.items()) + "\n")


@pytest.fixture(scope="module")
def object_store(tmp_path_factory):
    with s3proxy_server(bucket="lakehouse", workdir=tmp_path_factory.mktemp("s3proxy")) as running:
        yield running


@pytest.fixture(scope="module")
def store_resource(object_store):
    from resources.object_store import ObjectStoreResource

    return ObjectStoreResource(bucket=object_store.bucket, prefix="", endpoint=object_store.endpoint,
                               region=object_store.region, access_key_id=object_store.access_key_id,
                               secret_access_key=object_store.secret_access_key)


@pytest.fixture(scope="module")
def landing(reference_lakehouse, store_resource):
    """The reference run's landing files, uploaded to the bucket; returns their s3:// root."""
    from pyarrow import fs

    snapshot = Path(reference_lakehouse["landing_snapshot"])
    bucket_fs = store_resource.filesystem()
    target = f"{store_resource.bucket}/{LANDING_PREFIX}"
    files = [p for p in snapshot.rglob("*") if p.is_file()]
    for path in files:
        fs.copy_files(str(path), f"{target}/{path.relative_to(snapshot)}", destination_filesystem=bucket_fs)
    listed = bucket_fs.get_file_info(fs.FileSelector(target, recursive=True))
    assert sum(1 for info in listed if info.type == fs.FileType.File) == len(files)
    return f"s3://{target}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as running:
        TIMINGS["cluster_start"] = running.timings["cluster_seconds"]
        yield running


@pytest.fixture(scope="module")
def connect(tmp_path_factory, cluster, object_store, store_resource):
    """Spark Connect with Delta and s3a, its executors on the standalone cluster (as in compose);
    the keys reach it through its environment, not its command line."""
    with connect_server(tmp_path_factory.mktemp("spark-connect"), master=cluster.master_url,
                        extra_env=object_store.env()) as running:
        TIMINGS["connect_start"] = running.timings["connect_seconds"]
        yield running


def materialize(tmp_path: Path, object_store, prefix: str, landing: str, **env_vars: str) -> subprocess.CompletedProcess:
    """`dagster asset materialize` of every asset for the reference range, as CI or a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "SPARK_", "PYSPARK_", "AWS_"))}
    env.update(
        LAKEHOUSE_ENV="cluster", LAKEHOUSE_START_DATE=REFERENCE_START,
        LAKEHOUSE_S3_BUCKET=object_store.bucket, LAKEHOUSE_S3_PREFIX=prefix,
        LAKEHOUSE_S3_ENDPOINT=object_store.endpoint, LAKEHOUSE_S3_REGION=object_store.region,
        AWS_ACCESS_KEY_ID=object_store.access_key_id, AWS_SECRET_ACCESS_KEY=object_store.secret_access_key,
        LAKEHOUSE_LANDING_ROOT=landing, LAKEHOUSE_LINEAGE="file",
        LAKEHOUSE_LINEAGE_FILE=str(tmp_path / "lineage.jsonl"), DAGSTER_HOME=str(tmp_path / "dagster_home"),
        **env_vars,
    )
    (tmp_path / "dagster_home").mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    done = subprocess.run(
        [DAGSTER, "asset", "materialize", "-f", "platform/definitions.py", "-d", ".", "--select", "*",
         "--partition-range", f"{REFERENCE_START}...{REFERENCE_END}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    TIMINGS[f"{prefix}_run"] = time.monotonic() - began
    assert done.returncode == 0 and "RUN_SUCCESS" in done.stderr, done.stderr[-6000:]
    assert object_store.secret_access_key not in done.stdout + done.stderr, "a secret reached the logs"
    return done


def assert_same_tables_as_the_reference(reference_lakehouse, store_resource, prefix: str, landing: str) -> None:
    options = store_resource.delta_rs_options()
    for name in COMPARED_TABLES:
        expected = reference_lakehouse["rows"][name]
        assert expected, name
        found = table_rows(f"s3://{store_resource.bucket}/{prefix}/tables/{name}", landing, options)
        assert len(found) == len(expected), name
        assert found == expected, name


def lineage_datasets(path: Path) -> set[tuple[str, str]]:
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(d["namespace"], d["name"]) for e in events for d in e.get("outputs", [])}


def test_pipeline_on_a_standalone_cluster_with_tables_in_the_object_store(
    tmp_path, reference_lakehouse, object_store, store_resource, landing, cluster
):
    assert reference_lakehouse["result"].success
    # SPARK_LOCAL_IP: executors reach the driver (in the subprocess) on loopback
    materialize(tmp_path, object_store, "standalone", landing, LAKEHOUSE_SPARK_MASTER=cluster.master_url,
                SPARK_LOCAL_IP=HOST)
    # the run was an application of this master, with an executor on each worker
    state = cluster.state()
    apps = [a for a in state["activeapps"] + state["completedapps"] if a["name"] == "lakehouse-cluster"]
    assert len(apps) == 1
    for i in range(2):
        assert (cluster.work_dir / f"worker-{i}" / apps[0]["id"]).is_dir()
    assert_same_tables_as_the_reference(reference_lakehouse, store_resource, "standalone", landing)
    # lineage names the tables as openlineage-spark does for s3a paths
    assert ("s3://lakehouse", "standalone/tables/gold/daily_sales") in lineage_datasets(tmp_path / "lineage.jsonl")


def test_pipeline_on_spark_connect_with_tables_in_the_object_store(
    tmp_path, reference_lakehouse, object_store, store_resource, landing, connect
):
    materialize(tmp_path, object_store, "connect", landing, LAKEHOUSE_SPARK_REMOTE=connect.url)
    # the work ran in the server: a Connect session used it, and the client started no JVM
    assert "sessionId" in connect.process.log.read_text()
    assert_same_tables_as_the_reference(reference_lakehouse, store_resource, "connect", landing)
    # the report (written by the code location, not Spark) landed in the bucket too
    report = store_resource.filesystem().open_input_stream(f"{store_resource.bucket}/connect/reports/category_sales_summary.csv")
    assert report.read().decode().startswith("category,revenue,orders,units,days")


# -- the daemon on PostgreSQL, its sensor watching the bucket ---------------------------------
DAEMON_DAY = REFERENCE_START


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the daemon's process group (runs it launched are in it), then SIGKILL."""
    import signal

    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # nothing the daemon launched may outlive the test
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_daemon_on_postgres_ingests_files_landing_in_the_bucket(
    tmp_path, reference_lakehouse, object_store, store_resource, connect
):
    """Files land in the bucket; the daemon's landing sensor notices them and launches the bronze
    run (on Spark Connect); Dagster's runs, events and ticks are in PostgreSQL."""
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
    from deltalake import DeltaTable
    from pyarrow import fs

    from assets.silver.orders import SILVER_ORDERS_POOL
    from servers.postgres import postgres_server

    bin_dir = Path(sys.executable).parent
    with postgres_server(tmp_path) as pg:
        pg.create_database("dagster", "dagster", "dagster-test-password")
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text((REPO_ROOT / "platform" / "dagster.cluster.yaml").read_text())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "SPARK_", "PYSPARK_", "AWS_"))}
        env.update(
            DAGSTER_HOME=str(home), DAGSTER_PG_HOST=pg.host, DAGSTER_PG_PORT=str(pg.port), DAGSTER_PG_USER="dagster",
            DAGSTER_PG_PASSWORD="dagster-test-password", DAGSTER_PG_DB="dagster",
            LAKEHOUSE_ENV="cluster", LAKEHOUSE_SPARK_REMOTE=connect.url, LAKEHOUSE_START_DATE=DAEMON_DAY,
            LAKEHOUSE_END_DATE=DAEMON_DAY, LAKEHOUSE_S3_BUCKET=object_store.bucket, LAKEHOUSE_S3_PREFIX="daemon",
            LAKEHOUSE_S3_ENDPOINT=object_store.endpoint, LAKEHOUSE_S3_REGION=object_store.region,
            AWS_ACCESS_KEY_ID=object_store.access_key_id, AWS_SECRET_ACCESS_KEY=object_store.secret_access_key,
            LAKEHOUSE_LINEAGE="off", LAKEHOUSE_SENSOR_INTERVAL_SECONDS="5", LAKEHOUSE_SETTLE_SECONDS="2",
        )
        # what `make daemon` does for a new instance, then an operator turns the landing sensor on
        for argv in (["dagster", "instance", "concurrency", "set", SILVER_ORDERS_POOL, "1"],
                     ["dagster", "sensor", "start", "landing_files", "-w", "workspace.yaml"]):
            done = subprocess.run([str(bin_dir / argv[0]), *argv[1:]], cwd=REPO_ROOT, env=env, capture_output=True,
                                  text=True, timeout=180)
            assert done.returncode == 0, done.stdout + done.stderr

        # one day's files land in the bucket, each written under a temporary name, then renamed
        snapshot = Path(reference_lakehouse["landing_snapshot"])
        day_files = sorted(p for p in snapshot.rglob(f"date={DAEMON_DAY}/*") if p.is_file())
        bucket_fs = store_resource.filesystem()
        landing = f"{object_store.bucket}/daemon/landing"
        for path in day_files:
            target = f"{landing}/{path.relative_to(snapshot)}"
            partial = target.rsplit("/", 1)[0] + "/_" + path.name
            fs.copy_files(str(path), partial, destination_filesystem=bucket_fs)
            bucket_fs.move(partial, target)

        log = tmp_path / "daemon.log"
        with open(log, "w") as out:
            daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=REPO_ROOT,
                                      env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        previous = {k: os.environ.get(k) for k in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER",
                                                   "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")}
        os.environ.update({k: env[k] for k in previous})
        instance = DagsterInstance.from_config(str(home))
        try:
            deadline = time.monotonic() + 420
            runs = []
            while time.monotonic() < deadline:
                runs = instance.get_runs(filters=RunsFilter(tags={"lakehouse/ingestion": "landing_sensor"}))
                finished = [r for r in runs if r.status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)]
                if finished and len(finished) == len(runs):
                    break
                assert daemon.poll() is None, log.read_text()[-4000:]
                time.sleep(3)
            assert runs and all(r.status == DagsterRunStatus.SUCCESS for r in runs), (
                [(r.run_id, r.status) for r in runs], log.read_text()[-4000:])
            materialized = instance.fetch_materializations(AssetKey(["bronze", "orders"]), limit=10).records
            assert [m.partition_key for m in materialized] == [DAEMON_DAY]
        finally:
            _stop_group(daemon)
            instance.dispose()
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

        # the runs, their events and the sensor's ticks are rows in PostgreSQL
        statuses = pg.psql("SELECT status FROM runs", database="dagster").split()
        assert statuses and set(statuses) == {"SUCCESS"}
        assert int(pg.psql("SELECT count(*) FROM event_logs WHERE asset_key = '[\"bronze\", \"orders\"]' "
                           "AND dagster_event_type = 'ASSET_MATERIALIZATION'", database="dagster")) == 1
        assert int(pg.psql("SELECT count(*) FROM job_ticks", database="dagster")) >= 1

    # every landed file of the day is in the ingestion log; bronze holds what the reference holds
    options = store_resource.delta_rs_options()
    log_rows = DeltaTable(f"s3://{object_store.bucket}/daemon/tables/_system/ingestion_log",
                          storage_options=options).to_pyarrow_table().to_pylist()
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in log_rows) == sorted(p.name for p in day_files)
    assert {r["status"] for r in log_rows} == {"ingested"}
    expected = [r for r in reference_lakehouse["rows"]["bronze/orders"] if dict(r)["_landed_date"].isoformat() == DAEMON_DAY]
    found = table_rows(f"s3://{object_store.bucket}/daemon/tables/bronze/orders", f"s3://{landing}", options)
    assert found == expected

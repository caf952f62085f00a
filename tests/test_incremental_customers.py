"""The customer dimension is rebuilt only for customers whose bronze records changed.

One small generated history, then landing days through Dagster on real Delta tables, in order:
a new day with changes, a late record and a new customer (a, b); the same day again, as a
plain re-run and as a re-ingestion (c); the day's file changed with a record removed (d). After
every step both tables equal a full rebuild from all of bronze with the pure functions, and the
dimension's checks pass (e).
"""

from __future__ import annotations

import csv
import os
from datetime import datetime, timedelta

import pytest
from dagster import AssetKey, DagsterInstance
from pyspark.sql import functions as F

from assets.silver.customers import SilverCustomer
from assets.transforms import silver as t
from assets.transforms.rules import passed, quarantine_rows
from conftest import check_evaluations, load_platform_definitions, materializations

pytestmark = pytest.mark.slow

START = "2026-01-01"
DAY4 = "2026-01-04"
HEADER = ["customer_id", "name", "email", "address", "city", "signup_date", "updated_at"]
SELECTION = [AssetKey(["bronze", "customers"]), AssetKey(["bronze", "rejected_customers"]),
             AssetKey(["silver", "customers"]), AssetKey(["silver", "quarantine_customers"])]
CHECKS = ["silver/customers:customers_reconcile_with_bronze", "silver/customers:customer_history_is_consistent",
          "silver/customers:matches_contract", "silver/customers:primary_key_unique"]


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory, spark):
    from datagen import GeneratorConfig, generate_landing_zone
    from resources.settings import LakehouseSettings

    root = tmp_path_factory.mktemp("incremental-customers")
    previous = os.environ.get("LAKEHOUSE_ROOT")
    os.environ["LAKEHOUSE_ROOT"] = str(root)
    generate_landing_zone(GeneratorConfig(root=str(root / "landing"), customers=20, products=10, orders=20,
                                          days=3, start_date=START, seed=5))
    defs = load_platform_definitions().build_definitions(LakehouseSettings(env="ci", root=str(root), start_date=START))
    state = {"root": root, "defs": defs, "instance": DagsterInstance.ephemeral(), "delta": defs.resources["delta"]}
    yield state
    if previous is None:
        os.environ.pop("LAKEHOUSE_ROOT", None)
    else:
        os.environ["LAKEHOUSE_ROOT"] = previous


def run(lakehouse, partition=None, start=None, end=None, reingest=False):
    # Private but unavoidable: execute_in_process takes no partition range, and the range tags have no public name.
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    tags = {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end} if start else {}
    job = lakehouse["defs"].resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=lakehouse["instance"], tags=tags, partition_key=partition, asset_selection=SELECTION,
        run_config={"ops": {"bronze_customers": {"config": {"reingest": True}}}} if reingest else None,
        raise_on_error=False,
    )
    assert result.success
    evaluations = check_evaluations(result)
    for name in CHECKS:  # (e) after every step
        assert evaluations[name].passed, (name, evaluations[name].metadata)
    return materializations(result)


def rows(df):
    return sorted((tuple(sorted(r.asDict().items())) for r in df.collect()), key=repr)


def assert_equals_full_rebuild(delta):
    """Both tables hold, row for row, what the pure full rebuild makes of every bronze record."""
    checked = t.validate_customer_records(delta.read("bronze/customers"), SilverCustomer)
    history = t.customer_history(t.mark_unchanged(passed(checked)))
    quarantine = quarantine_rows(checked, ["customer_id"], ["_landed_date", "_source_file"])
    assert rows(delta.read("silver/customers")) == rows(history)
    assert rows(delta.read("silver/quarantine_customers")) == rows(quarantine)


def write_customers(lakehouse, day, records):
    path = lakehouse["root"] / "landing" / "customers" / f"date={day}" / f"customers_{day}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(records)


def record(version, **changes):
    row = {"customer_id": version.customer_id, "name": version.name, "email": version.email,
           "address": version.address, "city": version.city, "signup_date": version.signup_date.isoformat(),
           **changes}
    return [row[c] for c in HEADER[:-1]] + [changes["updated_at"]]


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def versions(delta, customer_id, version=None):
    table = delta.read("silver/customers") if version is None else delta.read_version("silver/customers", version)
    return table.where(F.col("customer_id") == customer_id).orderBy("valid_from").collect()


def test_history_then_a_new_day_rebuilds_only_the_changed_customers(lakehouse):
    delta = lakehouse["delta"]
    first = run(lakehouse, start=START, end="2026-01-03")["silver/customers"]
    assert first["computation"].startswith("full: no record")
    assert_equals_full_rebuild(delta)

    history = delta.read("silver/customers")
    counts = {r.customer_id: r["count"] for r in history.groupBy("customer_id").count().collect()}
    late_id = sorted(c for c, n in counts.items() if n >= 2)[0]  # has changed: a late record goes between
    changed_id, other_id = sorted(c for c, n in counts.items() if n == 1)[:2]
    late_before = versions(delta, late_id)
    late_at = late_before[0].valid_from + (late_before[1].valid_from - late_before[0].valid_from) / 2
    changed_now = versions(delta, changed_id)[-1]
    day4 = [
        record(changed_now, email=f"{changed_id.lower()}.moved@mail.example.org", updated_at=f"{DAY4}T08:00:00Z"),
        # (b) landing on day 4, but updated before the customer's current version
        record(late_before[0], city="Tromsø", updated_at=ts(late_at)),
        ["C0099999", "New Person", "new@mail.example.org", "1 New St", "Oslo", DAY4, f"{DAY4}T09:00:00Z"],
        ["", "No Id", "noid@mail.example.org", "2 New St", "Oslo", DAY4, f"{DAY4}T09:00:00Z"],
    ]
    write_customers(lakehouse, DAY4, day4)
    before_version = delta.version("silver/customers")
    before = delta.read("silver/customers")
    before_rows = {(r.customer_id, r.valid_from): r._row_hash for r in before.collect()}
    files_of = {r.customer_id: r.file for r in delta.read_version("silver/customers", before_version)
                .select("customer_id", F.col("_metadata.file_path").alias("file")).collect()}

    meta = run(lakehouse, partition=DAY4)["silver/customers"]

    # (a) only these customers were rebuilt, and the result is the full rebuild's
    rebuilt = {changed_id, late_id, "C0099999"}
    assert meta["computation"].startswith("incremental:"), meta["computation"]
    assert meta["customers_rebuilt"] == 3 and meta["landing_days_changed"] == [DAY4]
    assert meta["rows_in"] == meta["rows_out"] + meta["rows_quarantined"]
    assert meta["rows_quarantined"] == 1  # the record without an id
    assert_equals_full_rebuild(delta)
    after_rows = {(r.customer_id, r.valid_from): r._row_hash for r in delta.read("silver/customers").collect()}
    inserted = after_rows.keys() - before_rows.keys()
    deleted = before_rows.keys() - after_rows.keys()
    updated = {k for k in after_rows.keys() & before_rows.keys() if after_rows[k] != before_rows[k]}
    assert {c for c, _ in inserted | deleted | updated} == rebuilt  # nobody else's rows changed
    assert len(inserted) == 3 and not deleted and len(updated) == 2  # two current versions closed
    assert (meta["delta_rows_inserted"], meta["delta_rows_updated"], meta["delta_rows_deleted"]) == (3, 2, 0)
    # The MERGE rewrote only files holding a rebuilt customer and copied no row from elsewhere.
    # (Here silver/customers is one file, so that file is the whole table; Delta's rows_copied
    # counts the rewritten file's rows, the updated ones included.)
    touched_files = {files_of[c] for c in rebuilt if c in files_of}
    rows_in_touched = sum(1 for f in files_of.values() if f in touched_files)
    assert meta["delta_files_removed"] <= len(touched_files)
    assert meta["delta_rows_copied"] <= rows_in_touched

    # (b) the late record sits between the two versions it fell between; valid_to is fixed
    late_after = versions(delta, late_id)
    assert [v.valid_from for v in late_after] == [late_before[0].valid_from, late_at, *[v.valid_from for v in late_before[1:]]]
    assert late_after[0].valid_to == late_at and late_after[1].valid_to == late_before[1].valid_from
    assert late_after[1].city == "Tromsø" and not late_after[1].is_current
    assert versions(delta, other_id) == versions(delta, other_id, before_version)


def test_rerunning_the_day_changes_nothing(lakehouse):
    delta = lakehouse["delta"]
    snapshot = rows(delta.read("silver/customers")), rows(delta.read("silver/quarantine_customers"))
    dimension_version = delta.version("silver/customers")

    meta = run(lakehouse, partition=DAY4)  # the file is already ingested: bronze does not change
    assert meta["silver/customers"]["computation"].startswith("incremental: bronze/customers unchanged")
    assert meta["silver/customers"]["customers_rebuilt"] == 0

    meta = run(lakehouse, partition=DAY4, reingest=True)  # bronze replaces the day's rows with the same
    customers = meta["silver/customers"]
    assert customers["customers_rebuilt"] == 3
    assert (customers["delta_rows_inserted"], customers["delta_rows_updated"], customers["delta_rows_deleted"]) == (0, 0, 0)
    assert delta.version("silver/customers") == dimension_version  # nothing was committed
    assert (rows(delta.read("silver/customers")), rows(delta.read("silver/quarantine_customers"))) == snapshot
    assert_equals_full_rebuild(delta)


def test_a_record_removed_from_a_reingested_file_leaves_history(lakehouse):
    delta = lakehouse["delta"]
    path = lakehouse["root"] / "landing" / "customers" / f"date={DAY4}" / f"customers_{DAY4}.csv"
    lines = path.read_text().splitlines()
    changed_id = lines[1].split(",")[0]
    path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")  # the first change is withdrawn
    before = versions(delta, changed_id)
    assert before[-1].is_current and before[-1].email.endswith(".moved@mail.example.org")

    meta = run(lakehouse, partition=DAY4)["silver/customers"]
    assert meta["customers_rebuilt"] == 3  # the removed record's customer counts as changed too
    after = versions(delta, changed_id)
    assert len(after) == len(before) - 1 and after[:-1] == before[:-2]
    assert after[-1].is_current and after[-1].valid_to is None and after[-1].valid_from == before[-2].valid_from
    assert after[-1].email == before[-2].email
    assert meta["delta_rows_deleted"] == 1 and meta["delta_rows_updated"] == 1
    assert_equals_full_rebuild(delta)  # and the checks (run()) say every record is accounted for

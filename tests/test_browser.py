"""The UI in a real browser: `make demo` on a small lakehouse, `make ui` (dagster dev), and
Debian's Chromium driven by playwright, as a new user would look at it.

One demo lakehouse (two days, a few hundred orders) and one `dagster dev` serve every test of the
module; the tests run in order and the last one launches a two-day backfill from the UI. A
screenshot of each page is kept in ``.artifacts/screenshots/`` (gitignored); the README shows a
few of them (docs/screenshots/).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from servers import stop_process_group

pytestmark = [pytest.mark.servers, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO_ROOT / ".artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"  # Debian's (make system-packages); playwright downloads no browser here
DAYS = ["2026-01-01", "2026-01-02"]
LAYERS = {"bronze", "silver", "gold", "features", "reports"}
# make's setup stamps count as up to date: the test must never reinstall the environment it runs in
MAKE = ["make", "--no-print-directory", "-o", ".venv/.installed", "-o", ".venv/.jars"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def _rows(root: Path, table: str, column: str) -> dict[str, int]:
    """A Delta table's rows per day of ``column``, read with delta-rs."""
    from collections import Counter

    from deltalake import DeltaTable

    values = DeltaTable(str(root / "tables" / table)).to_pyarrow_table(columns=[column]).column(column).to_pylist()
    return dict(Counter(v.isoformat() for v in values))


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`make demo` for two small days, then `make ui` on a free port (partitions bounded by the
    landed days, as the Makefile sets them), stopped by its process group at the end."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make system-packages, as root)")
    base = tmp_path_factory.mktemp("browser")
    root, home = base / "lakehouse", base / "dagster_home"
    env = {k: v for k, v in os.environ.items() if k not in ("LAKEHOUSE_START_DATE", "LAKEHOUSE_END_DATE")}
    env.update(LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(root), DAGSTER_HOME=str(home))
    with open(base / "make-demo.log", "w") as log:
        demo = subprocess.run([*MAKE, "demo", "DEMO_DAYS=2", "DEMO_ORDERS=300", "DEMO_CUSTOMERS=60",
                               "DEMO_PRODUCTS=20"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=900)
    assert demo.returncode == 0, (base / "make-demo.log").read_text()[-4000:]

    port = _free_port()
    log = open(base / "make-ui.log", "w")
    server = subprocess.Popen([*MAKE, "ui", f"UI_PORT={port}"], cwd=REPO_ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (base / "make-ui.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "dagster dev did not serve the asset graph within 240 s"
            try:
                if _graphql(port, "{ assetNodes { id } }")["assetNodes"]:
                    break
            except (OSError, AssertionError, KeyError, TypeError):
                pass
            time.sleep(2)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        yield {"port": port, "root": root}
    finally:
        stop_process_group(server, timeout=30)
        log.close()


@pytest.fixture(scope="module")
def page(ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        # Dagster's one-time "Join the community" dialog covers the first page a new instance shows
        skip = page.get_by_role("button", name="Skip")
        page.add_locator_handler(skip, lambda: skip.click())
        yield page
        browser.close()


def _open(page, ui, path: str) -> None:
    page.goto(f"http://127.0.0.1:{ui['port']}{path}")
    page.wait_for_load_state("networkidle")


def _screenshot(page, name: str) -> None:
    """Keep the page as ``.artifacts/screenshots/<name>.png``."""
    page.wait_for_timeout(1000)  # let the graph settle
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, path  # a page, not a blank


def test_the_asset_graph_shows_the_five_layers_as_groups(ui, page):
    nodes = _graphql(ui["port"], "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    assert {n["groupName"] for n in nodes} == LAYERS
    assert all(n["groupName"] == n["assetKey"]["path"][0] for n in nodes)

    _open(page, ui, "/asset-groups")
    page.get_by_text("Global asset lineage").wait_for(state="visible")
    for layer in sorted(LAYERS):  # each group is a row of the tree and a node of the graph
        shown = page.get_by_text(layer, exact=True)
        deadline = time.monotonic() + 60
        while shown.count() < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        assert shown.count() >= 2, layer
        shown.last.wait_for(state="visible")
    _screenshot(page, "asset-graph")


def test_a_partitioned_check_shows_passed_for_each_day_of_the_demo(ui, page):
    _open(page, ui, "/assets/silver/orders?view=checks")
    page.get_by_text("matches_contract", exact=True).first.click()
    page.get_by_text("Partitions", exact=True).last.click()  # the check's tab (the asset's is first)
    page.get_by_text("Passed (", exact=False).first.wait_for(state="visible")
    body = page.locator("body").inner_text()
    assert "Passed (2)" in body and "Missing (0)" in body and "Failed (0)" in body, body[-1500:]
    for day in DAYS:
        assert day in body
    _screenshot(page, "check-passed-per-day")


def test_an_asset_page_shows_its_column_lineage_table_and_the_day_s_own_row_count(ui, page):
    _open(page, ui, "/assets/gold/daily_sales")
    label = page.get_by_text("column_lineage_table", exact=True).first
    label.scroll_into_view_if_needed()
    row = page.locator("tr", has=page.get_by_text("column_lineage_table", exact=True)).first
    lineage = row.locator("table").first
    lineage.wait_for(state="visible")
    cells = [c.strip() for c in lineage.locator("th, td").all_inner_texts()]
    assert cells[:3] == ["Column", "Source columns", "Transformation"], cells
    units = cells.index("units")
    assert cells[units + 1: units + 3] == ["silver/orders.quantity", "aggregation: sum(quantity)"], cells
    assert lineage.is_visible()
    _screenshot(page, "column-lineage")

    # the overview's row count is the latest day's own, as stored (not the range's total)
    rows = _rows(ui["root"], "gold/daily_sales", "order_date")
    page.evaluate("window.scrollTo(0, 0)")
    overview = page.locator("body").inner_text()
    assert f"Row count\n{rows[DAYS[-1]]}" in overview, (rows, overview[:1500])
    assert rows[DAYS[-1]] != sum(rows.values())


BACKFILLS = """
{ partitionBackfillsOrError(limit: 10) { ... on PartitionBackfills { results {
    id status partitionSetName numPartitions
    runs(limit: 50) { runId status jobName tags { key value } } } } } }
"""


def test_a_two_day_backfill_from_the_daily_refresh_job_is_one_successful_run(ui, page):
    """docs/operations.md: a range launched from the daily_refresh job's page is ONE run of every
    asset; with the partitions bounded by the data the cumulative tables stop at the last day."""
    features_before = _rows(ui["root"], "features/customer_features", "as_of_date")
    assert sorted(features_before) == DAYS

    _open(page, ui, "/locations/lakehouse/jobs/daily_refresh/partitions")
    page.get_by_text("Total partitions").wait_for(state="visible")
    assert "2\nTotal partitions" in page.locator("body").inner_text()  # the demo's days, not every day to today
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="All", exact=True).click()
    dialog.get_by_text("2 partitions").wait_for(state="visible")
    _screenshot(page, "backfill-dialog")
    dialog.get_by_role("button", name="Launch backfill").click()
    page.get_by_role("dialog").wait_for(state="detached")

    deadline = time.monotonic() + 900
    while True:
        backfills = _graphql(ui["port"], BACKFILLS)["partitionBackfillsOrError"]["results"]
        if backfills and backfills[0]["status"] not in ("REQUESTED",) and all(
                r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in backfills[0]["runs"]):
            break
        assert time.monotonic() < deadline, f"the backfill did not finish within 900 s: {backfills}"
        time.sleep(5)
    [backfill] = backfills
    assert backfill["partitionSetName"] == "daily_refresh_partition_set" and backfill["numPartitions"] == 2
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    [run] = backfill["runs"]  # the documented number: one run for the range and every asset
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (run["jobName"], run["status"]) == ("daily_refresh", "SUCCESS")
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == tuple(DAYS)

    _open(page, ui, f"/runs/b/{backfill['id']}?tab=runs")
    page.get_by_text(run["runId"][:8]).first.wait_for(state="visible")
    _screenshot(page, "backfill-one-run")

    # re-running the days left the cumulative tables as they were, ending at the last landed day
    assert _rows(ui["root"], "features/customer_features", "as_of_date") == features_before
    assert max(_rows(ui["root"], "gold/customer_lifetime_value", "as_of_date")) == DAYS[-1]


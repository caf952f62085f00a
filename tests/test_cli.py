"""The command-line paths users and CI take: `dagster definitions validate` and
`dagster asset materialize --partition-range`, each in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow
import pytest
from deltalake import DeltaTable

pytestmark = pytest.mark.slow  # every test starts the dagster CLI in a subprocess

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(LAKEHOUSE_ENV="ci", LAKEHOUSE_ROOT=str(root), DAGSTER_HOME=str(root / "dagster_home"))
    (root / "dagster_home").mkdir(parents=True, exist_ok=True)
    return env


def _rows(path: Path) -> int:
    actions = pyarrow.table(DeltaTable(str(path)).get_add_actions(flatten=True))
    return sum(actions.column("num_records").to_pylist())


def test_definitions_validate(tmp_path):
    done = subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Validation successful for code location lakehouse" in done.stderr + done.stdout


def test_unknown_environment_is_a_clear_error(tmp_path):
    env = _env(tmp_path) | {"LAKEHOUSE_ENV": "moon"}
    done = subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0
    assert "LAKEHOUSE_ENV must be one of local, ci, cluster, prod, got 'moon'" in done.stderr + done.stdout


def test_missing_cluster_settings_are_named_when_the_code_location_loads(tmp_path):
    env = {k: v for k, v in _env(tmp_path).items() if not k.startswith(("LAKEHOUSE_", "AWS_"))}
    env.update(LAKEHOUSE_ENV="cluster", LAKEHOUSE_SPARK_MASTER="spark://127.0.0.1:7077", LAKEHOUSE_S3_BUCKET="lake")
    done = subprocess.run(
        [DAGSTER, "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode != 0
    output = done.stderr + done.stdout
    for variable in ("LAKEHOUSE_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert f"{variable} is required when LAKEHOUSE_ENV=cluster" in output, output[-3000:]


def test_materialize_partition_range_from_the_cli(tmp_path):
    from datagen import GeneratorConfig, generate_landing_zone

    manifest = generate_landing_zone(
        GeneratorConfig(root=str(tmp_path / "landing"), customers=100, products=20, orders=400, days=2,
                        start_date="2026-01-01", seed=5)
    )
    done = subprocess.run(
        [DAGSTER, "asset", "materialize", "-f", "platform/definitions.py", "-d", ".", "--select", "*",
         "--partition-range", "2026-01-01...2026-01-02"],
        cwd=REPO_ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    assert "RUN_SUCCESS" in done.stderr
    tables = tmp_path / "tables"
    orders = manifest["orders"]
    landed_lines = sum(orders["json_lines_by_landing_date"].values())
    assert _rows(tables / "bronze/orders") + _rows(tables / "bronze/rejected_orders") == landed_lines
    assert _rows(tables / "silver/orders") + _rows(tables / "silver/quarantine_orders") == sum(
        orders["order_lines_by_landing_date"].values()
    )
    sales = DeltaTable(str(tables / "gold/daily_sales")).to_pandas()
    assert sorted(set(sales.order_date.astype(str))) == ["2026-01-01", "2026-01-02"]
    features = DeltaTable(str(tables / "features/customer_features")).to_pandas()
    assert set(features.as_of_date.astype(str)) == {"2026-01-01", "2026-01-02"}
    assert not features.duplicated(["customer_id", "as_of_date"]).any()
    assert (tmp_path / "reports" / "category_sales_summary.csv").is_file()

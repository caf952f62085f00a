"""The platform's asset graph with no-op steps, as a code location for the backfill test in
tests/test_ui.py: the same asset keys, dependencies, partition mappings, partitions and backfill
policies (what Dagster's backfill daemon plans runs from) and the ``daily_refresh`` job, but steps
that only report a materialization, so the daemon's runs take milliseconds and need no Spark."""

from __future__ import annotations

import tempfile
from pathlib import Path

from dagster import Definitions, MaterializeResult, in_process_executor, multi_asset

from assets.partitions import daily_partitions
from assets.refresh import build_daily_refresh_job
from conftest import load_platform_definitions
from resources.settings import LakehouseSettings


def _stub(assets_def):
    @multi_asset(specs=list(assets_def.specs), name=assets_def.node_def.name, partitions_def=assets_def.partitions_def,
                 backfill_policy=assets_def.backfill_policy)
    def stub(context):
        for key in context.selected_asset_keys:
            yield MaterializeResult(asset_key=key)

    return stub


# nothing is written under root: the stubs use no resource
_settings = LakehouseSettings(env="ci", root=str(Path(tempfile.gettempdir()) / "backfill-stubs"), start_date="2026-01-01")
_platform = load_platform_definitions().build_definitions(_settings)
defs = Definitions(assets=[_stub(a) for a in _platform.assets],
                   jobs=[build_daily_refresh_job(daily_partitions(_settings.start_date, _settings.end_date))],
                   executor=in_process_executor)

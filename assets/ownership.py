"""Who owns each table, how it is tagged, and how fresh it must be: the same for every asset.

Every asset declares them through ``catalog(layer, domain)`` (with its group and kinds); the UI shows them on the asset's page and in the catalog
(filter by owner or tag), and the freshness daemon (part of ``dagster dev`` and ``make daemon``)
marks a table WARN, then FAIL, when its last materialization grows older than the windows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dagster import FreshnessPolicy

# The one place the owning team is named.
OWNERS = ["team:data-platform"]

# Every table is refreshed daily (the ``daily_refresh`` schedule, or the sensors as files land):
# a day's materialization may run a little late before it is a warning, and is missing after 26 h.
DAILY_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=26), warn_window=timedelta(hours=25))


def tags(layer: str, domain: str) -> dict[str, str]:
    """The asset's tags: its medallion layer and its business domain."""
    return {"layer": layer, "domain": domain}


def catalog(layer: str, domain: str, kinds: tuple[str, ...] = ("spark", "delta")) -> dict[str, Any]:
    """What every table's asset declares: its group (the layer), kinds, owners, tags and freshness."""
    return {"group_name": layer, "kinds": set(kinds), "owners": OWNERS, "tags": tags(layer, domain),
            "freshness_policy": DAILY_FRESHNESS}

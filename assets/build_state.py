"""What an incrementally built table was built from, recorded in its own Delta commits.

A step that builds a table from another table's changes must know which version of its input
it last caught up with. That is written into the ``userMetadata`` of the step's own Delta
commits (the ``spark.databricks.delta.commitInfo.userMetadata`` session setting, which Delta
reads for every commit, a MERGE's too, on a classic session and over Spark Connect alike), so
it is committed atomically with the data it describes and read back from the log alone
(``DESCRIBE HISTORY``, here through delta-rs): no extra table, no data scanned, no state that
can disagree with the table after a failed run. The tag is a small JSON object keyed by the
step, e.g. ``{"silver_customers": {"bronze/customers": 17}}``.

A tag counts only if the step's commit is the table's latest data-changing commit: any other
writer since (a manual DELETE, a RESTORE, another job) makes ``last_tag`` return None, and the
step rebuilds in full. Maintenance commits that keep the rows as they are (OPTIMIZE, VACUUM,
table properties) are looked past.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from deltalake.exceptions import TableNotFoundError
from pyspark.sql import SparkSession

from resources.delta import DeltaLakeResource

USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
# Operations that rewrite or annotate files without changing a table's rows.
MAINTENANCE_OPERATIONS = frozenset({
    "OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES", "REORG",
})
LOOK_BACK = 100  # commits; beyond that many maintenance commits in a row, rebuild in full


@contextmanager
def tagged_commits(session: SparkSession, step: str, tag: dict[str, Any]) -> Iterator[None]:
    """Every Delta commit of this session inside the block carries ``{step: tag}``.

    Dagster runs one step at a time per process (one session per run), so the session
    setting cannot leak into another step's commits; it is restored on the way out.
    """
    previous = session.conf.get(USER_METADATA, None)
    session.conf.set(USER_METADATA, json.dumps({step: tag}, sort_keys=True))
    try:
        yield
    finally:
        if previous is None:
            session.conf.unset(USER_METADATA)
        else:
            session.conf.set(USER_METADATA, previous)


def _tag(commit: dict, step: str) -> Optional[dict]:
    text = commit.get("userMetadata")
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value.get(step) if isinstance(value, dict) and isinstance(value.get(step), dict) else None


def last_tag(delta: DeltaLakeResource, table: str, step: str) -> Optional[dict]:
    """The tag of ``table``'s latest data-changing commit if ``step`` made it, else None."""
    try:
        history = delta.delta_rs_table(table).history(LOOK_BACK)  # newest first, from the log
    except TableNotFoundError:
        return None
    for commit in history:
        tag = _tag(commit, step)
        if tag is not None:
            return tag
        if commit.get("operation") not in MAINTENANCE_OPERATIONS:
            return None
    return None


def record_tag(delta: DeltaLakeResource, table: str, tag: dict[str, Any]) -> None:
    """A commit of its own for a run whose writes changed no row (Delta then commits nothing).

    Inside ``tagged_commits`` it carries the step's tag; the property holds the same tag, so
    each new tag is a real change and a new commit.
    """
    value = json.dumps(tag, sort_keys=True).replace("'", "\\'")
    delta.session.sql(
        f"ALTER TABLE {delta.sql_name(table)} SET TBLPROPERTIES ('lakehouse.built_from' = '{value}')"
    ).collect()

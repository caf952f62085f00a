"""Which customers ``silver_customers`` rebuilds: all of them, or those whose records changed.

The dimension's and its quarantine's commits are tagged (``assets/build_state.py``) with the
``bronze/customers`` version they were built from. From the tag on, Delta's log says which
landing days gained or lost files (``DeltaLakeResource.changes_since``, no data read); the
customers to rebuild are those with a record in those days now or at the tagged version (so
that a record removed by a re-ingested file counts too), and the records without a customer id
of those days are re-checked. Everything else of both tables stays as it is.

The tag is read from the quarantine table, which the step writes last and always commits
(a MERGE that changes nothing commits nothing), and only if the dimension's latest
data-changing commit is the step's too. A run that failed between the two writes leaves the
older tag on the quarantine, so the next run redoes those changes: the dimension's MERGE is
idempotent, and the quarantine slice is replaced. Without a usable tag (first run, a table
written by something else, the tagged version gone from the log or its files vacuumed, more
changed customers than an id list should carry) the step rebuilds everything, as it always did.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

from assets.build_state import last_tag
from assets.transforms import silver as t
from resources.delta import DeltaCommit, DeltaLakeResource

STEP = "silver_customers"
BRONZE = "bronze/customers"
DIMENSION = "silver/customers"
QUARANTINE = "silver/quarantine_customers"
# The changed ids travel as a SQL list (the quarantine's replaceWhere predicate); beyond this
# many, a full rebuild is the better plan anyway.
MAX_INCREMENTAL_CUSTOMERS = 50_000


@dataclass(frozen=True)
class CustomerRebuild:
    bronze_version: int
    full: bool
    computation: str  # what is rebuilt and why, for the logs and the metadata
    built_from: Optional[int] = None
    days: tuple[str, ...] = ()  # changed landing days (ISO)
    ids: tuple[str, ...] = ()  # customers to rebuild (trimmed ids)

    @property
    def tag(self) -> dict:
        return {BRONZE: self.bronze_version, "full": self.full}

    @property
    def nothing_changed(self) -> bool:
        return not self.full and not self.days


def _full(bronze_version: int, why: str, built_from: Optional[int] = None) -> CustomerRebuild:
    return CustomerRebuild(bronze_version, True, f"full: {why}", built_from)


def plan_customer_rebuild(delta: DeltaLakeResource, bronze_version: int) -> CustomerRebuild:
    tag = last_tag(delta, QUARANTINE, STEP)
    built = tag.get(BRONZE) if tag else None
    if not isinstance(built, int) or last_tag(delta, DIMENSION, STEP) is None:
        return _full(bronze_version, "no record of the bronze/customers version the tables were built from")
    if built > bronze_version:
        return _full(bronze_version, f"built from bronze/customers version {built}, newer than its "
                                     f"version {bronze_version}", built)
    changes = delta.changes_since(BRONZE, built)
    if changes is None:
        return _full(bronze_version, f"bronze/customers version {built} is no longer in its log", built)
    days = tuple(sorted(changes.partitions))
    if changes.files_added + changes.files_removed and not days:
        return _full(bronze_version, "bronze/customers changed but is not partitioned by landing day", built)
    if not days:
        return CustomerRebuild(bronze_version, False, f"incremental: bronze/customers unchanged since "
                                                      f"version {built}", built)
    where = t.landed_on(list(days))
    now = t.customer_ids(delta.read_version(BRONZE, bronze_version, where))
    ids = {r.customer_id for r in now.collect()}
    try:
        before = t.customer_ids(delta.read_version(BRONZE, built, where))
        ids |= {r.customer_id for r in before.collect()}
    except Exception as error:  # noqa: BLE001 - its files may be vacuumed: rebuild everything instead
        return _full(bronze_version, f"bronze/customers version {built} cannot be read "
                                     f"({type(error).__name__})", built)
    if len(ids) > MAX_INCREMENTAL_CUSTOMERS:
        return _full(bronze_version, f"{len(ids)} customers changed (more than "
                                     f"{MAX_INCREMENTAL_CUSTOMERS} are rebuilt in full)", built)
    return CustomerRebuild(
        bronze_version, False,
        f"incremental: bronze/customers version {built} -> {bronze_version}, landing days {', '.join(days)}: "
        f"{len(ids)} customer(s) rebuilt",
        built, days, tuple(sorted(ids)),
    )


def commit_or_nothing(delta: DeltaLakeResource, table: str, before: Optional[int], commit: Optional[DeltaCommit]) -> DeltaCommit:
    """The write's commit, or, when it committed nothing (Delta skips a MERGE that changes no row,
    or there was nothing to write), the table's current version with zero changes: not the
    metrics of whatever commit came before."""
    if commit is not None and commit.version != before:
        return commit
    last = delta.last_commit(table)
    return dataclasses.replace(last, operation="NONE (nothing changed)",
                               metrics={"rows_inserted": 0, "rows_updated": 0, "rows_deleted": 0})

"""Do the three pipelines produce the same data? A faster baseline that computes something else
must not win, so the benchmark stops when they disagree.

Compared: gold/daily_sales row for row (day, category, orders, units, revenue, buyers), the
row counts of the silver, gold and feature tables, and column totals of lifetime value and the
features (DuckDB computes those by their definition, one join per as-of day; the platform and
plain Spark by running totals, so this is where the two algorithms meet).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow
from deltalake import DeltaTable

# duckdb (the bench extra) is imported where it is used: the runner imports this module, and the
# test suite, which has only the test extra, imports the runner.

COUNTED = ["silver/orders", "silver/quarantine_orders", "silver/customers", "silver/products",
           "gold/customer_lifetime_value", "features/customer_features"]
SALES_COLUMNS = ["order_date", "category", "orders", "units", "revenue", "customers"]
PARTITIONED_PARQUET = {"silver/orders", "silver/quarantine_orders", "gold/daily_sales", "gold/customer_lifetime_value",
                       "features/customer_features"}


# Column totals that pin down the cumulative tables' values (averages follow from these).
VALUE_TOTALS = {
    "gold/customer_lifetime_value": (
        "sum(orders)", "sum(lifetime_revenue)", "sum(first_order_date - DATE '2000-01-01')",
        "sum(last_order_date - DATE '2000-01-01')",
    ),
    "features/customer_features": (
        "sum(frequency)", "sum(monetary)", "sum(spend_30d)", "sum(spend_90d)", "sum(recency_days)",
        "count(recency_days)", "sum(tenure_days)", "count(city)",
    ),
}


class InconsistentResults(RuntimeError):
    pass


@dataclass
class Output:
    system: str
    daily_sales: pd.DataFrame
    counts: dict[str, int]
    values: dict[str, tuple] = None

    def totals(self) -> dict[str, float]:
        s = self.daily_sales
        return {"rows": len(s), "orders": int(s.orders.sum()), "units": int(s.units.sum()),
                "revenue": round(sum(float(v) for v in s.revenue), 2), "customers": int(s.customers.sum())}


def _normalise(sales: pd.DataFrame) -> pd.DataFrame:
    sales = sales[SALES_COLUMNS].copy()
    sales["order_date"] = pd.to_datetime(sales["order_date"]).dt.date.astype(str)
    sales["revenue"] = sales["revenue"].astype(str).map(lambda v: f"{float(v):.2f}")
    for column in ("orders", "units", "customers"):
        sales[column] = sales[column].astype("int64")
    return sales.sort_values(["order_date", "category"]).reset_index(drop=True)


def _delta_rows(path: Path) -> int:
    actions = pyarrow.table(DeltaTable(str(path)).get_add_actions(flatten=True))
    return int(sum(actions.column("num_records").to_pylist()))


def _value_totals(con: duckdb.DuckDBPyConnection, relation: str, table: str) -> tuple:
    (row,) = con.execute(f"SELECT {', '.join(VALUE_TOTALS[table])} FROM {relation}").fetchall()
    return tuple(str(v) for v in row)


def read_delta(system: str, table_root: Path) -> Output:
    sales = DeltaTable(str(table_root / "gold/daily_sales")).to_pandas()
    import duckdb

    con = duckdb.connect()
    values = {}
    for table in VALUE_TOTALS:
        con.register("delta_table", DeltaTable(str(table_root / table)).to_pyarrow_dataset())
        values[table] = _value_totals(con, "delta_table", table)
        con.unregister("delta_table")
    con.close()
    return Output(system, _normalise(sales), {t: _delta_rows(table_root / t) for t in COUNTED}, values)


def read_parquet(system: str, root: Path) -> Output:
    import duckdb

    con = duckdb.connect()

    def source(table: str) -> str:
        if table in PARTITIONED_PARQUET:
            if not any((root / table).glob("*/*.parquet")):  # DuckDB writes no partition for no rows
                return "(SELECT NULL AS nothing WHERE false)"
            return f"read_parquet('{root / table}/*/*.parquet', hive_partitioning = true)"
        return f"read_parquet('{root / table}.parquet')"

    sales = con.execute(f"SELECT * FROM {source('gold/daily_sales')}").df()
    counts = {t: int(con.execute(f"SELECT count(*) FROM {source(t)}").fetchone()[0]) for t in COUNTED}
    values = {t: _value_totals(con, source(t), t) for t in VALUE_TOTALS}
    con.close()
    return Output(system, _normalise(sales), counts, values)


def compare(outputs: list[Output]) -> str:
    """A one-line summary when every output agrees with the first; raises otherwise."""
    reference = outputs[0]
    problems = []
    for other in outputs[1:]:
        if not reference.daily_sales.equals(other.daily_sales):
            merged = reference.daily_sales.merge(other.daily_sales, on=["order_date", "category"], how="outer",
                                                 suffixes=(f"_{reference.system}", f"_{other.system}"),
                                                 indicator=True)
            mask = merged["_merge"] != "both"
            for column in SALES_COLUMNS[2:]:
                mask |= merged[f"{column}_{reference.system}"] != merged[f"{column}_{other.system}"]
            differing = merged[mask]
            problems.append(f"gold/daily_sales differs between {reference.system} {reference.totals()} and "
                            f"{other.system} {other.totals()}; first rows:\n{differing.head(5).to_string()}")
        for table, totals in (reference.values or {}).items():
            if (other.values or {}).get(table) != totals:
                problems.append(f"{table} column totals {dict(zip(VALUE_TOTALS[table], totals))}: {other.system} "
                                f"has {(other.values or {}).get(table)}")
        for table, rows in reference.counts.items():
            if other.counts.get(table) != rows:
                problems.append(f"{table}: {reference.system} has {rows:,} rows, {other.system} "
                                f"{other.counts.get(table)}")
    if problems:
        raise InconsistentResults("pipelines disagree:\n  " + "\n  ".join(problems))
    t = reference.totals()
    systems = " = ".join(o.system for o in outputs)
    return (f"consistent ({systems}): gold/daily_sales {t['rows']:,} rows, orders {t['orders']:,}, "
            f"units {t['units']:,}, revenue {t['revenue']:,.2f}, buyers {t['customers']:,}; "
            + ", ".join(f"{k} {v:,}" for k, v in reference.counts.items()))

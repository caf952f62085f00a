"""Features: customer behaviour as of a day, point-in-time correct.

Features for day D use only what was known by the end of D: orders placed on
or before D *and* landed on or before D, and the customer's dimension version
valid at the end of D. A late order therefore never leaks into an earlier
as-of day, and re-computing a past day gives the same answer.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from assets.transforms.gold import MONEY, RUNNING_MONEY, as_of_days, orders, so_far



def customers_as_of(history: DataFrame, as_of_dates: DataFrame) -> DataFrame:
    """The customer dimension version valid at the end of each as-of day."""
    end_of_day = F.to_timestamp(F.date_add(as_of_dates.as_of_date, 1))
    valid = (history.valid_from < end_of_day) & (history.valid_to.isNull() | (history.valid_to >= end_of_day))
    return history.join(as_of_dates, valid).select("as_of_date", "customer_id", "city", "signup_date")


_SUMMED = ("_orders", "_amount", "_in_30d", "_in_90d")


def _events(per_order: DataFrame, end: date) -> DataFrame:
    """What each order adds to its customer's running totals, and on which day (up to ``end``).

    An order counts from the day it is both placed and known; it leaves the 30 (90) day
    spend on the day it is 30 (90) days old, or when it becomes known if that is later.
    """
    known = F.greatest("order_date", "known_date")
    zero = F.lit(0).cast(MONEY)
    added = per_order.select(
        "customer_id", known.alias("day"), F.lit(1).alias("_orders"), F.col("amount").alias("_amount"),
        F.col("amount").alias("_in_30d"), F.col("amount").alias("_in_90d"), F.col("order_date").alias("_last"),
    )
    expired = [
        per_order.select(
            "customer_id", F.greatest(F.date_add("order_date", days), "known_date").alias("day"),
            F.lit(0).alias("_orders"), zero.alias("_amount"),
            (-F.col("amount") if days == 30 else zero).alias("_in_30d"),
            (-F.col("amount") if days == 90 else zero).alias("_in_90d"),
            F.lit(None).cast("date").alias("_last"),
        )
        for days in (30, 90)
    ]
    return added.unionByName(expired[0]).unionByName(expired[1]).where(F.col("day") <= F.lit(end))


def _per_day(events: DataFrame, start: date) -> DataFrame:
    """Events summed per customer and as-of day; events before ``start`` count on ``start``."""
    return events.groupBy("customer_id", F.greatest("day", F.lit(start)).alias("as_of_date")).agg(
        *[F.sum(c).alias(c) for c in _SUMMED], F.max("_last").alias("_last")
    )


def _changes(per_order: DataFrame, start: date, end: date) -> DataFrame:
    """What each order adds to its customer's running totals, per as-of day from ``start`` to ``end``
    (changes before ``start`` count on ``start``)."""
    return _per_day(_events(per_order, end), start)


def _dimension(history: DataFrame, start: date, end: date) -> DataFrame:
    as_of = history.sparkSession.range(1).select(F.explode(F.sequence(F.lit(start), F.lit(end))).alias("as_of_date"))
    return customers_as_of(history, as_of)


def _features(changes: DataFrame, dimension: DataFrame, start: date, end: date) -> DataFrame:
    """Running totals of per-day ``changes`` joined to the dimension rows of ``start..end``."""
    # Running totals need every day of a customer's range, whether or not the dimension has them.
    grid = as_of_days(changes, start, end).unionByName(dimension.select("customer_id", "as_of_date")).distinct()
    totals = grid.join(changes, ["customer_id", "as_of_date"], "left").select(
        "customer_id",
        "as_of_date",
        *[F.coalesce(F.sum(c).over(so_far()), F.lit(0)).alias(c.lstrip("_")) for c in _SUMMED],
        F.max("_last").over(so_far()).alias("last_order_date"),
    )
    return dimension.join(totals, ["customer_id", "as_of_date"], "left").select(
        "customer_id",
        "as_of_date",
        "city",
        F.datediff("as_of_date", "signup_date").alias("tenure_days"),
        F.datediff("as_of_date", "last_order_date").alias("recency_days"),
        F.coalesce("orders", F.lit(0)).cast("long").alias("frequency"),
        F.coalesce("amount", F.lit(0)).cast(MONEY).alias("monetary"),
        F.coalesce("in_30d", F.lit(0)).cast(MONEY).alias("spend_30d"),
        F.coalesce("in_90d", F.lit(0)).cast(MONEY).alias("spend_90d"),
        F.when(F.col("orders") > 0, F.col("amount") / F.col("orders")).cast(MONEY).alias("average_basket"),
    )


def customer_features(order_lines: DataFrame, history: DataFrame, start: date, end: date) -> DataFrame:
    """RFM, tenure, rolling 30/90-day spend and average basket per customer and as-of day,
    for every day from ``start`` to ``end``.

    Running totals of per-day changes (``_changes``), so a range of days costs one pass
    over the orders rather than one per day; every customer valid at the end of a day
    gets a row for it, with zeros before their first known order.

    This is the definition (and the full recompute); ``carry_forward_customer_features``
    reaches the same values from the day before ``start``.
    """
    return _features(_changes(orders(order_lines), start, end), _dimension(history, start, end), start, end)


def newcomers(previous: DataFrame, history: DataFrame, start: date, end: date) -> DataFrame:
    """Customers with a dimension row in ``start..end`` but none in ``previous`` (the rows as of
    ``start - 1``): their totals as of ``start - 1`` are not carried, so
    ``carry_forward_customer_features`` needs all their orders."""
    return (_dimension(history, start, end).select("customer_id").distinct()
            .join(previous.select("customer_id"), "customer_id", "left_anti"))


def expiring_order_days(start: date, end: date) -> list[tuple[date, date]]:
    """The order days whose orders, known before ``start``, leave the 30- or 90-day spend in ``start..end``."""
    return [(start - timedelta(days=n), end - timedelta(days=n)) for n in (30, 90)]


def carry_forward_slices(start: date, end: date) -> list[str]:
    """Predicates on ``silver/orders`` for the orders ``carry_forward_customer_features`` needs for
    the customers it carries: landed in ``start..end``; placed in ``start..end`` but landed before
    (not expected, but the definition allows it); known before ``start`` and leaving the 30- or
    90-day spend in the range. Each is a landing-day (partition) filter AND an order-day filter
    (file statistics), so Delta prunes partitions and files; no slice reaches back further."""
    s, e = start.isoformat(), end.isoformat()
    slices = [
        f"_landed_date >= DATE'{s}' AND _landed_date <= DATE'{e}' AND order_date <= DATE'{e}'",
        f"_landed_date < DATE'{s}' AND order_date >= DATE'{s}' AND order_date <= DATE'{e}'",
    ]
    slices += [f"_landed_date < DATE'{s}' AND order_date >= DATE'{first.isoformat()}' AND order_date <= DATE'{last.isoformat()}'"
               for first, last in expiring_order_days(start, end)]
    return slices


def carry_forward_customer_features(
    previous: DataFrame, order_lines: DataFrame, history: DataFrame, start: date, end: date
) -> DataFrame:
    """``customer_features`` for ``start..end`` from the rows as of the day before ``start``.

    ``previous``: the table's rows as of ``start - 1``, still valid (no order known by then
    changed since they were computed). Their totals are carried; last order = as-of day -
    recency. ``order_lines`` (whole orders, each line once) must hold, for customers in
    ``previous``, every order with a change in ``start..end``: orders landed in the range, orders
    placed in it, and orders known before it whose order day is in ``expiring_order_days``;
    and for the customers ``previous`` lacks (``newcomers``), every order known by ``end``.
    Changes of ``previous``'s customers before ``start`` are already in ``previous`` and dropped.
    """
    carried = previous.select(
        "customer_id",
        F.lit(start).alias("as_of_date"),
        F.col("frequency").cast("long").alias("_orders"),
        *[F.col(c).cast(RUNNING_MONEY).alias(a) for c, a in
          (("monetary", "_amount"), ("spend_30d", "_in_30d"), ("spend_90d", "_in_90d"))],
        F.expr(f"date_sub(DATE'{(start - timedelta(days=1)).isoformat()}', recency_days)").alias("_last"),
    )
    events = _events(orders(order_lines), end).join(
        previous.select("customer_id", F.lit(True).alias("_carried")), "customer_id", "left"
    ).where(F.col("_carried").isNull() | (F.col("day") >= F.lit(start))).drop("_carried")
    per_day = _per_day(events, start).select(
        "customer_id", "as_of_date", F.col("_orders").cast("long").alias("_orders"),
        *[F.col(c).cast(RUNNING_MONEY).alias(c) for c in _SUMMED[1:]], "_last",
    )
    changes = per_day.unionByName(carried).groupBy("customer_id", "as_of_date").agg(
        *[F.sum(c).alias(c) for c in _SUMMED], F.max("_last").alias("_last")
    )
    return _features(changes, _dimension(history, start, end), start, end)

"""The rows of daily rollups that a feature as of day D may use, and sums over them: the days [D - N, D - 1].

Nothing of day D or later reaches D. Many as_of days are computed in one pass (the range runner's range mode) and
each gets exactly what its daily job computes alone, because every figure is keyed by its as_of day.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from core.sums import order_free_sum
from features.spec import window_column

_DAY, _IS_ROW, _NEXT = "__day_number", "__is_row", "__next_dt"


def history(daily: DataFrame, as_of_days: Sequence[dt.date], days: int) -> DataFrame:
    """Each row of `daily` once for every day D of `as_of_days` whose history [D - days, D - 1] holds it, with D as
    `as_of`: the only rows a profile as of D may use. A row of D or later never reaches D (as_of > dt by
    construction), so many days are computed in one pass without one seeing another's future."""
    wanted = _days_frame(daily, as_of_days)
    first, last = min(as_of_days) - dt.timedelta(days=days), max(as_of_days) - dt.timedelta(days=1)
    reaching = F.sequence(F.date_add("dt", 1), F.date_add("dt", days))
    return (daily.where(F.col("dt").between(F.lit(first), F.lit(last)))
            .withColumn("as_of", F.explode(reaching)).join(F.broadcast(wanted), "as_of"))


def window_sums(daily: DataFrame, keys: Sequence[str], as_of_days: Sequence[dt.date], windows: Sequence[int],
                columns: Sequence[str]) -> DataFrame:
    """Per keys and day D of `as_of_days` with a row of `daily` (one row per key and dt, as the rollups are) in
    [D - longest window, D - 1]: each column summed over every window [D - N, D - 1] (0 for none, null values
    counting 0), `active_days_<N>d` (rows in the window) and `days_since_last_event`.

    Each (keys, D) is one probe row, made by the key's last row before D, and each window is a range frame of
    days [D - N, D - 1] over the key's rows sorted by day: a row is read where the frames pass over it, instead
    of being copied onto each of the N as_of days after it and shuffled N times (`history`'s way), which a key
    with events every day makes N times the work.
    """
    longest = max(windows)
    first, last = min(as_of_days) - dt.timedelta(days=longest), max(as_of_days) - dt.timedelta(days=1)
    rows = daily.where(F.col("dt").between(F.lit(first), F.lit(last))).select(*keys, "dt", *columns)
    # A row probes the days after it up to the key's next row (which probes the days after that) or until it
    # leaves the longest window: every (key, D) whose window holds a row, once.
    next_row = rows.select(*keys, "dt", F.lead("dt").over(Window.partitionBy(*keys).orderBy("dt")).alias(_NEXT))
    until = F.least(F.coalesce(F.col(_NEXT), F.date_add("dt", longest)), F.date_add("dt", longest))
    probes = (next_row.select(*keys, F.explode(F.sequence(F.date_add("dt", 1), until)).alias("as_of"))
              .join(F.broadcast(_days_frame(daily, as_of_days)), "as_of"))
    stacked = (rows.select(*keys, F.col("dt").alias("as_of"), F.lit(True).alias(_IS_ROW), *columns)
               .unionByName(probes.select(*keys, "as_of", F.lit(False).alias(_IS_ROW),
                                          *[F.lit(None).cast(rows.schema[c].dataType).alias(c) for c in columns]))
               .withColumn(_DAY, F.unix_date("as_of")))
    by_day = Window.partitionBy(*keys).orderBy(_DAY)
    aggregates = {}
    for days in windows:
        frame = by_day.rangeBetween(-days, -1)
        for c in columns:
            # coalesce(..., 0): a key with no row in this (shorter) window has a count of 0, not null.
            total = order_free_sum(stacked, c, F.when(F.col(_IS_ROW), F.coalesce(F.col(c), F.lit(0))), frame)
            aggregates[window_column(c, days)] = F.coalesce(total, F.lit(0))
        aggregates[window_column("active_days", days)] = F.count(F.when(F.col(_IS_ROW), True)).over(frame)
    last_row = F.max(F.when(F.col(_IS_ROW), F.col("as_of"))).over(by_day.rangeBetween(-longest, -1))
    aggregates["days_since_last_event"] = F.date_diff(F.col("as_of"), last_row)
    # The probes are kept only after the frames are computed: filtered first, the frames would see no rows.
    summed = stacked.select(*keys, "as_of", _IS_ROW, *[value.alias(name) for name, value in aggregates.items()])
    return summed.where(~F.col(_IS_ROW)).drop(_IS_ROW)


def _days_frame(frame: DataFrame, days: Sequence[dt.date]) -> DataFrame:
    return frame.sparkSession.createDataFrame([(day,) for day in sorted(set(days))], "as_of date")

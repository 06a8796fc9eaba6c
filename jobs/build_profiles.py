"""User and item profiles as of D, from the daily rollups of days [D-N, D-1] for every window N in conf.

Nothing of day D or later is read: the rollups are selected by partition before anything else happens,
so a profile as of D can be used as a feature of day D's samples. Summing N small rollup partitions keeps
the cost nearly flat in N, and every as_of is computed independently (backfills can run in any order).
"""
from __future__ import annotations

import datetime as dt
import sys
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config import PipelineConfig, ProfileConfig, RateSpec
from core.lake import read_partitions, replace_partition, require_table
from core.sums import order_free_sum
from core.tables import (
    ITEM_DAILY_TABLE,
    ITEM_PROFILE_TABLE,
    USER_CATEGORY_DAILY_TABLE,
    USER_DAILY_TABLE,
    USER_ITEM_DAILY_TABLE,
    USER_PROFILE_TABLE,
)
from features.spec import count_column, window_column


def total_events(event_types: Sequence[str], days: int | None = None) -> Column:
    """Events of every type: the sum of the per-type count columns (of their N-day columns when days is set)."""
    names = [count_column(kind) if days is None else window_column(count_column(kind), days) for kind in event_types]
    return sum((F.col(name) for name in names), F.lit(0))


def history(daily: DataFrame, as_of: dt.date, days: int) -> DataFrame:
    """The rows of days [as_of - days, as_of - 1]: the only rows a profile as of `as_of` may use."""
    first, last = as_of - dt.timedelta(days=days), as_of - dt.timedelta(days=1)
    return daily.where(F.col("dt").between(F.lit(first), F.lit(last)))


def window_sums(daily: DataFrame, key: str, as_of: dt.date, windows: Sequence[int],
                columns: Sequence[str]) -> DataFrame:
    """Per key: each column summed over every window, active days per window, days since the last event.

    `daily` holds one row per key and day (as the rollups do), restricted by `history`.
    """
    aggregates = []
    for days in windows:
        in_window = F.col("dt") >= F.lit(as_of - dt.timedelta(days=days))
        # otherwise(0): a key with no day in this (shorter) window has a count of 0, not null.
        aggregates += [order_free_sum(daily, c, F.when(in_window, F.coalesce(F.col(c), F.lit(0))).otherwise(0))
                       .alias(window_column(c, days)) for c in columns]
        aggregates.append(F.count(F.when(in_window, True)).alias(window_column("active_days", days)))
    return daily.groupBy(key).agg(
        *aggregates, F.date_diff(F.lit(as_of), F.max("dt")).alias("days_since_last_event"))


def with_smoothed_rates(sums: DataFrame, rates: Sequence[RateSpec], windows: Sequence[int]) -> DataFrame:
    """Add `<rate>_<N>d` = (num + w * prior) / (den + w), the prior being the global rate of that window."""
    if not rates:
        return sums
    priors = sums.agg(*[
        # No denominator anywhere in the window: no prior, and so no rate (null), rather than a guess.
        F.try_divide(order_free_sum(sums, window_column(rate.numerator, days)),
                     order_free_sum(sums, window_column(rate.denominator, days)))
        .alias(window_column(f"prior_{rate.name}", days))
        for rate in rates for days in windows
    ])
    smoothed = [_smoothed(rate, days) for rate in rates for days in windows]
    return sums.crossJoin(F.broadcast(priors)).select(*sums.columns, *smoothed)


def _smoothed(rate: RateSpec, days: int) -> Column:
    prior = F.col(window_column(f"prior_{rate.name}", days))
    numerator, denominator = F.col(window_column(rate.numerator, days)), F.col(window_column(rate.denominator, days))
    return ((numerator + rate.prior_weight * prior) / (denominator + rate.prior_weight)).alias(
        window_column(rate.name, days))


def top_categories(user_category_daily: DataFrame, event_types: Sequence[str], k: int) -> DataFrame:
    """Per user: up to k categories with the most events in the longest window, most first (ties by name)."""
    totals = (user_category_daily.where(F.col("category").isNotNull())
              .groupBy("user_id", "category").agg(F.sum(total_events(event_types)).alias("events")))
    return _top_k(totals, "user_id", "category", [F.desc("events"), F.asc("category")], k, "top_categories")


def recent_items(user_item_daily: DataFrame, k: int) -> DataFrame:
    """Per user: the last k distinct items, most recent first (equal times ordered by item id)."""
    last_seen = user_item_daily.groupBy("user_id", "item_id").agg(F.max("last_event_time").alias("last_time"))
    return _top_k(last_seen, "user_id", "item_id", [F.desc("last_time"), F.asc("item_id")], k, "recent_items")


def _top_k(frame: DataFrame, key: str, value: str, order: list[Column], k: int, name: str) -> DataFrame:
    ranked = frame.withColumn("rank", F.row_number().over(Window.partitionBy(key).orderBy(*order)))
    kept = ranked.where(F.col("rank") <= k).groupBy(key).agg(
        F.sort_array(F.collect_list(F.struct("rank", value))).alias("ranked"))
    return kept.select(key, F.transform("ranked", lambda entry: entry[value]).alias(name))


def with_popularity_ranks(item_sums: DataFrame, event_types: Sequence[str], windows: Sequence[int]) -> DataFrame:
    """Add `popularity_rank_<N>d`: 1 = the item with most events in the window (ties by item id)."""
    ranks = []
    for days in windows:
        events = total_events(event_types, days)
        order = Window.orderBy(events.desc(), F.asc("item_id"))  # one global ranking: items are few enough
        ranks.append(F.when(events > 0, F.row_number().over(order)).alias(window_column("popularity_rank", days)))
    return item_sums.select("*", *ranks)


def user_profile(user_daily: DataFrame, user_category_daily: DataFrame, user_item_daily: DataFrame,
                 as_of: dt.date, profiles: ProfileConfig, event_types: Sequence[str]) -> DataFrame:
    """One row per user active in the longest window before as_of."""
    longest = max(profiles.windows)
    sums = _profile_sums(history(user_daily, as_of, longest), "user_id", as_of, profiles, event_types)
    categories = top_categories(history(user_category_daily, as_of, longest), event_types, profiles.top_categories)
    recent = recent_items(history(user_item_daily, as_of, longest), profiles.recent_items)
    return (sums.join(categories, "user_id", "left").join(recent, "user_id", "left")
            .withColumn("as_of", F.lit(as_of)))


def item_profile(item_daily: DataFrame, as_of: dt.date, profiles: ProfileConfig,
                 event_types: Sequence[str]) -> DataFrame:
    """One row per item with events in the longest window before as_of."""
    sums = _profile_sums(history(item_daily, as_of, max(profiles.windows)), "item_id", as_of, profiles, event_types)
    return with_popularity_ranks(sums, event_types, profiles.windows).withColumn("as_of", F.lit(as_of))


def _profile_sums(daily: DataFrame, key: str, as_of: dt.date, profiles: ProfileConfig,
                  event_types: Sequence[str]) -> DataFrame:
    counts = [count_column(kind) for kind in event_types]
    rate_inputs = [c for rate in profiles.rates for c in (rate.numerator, rate.denominator) if c not in counts]
    columns = counts + list(dict.fromkeys(rate_inputs))
    sums = with_smoothed_rates(window_sums(daily, key, as_of, profiles.windows, columns),
                               profiles.rates, profiles.windows)
    # value_sum/value_count only feed rates; the profile keeps the rate, not its parts.
    return sums.drop(*[window_column(c, days) for c in columns if c not in counts for days in profiles.windows])


def build_profiles(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    first_day, last_day = ds - dt.timedelta(days=max(cfg.profiles.windows)), ds - dt.timedelta(days=1)

    def history(table: str) -> DataFrame:
        path = cfg.table_path(table)
        require_table(spark, path, "build_daily_rollups")
        # The first days of a lake have no history: the profiles are then empty, not an error.
        return read_partitions(spark, path, "dt", first_day, last_day)

    event_types = cfg.dataset.canonical_event_types
    users = user_profile(history(USER_DAILY_TABLE), history(USER_CATEGORY_DAILY_TABLE), history(USER_ITEM_DAILY_TABLE),
                         ds, cfg.profiles, event_types)
    items = item_profile(history(ITEM_DAILY_TABLE), ds, cfg.profiles, event_types)
    replace_partition(users, cfg.table_path(USER_PROFILE_TABLE), {"as_of": ds})
    replace_partition(items, cfg.table_path(ITEM_PROFILE_TABLE), {"as_of": ds})
    counts = {table: read_partitions(spark, cfg.table_path(table), "as_of", ds, ds).count()
              for table in (USER_PROFILE_TABLE, ITEM_PROFILE_TABLE)}
    return (f"build_profiles {ds} (days {first_day}..{last_day}): "
            + " ".join(f"{table}={count}" for table, count in counts.items()))


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, build_profiles))

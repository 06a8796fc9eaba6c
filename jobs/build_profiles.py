"""User and item profiles as of D, from the daily rollups of days [D-N, D-1] for every window N in conf.

Nothing of day D or later is read: each rollup row reaches only the as_of days after it (`history`), so a profile
as of D can be used as a feature of day D's samples. Summing N small rollup partitions keeps the cost nearly flat in
N, and every as_of is computed independently (backfills can run in any order). A range of days is one job
(`profiles_of_days`, the range runner's): every aggregate is grouped by as_of, so each day's partition is the one its
daily job writes.
"""
from __future__ import annotations

import datetime as dt
import sys
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_schema import PipelineConfig, ProfileConfig, RateSpec
from core.delta_arrow import rows_in_days
from core.lake import days_label, read_partitions, replace_days, require_table
from core.ranking import row_numbers
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


def history(daily: DataFrame, as_of_days: Sequence[dt.date], days: int) -> DataFrame:
    """Each row of `daily` once for every day D of `as_of_days` whose history [D - days, D - 1] holds it, with D as
    `as_of`: the only rows a profile as of D may use. A row of D or later never reaches D (as_of > dt by
    construction), so many days are computed in one pass without one seeing another's future."""
    wanted = daily.sparkSession.createDataFrame([(day,) for day in sorted(set(as_of_days))], "as_of date")
    first, last = min(as_of_days) - dt.timedelta(days=days), max(as_of_days) - dt.timedelta(days=1)
    reaching = F.sequence(F.date_add("dt", 1), F.date_add("dt", days))
    return (daily.where(F.col("dt").between(F.lit(first), F.lit(last)))
            .withColumn("as_of", F.explode(reaching)).join(F.broadcast(wanted), "as_of"))


def window_sums(daily: DataFrame, keys: Sequence[str], windows: Sequence[int], columns: Sequence[str]) -> DataFrame:
    """Per keys and `as_of`: each column summed over every window, active days per window, days since the last event.

    `daily` holds one row per key and day (as the rollups do), spread over its as_of days by `history`.
    """
    aggregates = []
    for days in windows:
        in_window = F.col("dt") >= F.date_sub("as_of", days)
        # otherwise(0): a key with no day in this (shorter) window has a count of 0, not null.
        aggregates += [order_free_sum(daily, c, F.when(in_window, F.coalesce(F.col(c), F.lit(0))).otherwise(0))
                       .alias(window_column(c, days)) for c in columns]
        aggregates.append(F.count(F.when(in_window, True)).alias(window_column("active_days", days)))
    return daily.groupBy(*keys, "as_of").agg(
        *aggregates, F.date_diff(F.col("as_of"), F.max("dt")).alias("days_since_last_event"))


def with_smoothed_rates(sums: DataFrame, rates: Sequence[RateSpec], windows: Sequence[int]) -> DataFrame:
    """Add `<rate>_<N>d` = (num + w * prior) / (den + w), the prior being the global rate of that window and day."""
    if not rates:
        return sums
    priors = sums.groupBy("as_of").agg(*[
        # No denominator anywhere in the window: no prior, and so no rate (null), rather than a guess.
        F.try_divide(order_free_sum(sums, window_column(rate.numerator, days)),
                     order_free_sum(sums, window_column(rate.denominator, days)))
        .alias(window_column(f"prior_{rate.name}", days))
        for rate in rates for days in windows
    ])
    smoothed = [_smoothed(rate, days) for rate in rates for days in windows]
    return sums.join(F.broadcast(priors), "as_of").select(*sums.columns, *smoothed)


def _smoothed(rate: RateSpec, days: int) -> Column:
    prior = F.col(window_column(f"prior_{rate.name}", days))
    numerator, denominator = F.col(window_column(rate.numerator, days)), F.col(window_column(rate.denominator, days))
    return ((numerator + rate.prior_weight * prior) / (denominator + rate.prior_weight)).alias(
        window_column(rate.name, days))


def top_categories(user_category_daily: DataFrame, event_types: Sequence[str], k: int) -> DataFrame:
    """Per user and as_of: up to k categories with the most events in the longest window, most first (ties by
    name)."""
    totals = (user_category_daily.where(F.col("category").isNotNull())
              .groupBy("user_id", "as_of", "category").agg(F.sum(total_events(event_types)).alias("events")))
    return _top_k(totals, "category", [F.desc("events"), F.asc("category")], k, "top_categories")


def recent_items(user_item_daily: DataFrame, k: int) -> DataFrame:
    """Per user and as_of: the last k distinct items, most recent first (equal times ordered by item id)."""
    last_seen = user_item_daily.groupBy("user_id", "as_of", "item_id").agg(
        F.max("last_event_time").alias("last_time"))
    return _top_k(last_seen, "item_id", [F.desc("last_time"), F.asc("item_id")], k, "recent_items")


def _top_k(frame: DataFrame, value: str, order: list[Column], k: int, name: str) -> DataFrame:
    keys = ["user_id", "as_of"]
    ranked = frame.withColumn("rank", F.row_number().over(Window.partitionBy(*keys).orderBy(*order)))
    kept = ranked.where(F.col("rank") <= k).groupBy(*keys).agg(
        F.sort_array(F.collect_list(F.struct("rank", value))).alias("ranked"))
    return kept.select(*keys, F.transform("ranked", lambda entry: entry[value]).alias(name))


def with_popularity_ranks(item_sums: DataFrame, event_types: Sequence[str], windows: Sequence[int]) -> DataFrame:
    """Add `popularity_rank_<N>d`: 1 = the item with most events in the window as of its day (ties by item id)."""
    ranked = item_sums
    for days in windows:
        events, rank = total_events(event_types, days), window_column("popularity_rank", days)
        # One ranking of every item of a day, numbered by a distributed sort (a window would take one task).
        ranked = row_numbers(ranked, [events.desc(), F.asc("item_id")], rank, within=["as_of"])
        ranked = ranked.withColumn(rank, F.when(events > 0, F.col(rank).cast("int")))
    return ranked


def user_profile(user_daily: DataFrame, user_category_daily: DataFrame, user_item_daily: DataFrame,
                 as_of_days: Sequence[dt.date], profiles: ProfileConfig, event_types: Sequence[str]) -> DataFrame:
    """Per day D of as_of_days, one row per user active in the longest window before D."""
    longest = max(profiles.windows)
    sums = _profile_sums(history(user_daily, as_of_days, longest), "user_id", profiles, event_types)
    categories = top_categories(history(user_category_daily, as_of_days, longest), event_types,
                                profiles.top_categories)
    recent = recent_items(history(user_item_daily, as_of_days, longest), profiles.recent_items)
    joined = sums.join(categories, ["user_id", "as_of"], "left").join(recent, ["user_id", "as_of"], "left")
    return _as_of_last(joined)


def item_profile(item_daily: DataFrame, as_of_days: Sequence[dt.date], profiles: ProfileConfig,
                 event_types: Sequence[str]) -> DataFrame:
    """Per day D of as_of_days, one row per item with events in the longest window before D."""
    sums = _profile_sums(history(item_daily, as_of_days, max(profiles.windows)), "item_id", profiles, event_types)
    return _as_of_last(with_popularity_ranks(sums, event_types, profiles.windows))


def _as_of_last(profile: DataFrame) -> DataFrame:
    """The table's column order: the partition column last."""
    return profile.select(*[c for c in profile.columns if c != "as_of"], "as_of")


def _profile_sums(daily: DataFrame, key: str, profiles: ProfileConfig, event_types: Sequence[str]) -> DataFrame:
    counts = [count_column(kind) for kind in event_types]
    rate_inputs = [c for rate in profiles.rates for c in (rate.numerator, rate.denominator) if c not in counts]
    columns = counts + list(dict.fromkeys(rate_inputs))
    sums = with_smoothed_rates(window_sums(daily, [key], profiles.windows, columns), profiles.rates, profiles.windows)
    # value_sum/value_count only feed rates; the profile keeps the rate, not its parts.
    return sums.drop(*[window_column(c, days) for c in columns if c not in counts for days in profiles.windows])


def build_profiles(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    return profiles_of_days(spark, cfg, [ds])


def profiles_of_days(spark: SparkSession, cfg: PipelineConfig, days: Sequence[dt.date]) -> str:
    """Write the profiles as of every day of `days` in one pass over the rollups of [first - N, last - 1]."""
    first_day, last_day = min(days) - dt.timedelta(days=max(cfg.profiles.windows)), max(days) - dt.timedelta(days=1)

    def rollups(table: str) -> DataFrame:
        path = cfg.table_path(table)
        require_table(spark, path, "build_daily_rollups")
        # The first days of a lake have no history: the profiles are then empty, not an error.
        return read_partitions(spark, path, "dt", first_day, last_day)

    event_types = cfg.dataset.canonical_event_types
    users = user_profile(rollups(USER_DAILY_TABLE), rollups(USER_CATEGORY_DAILY_TABLE), rollups(USER_ITEM_DAILY_TABLE),
                         days, cfg.profiles, event_types)
    items = item_profile(rollups(ITEM_DAILY_TABLE), days, cfg.profiles, event_types)
    replace_days(users, cfg.table_path(USER_PROFILE_TABLE), "as_of", days)
    replace_days(items, cfg.table_path(ITEM_PROFILE_TABLE), "as_of", days)
    counts = {table: rows_in_days(cfg.table_path(table), "as_of", days)
              for table in (USER_PROFILE_TABLE, ITEM_PROFILE_TABLE)}
    return (f"build_profiles {days_label(days)} (rollups of {first_day}..{last_day}): "
            + " ".join(f"{table}={count}" for table, count in counts.items()))


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, build_profiles))

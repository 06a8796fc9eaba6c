"""Roll day D's events up per user, per item and per (user, item category): the inputs of N-day profiles.

One day in, one partition out, so an N-day profile sums N small rollup partitions instead of rescanning
N days of raw events. A range of days is one job (`rollups_of_days`, the range runner's): every row is grouped by its
own day, so each day's partition is the one its daily job writes.
"""
from __future__ import annotations

import datetime as dt
import sys
from typing import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType

from core.cli import run_day_job
from core.config_schema import PipelineConfig
from core.delta_arrow import partition_days, rows_in_days
from core.errors import PipelineError
from core.lake import days_label, read_days, replace_days, require_table
from core.sums import order_free_sum
from core.tables import (
    EVENTS_TABLE,
    ITEM_DAILY_TABLE,
    USER_CATEGORY_DAILY_TABLE,
    USER_DAILY_TABLE,
    USER_ITEM_DAILY_TABLE,
)
from features.spec import count_column
from jobs.ingest_attributes import read_attribute_snapshot

ROLLUP_TABLES = {
    USER_DAILY_TABLE: ["user_id"],
    ITEM_DAILY_TABLE: ["item_id"],
    USER_CATEGORY_DAILY_TABLE: ["user_id", "category"],
    USER_ITEM_DAILY_TABLE: ["user_id", "item_id"],  # for the last K distinct items and user x item history
}


def rollup(events: DataFrame, keys: Sequence[str], event_types: Sequence[str]) -> DataFrame:
    """Per (keys, dt): a count per event type, count and sum of values, first and last event time."""
    counts = [F.count(F.when(F.col("event_type") == kind, True)).alias(count_column(kind)) for kind in event_types]
    return events.groupBy(*keys, "dt").agg(
        *counts,
        F.count("value").alias("value_count"),
        order_free_sum(events, "value").alias("value_sum"),
        F.min("event_time").alias("first_event_time"),
        F.max("event_time").alias("last_event_time"),
    )


def with_item_category(events: DataFrame, items: DataFrame | None, category_column: str | None) -> DataFrame:
    """Add `category`: one row per category of the event's item (genres are a list), null when unknown.

    items: one catalogue for every row, or snapshots by day (a `dt` column): each row then joins its own day's."""
    if items is None or category_column is None:
        return events.withColumn("category", F.lit(None).cast("string"))
    keys = ["item_id", "dt"] if "dt" in items.columns else ["item_id"]
    categories = items.select(*keys, F.col(category_column).alias("category"))
    if isinstance(items.schema[category_column].dataType, ArrayType):
        # explode_outer keeps an item with no genre as one row with a null category.
        categories = categories.select(*keys, F.explode_outer("category").alias("category"))
    return events.join(categories, keys, "left")


def build_daily_rollups(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    return rollups_of_days(spark, cfg, [ds])


def rollups_of_days(spark: SparkSession, cfg: PipelineConfig, days: Sequence[dt.date]) -> str:
    """Write the rollup partitions of every day of `days` in one pass; each needs its events."""
    events_path = cfg.table_path(EVENTS_TABLE)
    require_table(spark, events_path, f"ingest_events for {min(days)}")
    missing = sorted(set(days) - partition_days(events_path, "dt"))
    if missing:
        listed = ", ".join(map(str, missing))
        raise PipelineError(f"no events of {listed} in {events_path}; run ingest_events for {listed} first")
    events = read_days(spark, events_path, "dt", days).persist()
    try:
        items = read_attribute_snapshot(spark, cfg, "items", days)
        event_types = cfg.dataset.canonical_event_types
        sources = {
            USER_DAILY_TABLE: events,
            ITEM_DAILY_TABLE: events,
            USER_CATEGORY_DAILY_TABLE: with_item_category(events, items, cfg.dataset.item_category),
            USER_ITEM_DAILY_TABLE: events,
        }
        counts = []
        for table, keys in ROLLUP_TABLES.items():
            replace_days(rollup(sources[table], keys, event_types), cfg.table_path(table), "dt", days)
            # Counted from the Delta log's file statistics, without a Spark job.
            counts.append(f"{table}={rows_in_days(cfg.table_path(table), 'dt', days)}")
    finally:
        events.unpersist()
    return f"build_daily_rollups {days_label(days)}: " + " ".join(counts)


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, build_daily_rollups))

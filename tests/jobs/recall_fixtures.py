"""Literal event rows -> user_item_daily rollups (as build_daily_rollups writes them) for the recall tests."""
from __future__ import annotations

import datetime as dt

from core.lake import replace_partition
from features.schema import EVENTS
from jobs.build_daily_rollups import rollup


def events_frame(spark, rows):
    """rows: (user, item, event type, day, hour, value)."""
    return spark.createDataFrame(
        [(f"e{i}", user, item, kind, dt.datetime(day.year, day.month, day.day, hour), value, day)
         for i, (user, item, kind, day, hour, value) in enumerate(rows)], EVENTS)


def user_item_daily(spark, rows, event_types):
    return rollup(events_frame(spark, rows), ["user_id", "item_id"], event_types)


def write_user_item_daily(spark, cfg, rows):
    """Write the rollup of each day of rows as build_daily_rollups would."""
    daily = user_item_daily(spark, rows, cfg.dataset.canonical_event_types)
    for day in sorted({row[3] for row in rows}):
        replace_partition(daily.where(daily.dt == day), cfg.table_path("user_item_daily"), {"dt": day})


def collect(frame, *columns):
    return sorted(tuple(row[c] for c in columns) for row in frame.collect())

"""Profile cost as N grows: user window aggregates as of D from the daily rollups (what build_profiles does)
next to a naive recomputation over the raw events of [D-N, D-1] with window functions, in one Spark session.

    python -m bench.profiles_incremental [--events 50000000]      (BENCH_QUICK=1: 300k events)
Figure: seconds of each side for N = 7 and N = 30, and ratio = naive / incremental.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from bench.common import DATA_DIR, quick, stopwatch, write_result
from core.config import load_config
from core.spark import build_session
from datasets.synthetic import SyntheticSpec, write_synthetic
from features.spec import count_column
from jobs.build_daily_rollups import rollup
from jobs.build_profiles import history, window_sums

START = dt.date(2024, 1, 1)
DAYS = 31
EVENT_TYPES = ("impression", "click", "conversion")


def naive_user_aggregates(events: DataFrame, as_of: dt.date, days: int) -> DataFrame:
    """The same figures as window_sums, recomputed from raw events with window functions."""
    first, last = as_of - dt.timedelta(days=days), as_of - dt.timedelta(days=1)
    recent = events.where(F.col("dt").between(F.lit(first), F.lit(last)))
    by_user = Window.partitionBy("user_id")
    with_counts = recent.select(
        "user_id",
        *[F.count(F.when(F.col("event_type") == kind, True)).over(by_user).alias(f"{count_column(kind)}_{days}d")
          for kind in EVENT_TYPES],
        F.size(F.collect_set("dt").over(by_user)).alias(f"active_days_{days}d"),
        F.date_diff(F.lit(as_of), F.max("dt").over(by_user)).alias("days_since_last_event"),
    )
    return with_counts.dropDuplicates(["user_id"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000 if quick() else 50_000_000)
    args = parser.parse_args(argv)
    root = DATA_DIR / f"profiles_{args.events}"
    if not (root / "events").exists():
        per_day = int(args.events / DAYS / 1.16)  # ~0.16 clicks and conversions per impression
        write_synthetic(root, SyntheticSpec(users=max(1000, args.events // 500), items=50_000, start=START,
                                            days=DAYS, impressions_per_day=per_day))
    cfg = load_config(["conf/local.yaml", "conf/datasets/synthetic.yaml"])
    spark = build_session(cfg)
    lake = DATA_DIR / "lake_profiles"
    shutil.rmtree(lake, ignore_errors=True)
    raw = spark.read.csv(str(root / "events"), header=True,
                         schema="user_id string, item_id string, event_type string, ts_ms long, dt date")
    events = raw.select("user_id", "item_id", "event_type", F.timestamp_millis("ts_ms").alias("event_time"),
                        F.lit(None).cast("double").alias("value"), "dt")
    prepared: dict = {}
    with stopwatch(prepared, "events_and_rollups"):
        events.write.format("delta").partitionBy("dt").save(str(lake / "events"))
        stored = spark.read.format("delta").load(str(lake / "events"))
        rollup(stored, ["user_id"], EVENT_TYPES).write.format("delta").partitionBy("dt").save(str(lake / "user_daily"))
    stored_events = spark.read.format("delta").load(str(lake / "events"))
    user_daily = spark.read.format("delta").load(str(lake / "user_daily"))
    as_of = START + dt.timedelta(days=DAYS - 1)
    seconds: dict = {}
    columns = [count_column(kind) for kind in EVENT_TYPES]
    for days in (7, 30):
        with stopwatch(seconds, f"incremental_{days}d"):
            window_sums(history(user_daily, [as_of], days), ["user_id"], [days], columns) \
                .write.format("noop").mode("overwrite").save()
        with stopwatch(seconds, f"naive_{days}d"):
            naive_user_aggregates(stored_events, as_of, days).write.format("noop").mode("overwrite").save()
        print(days, seconds, flush=True)
    write_result(
        "profiles_incremental", dataset="synthetic", rows=stored_events.count(), seconds=seconds,
        prepare_seconds=prepared,
        compared="user window aggregates as of D: from daily rollups vs window functions over raw events",
        ratio={f"{days}d": round(seconds[f"naive_{days}d"] / seconds[f"incremental_{days}d"], 2) for days in (7, 30)},
        growth_7d_to_30d={side: round(seconds[f"{side}_30d"] / seconds[f"{side}_7d"], 2)
                          for side in ("incremental", "naive")},
    )


if __name__ == "__main__":
    main()

"""Recall job cost on a synthetic log with skew (Zipf item popularity, heavy users): each recall job of the
pipeline (and evaluate_recall) for one as_of over 7 days of history, and item-CF with its skew control next to
item-CF without it, in one Spark session.

    python -m bench.recall_jobs [--events 10000000] [--history-days 7]     (BENCH_QUICK=1: 100k events, 2 days)
Figures: seconds per job; the largest per-item pair count of the co-occurrence self-join with and without the
caps; ratio = item-CF seconds without skew control / with it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil

from pyspark.sql import functions as F

from bench.common import DATA_DIR, quick, stopwatch, write_overlay, write_result
from core.config import load_config
from core.days import date_range
from core.spark import build_session
from core.tables import EVENTS_TABLE, USER_ITEM_DAILY_TABLE
from datasets.synthetic import SyntheticSpec, write_synthetic
from jobs.backfill import DAY_JOBS
from jobs.build_daily_rollups import build_daily_rollups
from jobs.ingest_attributes import ingest_attributes
from jobs.ingest_events import ingest_events
from jobs.recall_common import history_range, read_interactions
from jobs.recall_itemcf import capped_histories, pair_counts, recall_itemcf

START = dt.date(2024, 1, 1)
HISTORY_DAYS = 7
EVENTS_PER_IMPRESSION = 1.16  # clicks and conversions per impression in the default synthetic model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000 if quick() else 10_000_000)
    parser.add_argument("--history-days", type=int, default=2 if quick() else HISTORY_DAYS)
    args = parser.parse_args(argv)
    days = args.history_days + 1  # the history, then the as_of day whose events score the candidates
    root = DATA_DIR / f"recall_{args.events}_{days}d"
    if not (root / "events").exists():
        write_synthetic(root, SyntheticSpec(users=max(2000, args.events // 200), items=50_000, start=START, days=days,
                                            impressions_per_day=int(args.events / days / EVENTS_PER_IMPRESSION)))
    lake = DATA_DIR / f"lake_recall_{args.events}_{days}d"  # reused only for the same log
    files = {"source": {"path": str(root / "events" / "dt={ds}")},
             "attributes": {"users": {"path": str(root / "users.csv")}, "items": {"path": str(root / "items.csv")}}}
    overrides = {"lake_root": str(lake), "dataset": files,
                 "recall": {"history_days": args.history_days, "popular_days": args.history_days}}
    overlay = write_overlay("recall_jobs", overrides)
    conf = ["conf/local.yaml", "conf/datasets/synthetic.yaml", str(overlay)]
    cfg = load_config(conf)
    spark = build_session(cfg)
    as_of = START + dt.timedelta(days=args.history_days)
    prepared: dict = {}
    if not (lake / USER_ITEM_DAILY_TABLE).exists():
        shutil.rmtree(lake, ignore_errors=True)
        with stopwatch(prepared, "ingest_and_rollups"):
            for day in date_range(START, as_of):
                ingest_attributes(spark, cfg, day)
                ingest_events(spark, cfg, day)
                build_daily_rollups(spark, cfg, day)
    seconds: dict = {}
    reports = {}
    for name, job in [(name, job) for name, job in DAY_JOBS if "recall" in name]:  # the pipeline's, in its order
        with stopwatch(seconds, name):
            reports[name] = job(spark, cfg, as_of)
        print(f"{reports[name]}  [{seconds[name]}s]", flush=True)
    uncapped = load_config(conf + [str(write_overlay("recall_jobs_uncapped", {"recall": {"itemcf": {
        "max_history": 1_000_000, "max_item_users": 1_000_000}}}))])
    with stopwatch(seconds, "recall_itemcf_without_skew_control"):
        recall_itemcf(spark, uncapped, as_of)
    first, last = history_range(cfg.recall, as_of)
    interacted = read_interactions(spark, cfg, first, last).persist()
    params = cfg.recall.itemcf
    largest = {
        "without_skew_control": pair_counts(interacted.select("user_id", "item_id")).agg(F.max("pairs")).first()[0],
        "with_skew_control": pair_counts(capped_histories(interacted, params.max_history, params.max_item_users))
        .agg(F.max("pairs")).first()[0],
    }
    events = spark.read.format("delta").load(cfg.table_path(EVENTS_TABLE)).count()
    write_result(
        "recall_jobs", dataset="synthetic", rows=events, interactions=interacted.count(), seconds=seconds,
        prepare_seconds=prepared, largest_item_pair_count=largest,
        compared="item-CF with skew control (history and popular-item caps) vs without; each recall job timed",
        ratio=round(seconds["recall_itemcf_without_skew_control"] / seconds["recall_itemcf"], 2),
        evaluation=reports["evaluate_recall"],
    )


if __name__ == "__main__":
    main()

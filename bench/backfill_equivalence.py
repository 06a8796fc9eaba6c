"""A backfill equals the single-day runs: one `jobs.backfill` over a range into one lake, then every day
as its own process (`jobs.backfill --start D --end D`) into another; a checksum per table and partition.

    python -m bench.backfill_equivalence [--start 1998-03-24 --end 1998-04-22]   (BENCH_QUICK=1: 2 days)
Both sides run the data jobs (jobs.backfill.HISTORY_JOBS), whose tables are compared; the recall, GBDT and model
jobs take ~2 min more per day on MovieLens, and the DAG test re-runs them for one day and compares
every table but ranker_metrics, model_registry and gbdt_metrics.
Figure: wall time of the backfill and of the single-day runs; the number of partitions that differ (0).
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys

from pyspark.sql import functions as F

from bench.common import DATA_DIR, quick, stopwatch, write_overlay, write_result
from core.cli import parse_day
from core.config import date_range, load_config
from core.spark import build_session
from jobs.backfill import HISTORY_JOBS

DATASET = "conf/datasets/movielens_100k.yaml"
TABLES = {"events": "dt", "user_attributes": "dt", "item_attributes": "dt",
          "user_daily": "dt", "item_daily": "dt", "user_category_daily": "dt",
          "user_item_daily": "dt", "user_profile": "as_of", "item_profile": "as_of", "samples": "dt"}


def partition_checksums(spark, lake: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(table, partition) -> (rows, order-independent sum of row hashes)."""
    sums = {}
    for table, column in TABLES.items():
        frame = spark.read.format("delta").load(f"{lake}/{table}")
        row_hash = F.xxhash64(*[F.col(c) for c in sorted(frame.columns)]).cast("decimal(38,0)")  # no overflow
        for row in frame.groupBy(column).agg(F.count(F.lit(1)).alias("rows"), F.sum(row_hash).alias("hash")).collect():
            sums[(table, str(row[column]))] = (row["rows"], row["hash"])
    return sums


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=parse_day, default=dt.date(1998, 4, 21) if quick() else dt.date(1998, 3, 24))
    parser.add_argument("--end", type=parse_day, default=dt.date(1998, 4, 22))
    args = parser.parse_args(argv)
    lakes = {name: DATA_DIR / f"lake_{name}" for name in ("backfill", "single_days")}
    seconds: dict = {}
    days = date_range(args.start, args.end)
    for name, lake in lakes.items():
        shutil.rmtree(lake, ignore_errors=True)
        conf = ",".join(["conf/local.yaml", DATASET, str(write_overlay(f"lake_{name}", {"lake_root": str(lake)}))])
        runs = [(args.start, args.end)] if name == "backfill" else [(day, day) for day in days]
        with stopwatch(seconds, name):
            for start, end in runs:
                subprocess.run([sys.executable, "-m", "jobs.backfill", "--start", str(start), "--end", str(end),
                                "--jobs", ",".join(HISTORY_JOBS), "--conf", conf],
                               check=True, stdout=subprocess.DEVNULL)
    spark = build_session(load_config(["conf/local.yaml", DATASET]))
    backfill, single = (partition_checksums(spark, str(lakes[name])) for name in ("backfill", "single_days"))
    differing = sorted(key for key in backfill.keys() | single.keys() if backfill.get(key) != single.get(key))
    write_result(
        "backfill_equivalence", dataset="movielens_100k", days=len(days),
        rows=sum(rows for rows, _ in backfill.values()), seconds=seconds, partitions=len(backfill),
        differing_partitions=[f"{table}/{part}" for table, part in differing],
        compared="one backfill process vs one process per day (data jobs), checksum per table partition",
        ratio=round(seconds["single_days"] / seconds["backfill"], 2),
    )
    if differing:
        sys.exit(f"{len(differing)} partitions differ: {differing[:5]}")


if __name__ == "__main__":
    main()

"""Ingest throughput: jobs.ingest_events (parse, validate, dedup, quarantine, Delta) next to a bare
`spark.read.csv -> write Delta partitioned by dt` of the same synthetic day, in one Spark session.

    python -m bench.ingest_throughput [--events 10000000]      (BENCH_QUICK=1: 200k events)
Figure: events/s of each side and ratio = ingest events/s / bare events/s (issue 2's target >= 0.8 is not met:
measured 0.30-0.44, since exact whole-day dedup needs a pass before the write; see the bounds below).

Two bounds are timed in the same rounds, to show what the ingest's contract costs: one pass that parses and validates
the day and writes every line with its `event_id` and `reason` to Delta (`one_pass_hex_id`: no whole-day dedup, no
quarantine table), and the same pass with a 64-bit id (`one_pass_64bit_id`: the first half of the content key). An
ingest that keeps exact whole-day dedup needs a pass over the day before its write, so it costs more than either.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
from functools import partial
from pathlib import Path

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from bench.common import DATA_DIR, quick, stopwatch, write_overlay, write_result
from core.config import load_config
from core.config_schema import PipelineConfig
from core.spark import build_session
from datasets.synthetic import SyntheticSpec, write_synthetic
from jobs.delimited import read_source_lines
from jobs.ingest_events import ingest_events
from jobs.raw_events import check_raw_events, event_id_of

DAY = dt.date(2024, 1, 1)
CLICK_AND_CONVERSION_SHARE = 1.16  # events per impression in the default synthetic model, measured
BOUNDS = {
    "one_pass_hex_id": lambda: event_id_of(F.col("key_high"), F.col("key_low")),
    "one_pass_64bit_id": lambda: F.col("key_high"),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000 if quick() else 10_000_000)
    parser.add_argument("--repeats", type=int, default=1 if quick() else 2)
    args = parser.parse_args(argv)
    root = DATA_DIR / f"ingest_{args.events}"
    if not (root / "events" / f"dt={DAY}").exists():
        spec = SyntheticSpec(users=100_000, items=50_000, start=DAY, days=1,
                             impressions_per_day=int(args.events / CLICK_AND_CONVERSION_SHARE))
        write_synthetic(root, spec)
    lake = DATA_DIR / "lake_ingest"
    overlay = write_overlay("ingest_throughput", {
        "lake_root": str(lake), "dataset": {"source": {"path": str(root / "events" / "dt={ds}")}}})
    cfg = load_config(["conf/local.yaml", "conf/datasets/synthetic.yaml", str(overlay)])
    spark = build_session(cfg)
    day_path = str(root / "events" / f"dt={DAY}")
    reports = []
    sides = {"bare": lambda: write_bare(spark, day_path, lake / "bare"),
             "ingest": lambda: reports.append(ingest_events(spark, cfg, DAY)),
             **{name: partial(write_one_pass, spark, cfg, day_path, event_id(), lake / name)
                for name, event_id in BOUNDS.items()}}
    timings: dict[str, list[float]] = {side: [] for side in sides}
    for round_ in range(args.repeats):
        shutil.rmtree(lake, ignore_errors=True)
        order = list(sides)[round_ % len(sides):] + list(sides)[:round_ % len(sides)]  # no side always goes first
        t: dict = {}
        for side in order:
            with stopwatch(t, side):
                sides[side]()
        for side, seconds in t.items():
            timings[side].append(seconds)
        print(reports[-1], t)
    rows = reports[-1].read
    best = {side: min(seconds) for side, seconds in timings.items()}
    write_result(
        "ingest_throughput", dataset="synthetic", rows=rows, seconds=best, all_seconds=timings,
        compared=("events/s of ingest_events vs bare read->Delta write, best of repeats; bound_ratios: one validating "
                  "pass without whole-day dedup or quarantine, with the hex or a 64-bit id"),
        events_per_s={side: round(rows / seconds) for side, seconds in best.items()},
        ratio=round(best["bare"] / best["ingest"], 3),
        bound_ratios={name: round(best["bare"] / best[name], 3) for name in BOUNDS},
    )


def write_bare(spark: SparkSession, day_path: str, target: Path) -> None:
    schema = "user_id string, item_id string, event_type string, ts_ms long"
    bare = (spark.read.csv(day_path, header=True, schema=schema)
            .withColumn("dt", F.to_date(F.timestamp_millis("ts_ms"))))
    bare.write.format("delta").mode("overwrite").partitionBy("dt").save(str(target))


def write_one_pass(spark: SparkSession, cfg: PipelineConfig, day_path: str, event_id: Column, target: Path) -> None:
    """Parse and validate the day once and write every line, good or rejected, with its id and reason: no filter,
    no dedup, no quarantine, so a lower bound on any ingest that validates the day and writes an id."""
    checked = check_raw_events(read_source_lines(spark, day_path, cfg.dataset.source), cfg.dataset, [DAY])
    # Every line is written: a filter on `reason` here would be pushed into the parse (see check_raw_events).
    (checked.select(event_id.alias("event_id"), "reason", "user_id", "item_id", "event_type", "event_time", "value",
                    "dt")
     .write.format("delta").mode("overwrite").partitionBy("dt").save(str(target)))


if __name__ == "__main__":
    main()

"""Ingest throughput: jobs.ingest_events (parse, validate, dedup, quarantine, Delta) next to a bare
`spark.read.csv -> write Delta partitioned by dt` of the same synthetic day, in one Spark session.

    python -m bench.ingest_throughput [--events 10000000]      (BENCH_QUICK=1: 200k events)
Figure: events/s of each side and ratio = ingest events/s / bare events/s (target >= 0.8).
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil

from pyspark.sql import functions as F

from bench.common import DATA_DIR, quick, stopwatch, write_overlay, write_result
from core.config import load_config
from core.spark import build_session
from datasets.synthetic import SyntheticSpec, write_synthetic
from jobs.ingest_events import ingest_day

DAY = dt.date(2024, 1, 1)
CLICK_AND_CONVERSION_SHARE = 1.16  # events per impression in the default synthetic model, measured


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
    timings: dict[str, list[float]] = {"bare": [], "ingest": []}
    rows = 0
    for _ in range(args.repeats):  # alternate the sides so neither gets a warmer JVM
        shutil.rmtree(lake, ignore_errors=True)
        t: dict = {}
        with stopwatch(t, "bare"):
            bare = (spark.read.csv(day_path, header=True, schema="user_id string, item_id string, "
                                   "event_type string, ts_ms long")
                    .withColumn("dt", F.to_date(F.timestamp_millis("ts_ms"))))
            bare.write.format("delta").mode("overwrite").partitionBy("dt").save(str(lake / "bare"))
        with stopwatch(t, "ingest"):
            report = ingest_day(spark, cfg, DAY)
        rows = report.read
        timings["bare"].append(t["bare"])
        timings["ingest"].append(t["ingest"])
        print(report, t)
    bare_s, ingest_s = min(timings["bare"]), min(timings["ingest"])
    write_result(
        "ingest_throughput", dataset="synthetic", rows=rows, seconds={"bare": bare_s, "ingest": ingest_s},
        all_seconds=timings, compared="events/s of ingest_events vs bare read->Delta write, best of repeats",
        events_per_s={"bare": round(rows / bare_s), "ingest": round(rows / ingest_s)},
        ratio=round(bare_s / ingest_s, 3),
    )


if __name__ == "__main__":
    main()

"""Range mode against per-day mode of the range runner: the data jobs (jobs.backfill.HISTORY_JOBS) of a range in a
fresh lake, once in range mode (each job one Spark job for every day) and once day by day (--per-day, as the DAG
runs them), each its own process; a digest per table partition (ops.digests, read without a JVM); the wall times
side by side.

    python -m bench.backfill_equivalence [--dataset movielens_100k] [--start 1997-09-20 --end 1998-04-22]
        [--per-day-end 1997-10-19] [--lengths 10,30,100]    (BENCH_QUICK=1: 2 days, the first per day)
    python -m bench.backfill_equivalence --synthetic-events 1000000,10000000 [--days 10] [--per-day-days 3]
Per-day mode costs ~30 s a day on MovieLens, so --per-day-end can stop it early: the days it built are compared
(a day's partitions depend only on the days before it) and its whole-range time is extrapolated from its
seconds per day, labelled so. --lengths adds range-mode runs of the first N days, for how the cost grows with the
range. Figures: seconds of each run, per-day / range ratio, the number of partitions that differ (0); each run's
own lines (seconds per job) are kept in bench/data/<lake>.log.
--synthetic-events runs the comparison on seeded synthetic logs of each size instead (written once under
bench/data; a daily-layout source, so its ingest reads one file a day), for how range mode grows with events.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import DATA_DIR, DATASET_HELP, dataset_conf, quick, stopwatch, write_overlay, write_result
from bench.scaling import START, events_in_lake, parse_sizes, per_million, synthetic_files, synthetic_log
from core.cli import parse_day
from core.config import load_config
from core.days import date_range
from jobs.backfill import HISTORY_JOBS
from ops.digests import day_digests, lake_tables


def partition_digests(lake: Path, days: list[dt.date]) -> dict[tuple[str, str], tuple[int, str]]:
    """(table, day) -> (rows, sha256 of the rows) of the day-partitioned tables' partitions of `days`: ops.digests,
    as the range-equivalence tests compare lakes (every value exactly, floats included)."""
    whole = tuple(name for name, _, column in lake_tables(lake) if not column)  # no partition: not read at all
    return {(table, str(day)): digest for day in days for table, digest in day_digests(lake, day, skip=whole).items()}


def backfill(dataset_confs: list[str], name: str, start: dt.date, end: dt.date, *flags: str) -> float:
    """Seconds of one jobs.backfill process of the data jobs over [start, end] into a fresh lake `name`."""
    lake = DATA_DIR / name
    shutil.rmtree(lake, ignore_errors=True)
    overlay = write_overlay(name, {"lake_root": str(lake), "artifact_root": str(DATA_DIR / f"{name}_artifacts")})
    conf = ",".join(["conf/local.yaml", *dataset_confs, str(overlay)])
    seconds: dict = {}
    with stopwatch(seconds, name), open(DATA_DIR / f"{name}.log", "w") as log:  # the runner's seconds per job
        subprocess.run([sys.executable, "-m", "jobs.backfill", "--start", str(start), "--end", str(end),
                        "--jobs", ",".join(HISTORY_JOBS), "--conf", conf, *flags],
                       check=True, stdout=log)
    return seconds[name]


def compare(dataset_confs: list[str], start: dt.date, end: dt.date, per_day_end: dt.date,
            lengths: list[int]) -> dict:
    """Range mode over [start, end], per-day mode over [start, per_day_end], range mode over the first days of each
    length, each from a fresh lake; the figures and the partitions of the per-day days that differ."""
    days, per_day_days = date_range(start, end), date_range(start, per_day_end)
    seconds = {"range": backfill(dataset_confs, "lake_range", start, end),
               "per_day": backfill(dataset_confs, "lake_per_day", start, per_day_end, "--per-day")}
    by_length = {length: backfill(dataset_confs, f"lake_range_{length}", start, start + dt.timedelta(days=length - 1))
                 for length in lengths}
    in_range, per_day = (partition_digests(DATA_DIR / lake, per_day_days) for lake in ("lake_range", "lake_per_day"))
    differing = sorted(key for key in in_range.keys() | per_day.keys() if in_range.get(key) != per_day.get(key))
    per_day_whole = seconds["per_day"] * len(days) / len(per_day_days)
    return dict(
        range=f"{start}..{end}", days=len(days), per_day_mode_days=len(per_day_days),
        rows=sum(rows for rows, _ in in_range.values()),
        seconds={"range_mode": round(seconds["range"], 1), "per_day_mode": round(seconds["per_day"], 1),
                 **{f"range_mode_first_{length}_days": round(value, 1) for length, value in by_length.items()}},
        per_day_mode_whole_range_seconds=round(per_day_whole, 1),
        per_day_mode_whole_range_is="measured" if per_day_end == end else "extrapolated from its seconds per day",
        ratio=round(per_day_whole / seconds["range"], 1),
        partitions_compared=len(per_day), differing_partitions=[f"{table}/{part}" for table, part in differing])


COMPARED = ("jobs.backfill range mode vs --per-day, each one process from a fresh lake (data jobs); ratio: per-day "
            "seconds for the whole range / range-mode seconds; digest per table partition of the per-day run's days")


def synthetic_sizes(sizes: list[int], days: int, per_day_days: int) -> list[dict]:
    """compare() on a seeded synthetic log of each size over `days` days (per-day mode on the first
    `per_day_days`), with range mode's seconds per million events ingested."""
    results = []
    for events in sizes:
        log = synthetic_log(events, days)
        overlay = write_overlay(f"synthetic_{events}_{days}d", {"dataset": synthetic_files(log)})
        dataset_confs = ["conf/datasets/synthetic.yaml", str(overlay)]
        end = START + dt.timedelta(days=days - 1)
        result = compare(dataset_confs, START, end, min(START + dt.timedelta(days=per_day_days - 1), end), [])
        written = events_in_lake(str(DATA_DIR / "lake_range"))
        results.append({"requested": events, "events": written, **result,
                        "range_mode_seconds_per_million_events": per_million(result["seconds"]["range_mode"], written)})
        print(f"== {events} events: {result['seconds']}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="movielens_100k", type=dataset_conf, help=DATASET_HELP)
    parser.add_argument("--start", type=parse_day, help="default: the dataset's first day")
    parser.add_argument("--end", type=parse_day, help="default: the dataset's last day (quick: start + 1)")
    parser.add_argument("--per-day-end", type=parse_day,
                        help="last day of the per-day run (default: --end; quick: start)")
    parser.add_argument("--lengths", default="", help="comma-separated range lengths in days to time in range mode")
    parser.add_argument("--synthetic-events", type=parse_sizes,
                        help="instead of --dataset: seeded synthetic logs of these sizes (events in the whole log) "
                             "over --days days, one comparison each, for how range mode grows with events")
    parser.add_argument("--days", type=int, default=10, help="days of each synthetic log")
    parser.add_argument("--per-day-days", type=int, default=3, help="days of each synthetic log run in per-day mode")
    args = parser.parse_args(argv)
    if args.synthetic_events:
        sizes = synthetic_sizes(args.synthetic_events, args.days, args.per_day_days)
        write_result("backfill_equivalence_synthetic", dataset="synthetic", sizes=sizes, rows=sizes[-1]["events"],
                     seconds={str(size["events"]): size["seconds"]["range_mode"] for size in sizes},
                     ratio=round(sizes[-1]["range_mode_seconds_per_million_events"]
                                 / sizes[0]["range_mode_seconds_per_million_events"], 3),
                     compared=COMPARED + "; ratio: range-mode seconds per million events, largest log / smallest")
        differing = [part for size in sizes for part in size["differing_partitions"]]
    else:
        cfg = load_config(["conf/local.yaml", args.dataset])
        start = args.start or cfg.dataset.window.start
        end = args.end or (start + dt.timedelta(days=1) if quick() else cfg.dataset.window.end)
        per_day_end = args.per_day_end or (start if quick() else end)
        result = compare([args.dataset], start, end, min(per_day_end, end),
                         list(map(int, filter(None, args.lengths.split(",")))))
        name = cfg.dataset.name
        write_result("backfill_equivalence" + ("" if name == "movielens_100k" else f"_{name}"),
                     dataset=name, **result, compared=COMPARED)
        differing = result["differing_partitions"]
    if differing:
        sys.exit(f"{len(differing)} partitions differ: {differing[:5]}")


if __name__ == "__main__":
    main()

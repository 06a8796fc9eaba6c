"""How the Spark part of the pipeline scales with the log: every day job (ingest to evaluate_recall) over a synthetic
log of N events spread over a few days, for several N, in one Spark session, timed per job.

    python -m bench.scaling [--events 1000000,10000000,50000000] [--days 4] [--add] [--resume]
    (BENCH_QUICK=1: one log of 20k events)
Figure: seconds per million events at each size (all jobs of all days / events in the log) and of the last day
alone (the one with history: profiles, samples, a trained forest, recall); ratio = seconds per million events at
the largest size / at the smallest (1: cost grows linearly; below 1: fixed costs are amortised).

Every job is timed on its own, so a size may be measured over several processes: after each day the timings so far
are kept next to the lake, and `--resume` (same measured code) continues a stopped run at its first unfinished day,
which runs again from its first job. The result says how many processes measured each size.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import DATA_DIR, RESULTS_DIR, commit, quick, write_overlay, write_result
from core.config import REPO_ROOT, load_config
from core.days import date_range
from core.delta_arrow import delta_dataset
from core.spark import build_session
from core.tables import EVENTS_TABLE
from datasets.synthetic import SyntheticSpec, write_synthetic
from jobs.backfill import DAY_JOBS

START = dt.date(2024, 1, 1)
EVENTS_PER_IMPRESSION = 1.16  # clicks and conversions per impression in the default synthetic model, measured
NAME = "scaling"


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(float(part)) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] <= 0:
        raise argparse.ArgumentTypeError(f"--events needs positive sizes, got {text!r}")
    return sizes


def synthetic_log(events: int, days: int):
    """The seeded synthetic log of about `events` events over `days` days (written once, then reused)."""
    root = DATA_DIR / f"scaling_{events}_{days}d"
    if not (root / "events").exists():
        write_synthetic(root, SyntheticSpec(users=max(1000, events // 200), items=max(1000, min(50_000, events // 20)),
                                            start=START, days=days,
                                            impressions_per_day=int(events / days / EVENTS_PER_IMPRESSION)))
    return root


def synthetic_files(root: Path) -> dict:
    """The `dataset` overlay that points conf/datasets/synthetic.yaml at the log written under `root`."""
    return {"source": {"path": str(root / "events" / "dt={ds}")},
            "attributes": {"users": {"path": str(root / "users.csv")}, "items": {"path": str(root / "items.csv")}}}


def overlay_for(events: int, days: int, root, fresh: bool = True) -> str:
    """The config overlay of one size; `fresh` starts from an empty lake and no saved models."""
    lake = DATA_DIR / f"lake_scaling_{events}"
    if fresh:
        shutil.rmtree(lake, ignore_errors=True)
        shutil.rmtree(DATA_DIR / f"artifacts_scaling_{events}", ignore_errors=True)
    # A short log: the last day's forest learns days 2..D-2 (day 1 has no history, so its samples have no features
    # to split on and the forest would be one-leaf trees), its stacked LR the day before D.
    values = {"lake_root": str(lake), "artifact_root": str(DATA_DIR / f"artifacts_scaling_{events}"),
              "dataset": synthetic_files(root), "gbdt": {"train_days": days - 2, "stack_days": 1},
              "recall": {"history_days": days - 1, "popular_days": days - 1}}
    return str(write_overlay(f"scaling_{events}", values))


def events_in_lake(lake_root: str) -> int:
    """The events a lake holds: those ingested from the log (its size, rejected rows aside), counted without Spark."""
    return delta_dataset(f"{lake_root.rstrip('/')}/{EVENTS_TABLE}").count_rows()


def per_million(seconds: float, events: int) -> float:
    return round(seconds / (events / 1e6), 2)


def progress_path(events: int, days: int) -> Path:
    return DATA_DIR / f"scaling_{events}_{days}d_progress.json"


# What a scaling run measures: a stopped run resumes only if none of it changed since the run began.
MEASURED_CODE = ("core", "datasets", "features", "jobs", "conf", "bench/scaling.py", "requirements.lock")


def measured_code_changed(since: str) -> bool:
    changed = subprocess.run(["git", "diff", "--quiet", since, "HEAD", "--", *MEASURED_CODE], cwd=REPO_ROOT)
    return changed.returncode != 0  # 1: changed; anything else (an unknown commit): cannot tell, so changed


def resumable_progress(events: int, days: int) -> dict | None:
    """The kept timings of a stopped run of this size, or None; refuses those of other code or mode."""
    path = progress_path(events, days)
    if not path.is_file():
        return None
    progress = json.loads(path.read_text())
    if progress["quick"] != quick() or measured_code_changed(progress["commit"]):
        raise SystemExit(f"{path} was measured at commit {progress['commit']} (quick={progress['quick']}), and "
                         f"{', '.join(MEASURED_CODE)} differ at {commit()} (quick={quick()}): resume with the same "
                         "code, or run without --resume")
    return progress


def forget_saved_models(artifacts: Path, days: list[dt.date]) -> None:
    """Drop the models a stopped run saved for days that run again, so that they are trained (and timed) again."""
    for day in days:
        for saved in artifacts.glob(f"*/{day.isoformat()}"):
            shutil.rmtree(saved)


def run_size(spark, events: int, days: int, resume: bool = False) -> dict:
    """Every day job of every day of one log, timed; the figures of that size."""
    root = synthetic_log(events, days)
    progress = resumable_progress(events, days) if resume else None
    if progress is None:
        progress = {"commit": commit(), "quick": quick(), "days_done": 0, "processes": 0,
                    "per_job_seconds": {}, "last_day_per_job_seconds": {}}
    overlay = overlay_for(events, days, root, fresh=progress["days_done"] == 0)
    cfg = load_config(["conf/local.yaml", "conf/datasets/synthetic.yaml", overlay])
    per_job: dict[str, float] = progress["per_job_seconds"]
    last_day: dict[str, float] = progress["last_day_per_job_seconds"]
    progress["processes"] += 1
    days_run = date_range(START, START + dt.timedelta(days=days - 1))
    forget_saved_models(Path(cfg.artifact_root), days_run[progress["days_done"]:])
    for ds in days_run[progress["days_done"]:]:
        for name, job in DAY_JOBS:
            began = time.perf_counter()
            message = job(spark, cfg, ds)
            seconds = time.perf_counter() - began
            per_job[name] = per_job.get(name, 0.0) + seconds
            if ds == days_run[-1]:
                last_day[name] = round(seconds, 2)
            print(f"{events:>10} {str(message).splitlines()[0][:110]}  [{seconds:.1f}s]", flush=True)
        progress["days_done"] += 1
        progress_path(events, days).write_text(json.dumps(progress, indent=2) + "\n")
    progress_path(events, days).unlink()
    written = events_in_lake(cfg.lake_root)
    total = sum(per_job.values())
    return {"requested": events, "events": written, "days": days, "seconds": round(total, 1),
            "seconds_per_million_events": per_million(total, written),
            "last_day_seconds": round(sum(last_day.values()), 1),
            "last_day_seconds_per_million_events": per_million(sum(last_day.values()), written / days),
            "per_job_seconds": {name: round(value, 1) for name, value in per_job.items()},
            "last_day_per_job_seconds": last_day, "processes": progress["processes"], "commit": progress["commit"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=parse_sizes, default="20000" if quick() else "1000000,10000000,50000000",
                        help="comma-separated log sizes (events in the whole log)")
    parser.add_argument("--days", type=int, default=4,
                        help="days the log spans (>= 4: the last day's forest learns a day with history)")
    parser.add_argument("--add", action="store_true",
                        help="keep the other sizes of the existing result (same days and mode) and add these")
    parser.add_argument("--resume", action="store_true",
                        help="continue each size's stopped run (same measured code) at its first unfinished day")
    args = parser.parse_args(argv)
    if args.days < 4:
        parser.error("--days must be >= 4")
    spark = build_session(load_config(["conf/local.yaml", "conf/datasets/synthetic.yaml"]))
    kept = earlier_sizes(args.days, set(args.events)) if args.add else []
    sizes = []
    for events in args.events:
        sizes.append(run_size(spark, events, args.days, args.resume))
        print(f"== {events} events: {sizes[-1]['seconds']}s, {sizes[-1]['seconds_per_million_events']} s/M events",
              flush=True)
        write_scaling(kept + sizes)  # after every size, so a run stopped at a large size keeps the smaller ones


def earlier_sizes(days: int, replaced: set[int]) -> list[dict]:
    """The sizes of the existing result measured the same way (days, quick mode) and not re-run now."""
    path = RESULTS_DIR / f"{NAME}.json"
    if not path.is_file():
        return []
    result = json.loads(path.read_text())
    if result.get("quick") != quick():
        return []
    return [size for size in result["sizes"] if size["days"] == days and size["requested"] not in replaced]


def write_scaling(sizes: list[dict]) -> None:
    sizes = sorted(sizes, key=lambda size: size["events"])
    first, last = sizes[0], sizes[-1]
    write_result(
        NAME, dataset="synthetic", rows=last["events"], sizes=sizes,
        seconds={str(size["events"]): size["seconds"] for size in sizes},
        seconds_per_million_events={str(size["events"]): size["seconds_per_million_events"] for size in sizes},
        compared="seconds per million events of every Spark day job, smallest log vs largest",
        ratio=round(last["seconds_per_million_events"] / first["seconds_per_million_events"], 3),
    )


if __name__ == "__main__":
    main()

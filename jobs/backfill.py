"""Run the day jobs in dependency order for every day of a range, in one Spark session.

Each day's partitions equal those of running the jobs one day at a time, and re-running any day or range
replaces exactly those partitions. Without --start/--end the config's `run` range is used.

Range mode (the default for more than one day): the ingest jobs, rollups, profiles and samples of every day of the
range each run as one Spark job (`RANGE_JOBS`: every row and aggregate keyed by its day, so each partition is the one
the daily job writes; a daily-delivered source is still ingested a file at a time), then the later jobs day by day.
--per-day runs every job one day at a time, day after day, as the DAG does.

With --with-models, each day's Spark jobs are followed by what the DAG runs after them: per ranker of
`ranker.models`, `models.train` then the gate `models.validate_and_export`, each its own process (TensorFlow stays
out of the Spark driver), so a range gets the candidates and model versions daily runs would. A rejected model does
not stop the range (the DAG's gate does not block the next day either), but the backfill then exits 1 naming it.
The first day trains on the days before the range: when the lake's samples lack any of them, their data jobs
(HISTORY_JOBS) run first, in the same session.

An empty day of a dump (jobs.ingest_events) is ingested, and its later jobs and training are skipped, as the DAG
skips them.
"""
from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from typing import Callable, Sequence

from core.cli import one_line_errors, parse_day
from core.config import REPO_ROOT, add_conf_option, load_config
from core.config_schema import PipelineConfig
from core.days import date_range
from core.delta_arrow import is_delta_table, partition_days
from core.errors import GATE_REJECTED_EXIT, PipelineError
from core.pipeline import DAY_STEPS, HISTORY_STEP_NAMES, Step, spark_day_job
from core.spark import build_session
from core.tables import SAMPLES_TABLE
from jobs.build_daily_rollups import rollups_of_days
from jobs.build_profiles import profiles_of_days
from jobs.build_samples import samples_of_days
from jobs.ingest_attributes import attributes_of_days
from jobs.ingest_events import empty_days, events_of_days


def in_own_process(step: Step) -> Callable[[object, PipelineConfig, dt.date], str]:
    """A day job (spark, cfg, ds) -> report that runs the step's module in a new Python process, as the DAG does."""
    def run(spark, cfg: PipelineConfig, ds: dt.date) -> str:
        arguments = ["--ds", str(ds), "--conf", ",".join(cfg.sources[1:])]  # sources[0] is conf/base.yaml
        done = subprocess.run([sys.executable, "-m", step.module, *arguments], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              text=True)
        if done.returncode != 0:
            raise PipelineError(f"python -m {step.module} {' '.join(arguments)} failed (its error is above)")
        return done.stdout.strip()
    run.__name__ = step.name
    return run


# (name, function) of core.pipeline's day steps, in its dependency order: a Spark step's day job jobs/<name>.py and
# its entry function <name>(spark, cfg, ds), or a module step run in its own process.
DAY_JOBS = tuple((step.name, in_own_process(step) if step.module else spark_day_job(step.name)) for step in DAY_STEPS)
# What the days after them read (rollups, profiles, samples).
HISTORY_JOBS = HISTORY_STEP_NAMES
# Each history step's range mode: the same partitions for every day of a range, in one Spark job.
RANGE_JOBS = {"ingest_attributes": attributes_of_days, "ingest_events": events_of_days,
              "build_daily_rollups": rollups_of_days, "build_profiles": profiles_of_days,
              "build_samples": samples_of_days}


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=parse_day, help="first day (default: run.start of the config)")
    parser.add_argument("--end", type=parse_day, help="last day, included (default: run.end of the config)")
    add_conf_option(parser)
    parser.add_argument("--jobs", type=_job_names, default=[name for name, _ in DAY_JOBS],
                        help="comma-separated subset of the day jobs to run, kept in dependency order "
                             f"(default: all of {', '.join(name for name, _ in DAY_JOBS)})")
    parser.add_argument("--with-models", action="store_true",
                        help="after each day's Spark jobs, train and gate every ranker of ranker.models on that day")
    parser.add_argument("--per-day", action="store_true",
                        help="run every job one day at a time (as the DAG does) instead of rollups, profiles and "
                             "samples of the whole range in one job each")
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    start, end = args.start or cfg.run.start, args.end or cfg.run.end
    if end < start:
        raise PipelineError(f"--end {end} is before --start {start}")
    spark = build_session(cfg)
    began = time.perf_counter()
    run = run_day_jobs_per_day if args.per_day else run_day_jobs_in_range
    if args.with_models:
        history = history_to_build(cfg, start, built_days(cfg))
        if history:
            run(spark, cfg, history, HISTORY_JOBS)
    rejected: list[str] = []

    def train_every_model(ds: dt.date) -> None:
        rejected.extend(f"{model} {ds}" for model in cfg.ranker.models
                        if not train_and_gate(args.conf, model, ds))

    days = date_range(start, end)
    built = run(spark, cfg, days, args.jobs, train_every_model if args.with_models else None)
    empty = [str(ds) for ds in days if ds not in built]
    empty_note = f"({len(empty)} empty: {', '.join(empty)}) " if empty else ""
    print(f"backfill {start}..{end} of {cfg.dataset.name}: {len(date_range(start, end))} days {empty_note}in "
          f"{time.perf_counter() - began:.1f}s; tables under {cfg.lake_root}")
    if rejected:
        print(f"rejected by the gate (blessed versions kept): {', '.join(rejected)}", file=sys.stderr)
        return 1
    return 0


def run_day_jobs_per_day(spark, cfg: PipelineConfig, days: Sequence[dt.date], names: Sequence[str],
                         after_day: Callable[[dt.date], None] | None = None) -> list[dt.date]:
    """Every named job of a day, then `after_day` of it, day after day; the days that were not empty."""
    built = []
    for ds in days:
        if run_day_jobs(spark, cfg, ds, names):
            built.append(ds)
            if after_day:
                after_day(ds)
    return built


def run_day_jobs_in_range(spark, cfg: PipelineConfig, days: Sequence[dt.date], names: Sequence[str],
                          after_day: Callable[[dt.date], None] | None = None) -> list[dt.date]:
    """The same partitions as run_day_jobs_per_day: each named range job once, for every day (the ingest jobs) or
    every day that is not empty (the others), then the later jobs and `after_day` day by day; the days that were not
    empty."""
    selected = [name for name, _ in DAY_JOBS if name in names]
    if len(days) == 1 or not any(name in RANGE_JOBS for name in selected):
        return run_day_jobs_per_day(spark, cfg, days, names, after_day)
    for name in [name for name in selected if name in RANGE_JOBS]:
        empty = set() if name.startswith("ingest_") else empty_days(cfg)  # as logged by the ingest just run
        targets = [ds for ds in days if ds not in empty]
        if targets:
            began = time.perf_counter()
            print(f"{RANGE_JOBS[name](spark, cfg, targets)}  [{name}: {time.perf_counter() - began:.1f}s]",
                  flush=True)
    empty = empty_days(cfg)
    built = [ds for ds in days if ds not in empty]
    later = [name for name in selected if name not in RANGE_JOBS]
    for ds in built:
        if later:
            run_day_jobs(spark, cfg, ds, later)
        if after_day:
            after_day(ds)
    return built


def run_day_jobs(spark, cfg: PipelineConfig, ds: dt.date, names) -> bool:
    """Run the named jobs for ds in order; False when ingest_events found ds an empty day (the rest are skipped)."""
    selected = [(name, job) for name, job in DAY_JOBS if name in names]
    for position, (name, job) in enumerate(selected):
        began = time.perf_counter()
        print(f"{job(spark, cfg, ds)}  [{name}: {time.perf_counter() - began:.1f}s]", flush=True)
        if name == "ingest_events" and ds in empty_days(cfg):
            rest = [later for later, _ in selected[position + 1:]]
            print(f"{ds} is an empty day of the dump: {', '.join(rest) or 'no job'} skipped", flush=True)
            return False
    return True


def history_to_build(cfg: PipelineConfig, ds: dt.date, built: set[dt.date]) -> list[dt.date]:
    """The days whose data jobs must run before ds can be trained on, given the days that are `built` (built_days).

    ds's rankers and forest train on the days before it (`ranker.train_days`, `gbdt.train_days`, the dataset's
    window permitting). From the first of them that is missing on, every day is rebuilt: a day's profiles read the
    rollups of the days before it."""
    if cfg.ranker.train_days == "all":
        first = cfg.dataset.window.start
    else:
        forest_days = cfg.gbdt.train_days + cfg.samples.attribution_days
        first = max(ds - dt.timedelta(days=max(cfg.ranker.train_days, forest_days)), cfg.dataset.window.start)
    wanted = date_range(first, ds - dt.timedelta(days=1))
    missing = [day for day in wanted if day not in built]
    return wanted[wanted.index(missing[0]):] if missing else []


def built_days(cfg: PipelineConfig) -> set[dt.date]:
    """The days whose data jobs are done: those the samples table holds (from its log's partition values, no data
    file is opened), and the empty days ingest_events logged, which have nothing to build after ingest."""
    path = cfg.table_path(SAMPLES_TABLE)
    return (partition_days(path, "dt") if is_delta_table(path) else set()) | empty_days(cfg)


def train_and_gate(conf: str, model: str, ds: dt.date) -> bool:
    """The DAG's train_<model> and validate_and_export_<model> tasks for ds; False when the gate rejects the model."""
    arguments = ["--model", model, "--ds", str(ds), "--conf", conf]
    began = time.perf_counter()
    if subprocess.run([sys.executable, "-m", "models.train", *arguments], cwd=REPO_ROOT,
                      stdout=subprocess.DEVNULL).returncode != 0:
        raise PipelineError(f"models.train {' '.join(arguments)} failed (its error is above)")
    gate = subprocess.run([sys.executable, "-m", "models.validate_and_export", *arguments], cwd=REPO_ROOT).returncode
    if gate not in (0, GATE_REJECTED_EXIT):
        raise PipelineError(f"models.validate_and_export {' '.join(arguments)} failed (its error is above)")
    passed = gate == 0
    print(f"{model} {ds}: trained and {'published' if passed else 'rejected'} "
          f"[train + gate: {time.perf_counter() - began:.1f}s]", flush=True)
    return passed


def _job_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in dict(DAY_JOBS)]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown job(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(name for name, _ in DAY_JOBS)}")
    return names


if __name__ == "__main__":
    sys.exit(main())

"""One full day of the pipeline on MovieLens 100k, stage by stage: every Spark day job for D, each ranker of
`ranker.models` trained on the days before D, the gate (models.validate_and_export) and the run report.

    python -m bench.full_day [--ds 1998-04-22] [--history-days 30]     (BENCH_QUICK=1: 3 history days, lr, 1 epoch)
The history days before D get only what D needs (rollups, profiles, samples), timed apart as preparation.
Figures: seconds per stage and per job; ratio = TF seconds (training + gate) / Spark seconds of the day.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys

from bench.common import DATA_DIR, quick, stopwatch, write_overlay, write_result
from core.cli import parse_day
from core.config import load_config
from core.spark import build_session
from core.tables import EVENTS_TABLE
from jobs import backfill

DATASET = "conf/datasets/movielens_100k.yaml"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=parse_day, default=dt.date(1998, 4, 22))
    parser.add_argument("--history-days", type=int, default=3 if quick() else 30)
    parser.add_argument("--models", help="comma-separated rankers (default: ranker.models of the config; quick: lr)")
    args = parser.parse_args(argv)
    lake = DATA_DIR / "lake_full_day"
    shutil.rmtree(lake, ignore_errors=True)
    values = {"lake_root": str(lake), "artifact_root": str(lake / "_artifacts"),
              "gate": {"export_root": str(lake / "_exports")}}
    if quick():
        values["ranker"] = {"max_epochs": 1}
    conf = ",".join(["conf/local.yaml", DATASET, str(write_overlay("full_day", values))])
    cfg = load_config(conf)
    models = args.models.split(",") if args.models else (["lr"] if quick() else list(cfg.ranker.models))
    first, before = args.ds - dt.timedelta(days=args.history_days), args.ds - dt.timedelta(days=1)
    prepared: dict = {}
    with stopwatch(prepared, "history"):
        if backfill.main(["--conf", conf, "--start", str(first), "--end", str(before),
                          "--jobs", ",".join(backfill.HISTORY_JOBS)]):
            raise SystemExit(f"backfill {first}..{before} failed")
    spark = build_session(cfg)
    jobs: dict = {}
    for name, job in backfill.DAY_JOBS:
        with stopwatch(jobs, name):
            print(f"{job(spark, cfg, args.ds)}  [{name}]", flush=True)
    from models.train import train  # TensorFlow only now: the Spark stage ran without it

    training: dict = {}
    for name in models:
        with stopwatch(training, name):
            record = train(cfg, args.ds, name)
        print(f"train {name}: auc={record['auc']:.4f} [{training[name]}s]", flush=True)
    gate: dict = {}
    decisions = {}
    for name in models:  # a rejection is a decision (exit 2), not a failed benchmark
        with stopwatch(gate, name):
            decisions[name] = subprocess.run([sys.executable, "-m", "models.validate_and_export", "--ds",
                                              str(args.ds), "--model", name, "--conf", conf]).returncode
    from models.report import build_report, default_output

    seconds = {"spark_jobs": round(sum(jobs.values()), 1), "training": round(sum(training.values()), 1),
               "gate": round(sum(gate.values()), 1)}
    with stopwatch(seconds, "report"):
        page = build_report(cfg, args.ds - dt.timedelta(days=min(args.history_days, 13)), args.ds)
        out = default_output(cfg, args.ds - dt.timedelta(days=min(args.history_days, 13)), args.ds)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page)
    events = spark.read.format("delta").load(cfg.table_path(EVENTS_TABLE)).where(f"dt = '{args.ds}'").count()
    write_result(
        "full_day_movielens_100k", dataset="movielens_100k", ds=args.ds, rows=events, seconds=seconds,
        prepare_seconds=prepared, history_days=args.history_days, job_seconds=jobs, training_seconds=training,
        gate_seconds=gate, gate_exit_codes=decisions,
        report=str(out),
        compared="the stages of one day: Spark day jobs vs TF training and gate vs the report",
        ratio=round((seconds["training"] + seconds["gate"]) / seconds["spark_jobs"], 2),
    )


if __name__ == "__main__":
    main()

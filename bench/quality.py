"""Quality table of recall (per source) and GBDT leaf encoding (LR, GBDT, GBDT+LR) on a real dataset, forward in
time: every as_of in the range is trained on the days before it and scored on its own day.

    python -m bench.quality --dataset movielens_100k        (as_of 1998-03-24..04-22, history from 02-22)
    python -m bench.quality --dataset taobao_userbehavior   (as_of 2017-12-01..12-03, history from 11-25)
    python -m bench.quality --dataset path/to/overlay.yaml  (as_of = its run range, history from recall.history_days
                                                             before it)
    BENCH_QUICK=1: MovieLens, 2 evaluation days after 3 days of history.
Recall figures are pooled over every (as_of, user) evaluated, i.e. each day weighted by its evaluated users;
GBDT figures are the mean over the days. `--lake DIR --skip-build` summarises a lake already built; `--recall-only`
builds rollups and runs the recall jobs alone.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from pyspark.sql import functions as F

from bench.common import DATA_DIR, DATASET_HELP, dataset_conf, quick, write_overlay, write_result
from core.config import load_config
from core.config_schema import PipelineConfig
from core.spark import build_session
from core.tables import GBDT_METRICS_TABLE, RECALL_METRICS_TABLE
from jobs.backfill import DAY_JOBS
from jobs.backfill import main as backfill
from jobs.evaluate_recall import METRICS

PROTOCOLS = {  # dataset -> (first day with history, first as_of evaluated, last as_of)
    "movielens_100k": (dt.date(1998, 2, 22), dt.date(1998, 3, 24), dt.date(1998, 4, 22)),
    "taobao_userbehavior": (dt.date(2017, 11, 25), dt.date(2017, 12, 1), dt.date(2017, 12, 3)),
}
QUICK_PROTOCOL = (dt.date(1998, 4, 18), dt.date(1998, 4, 21), dt.date(1998, 4, 22))
ROLLUP_JOBS = ("ingest_attributes", "ingest_events", "build_daily_rollups")
RECALL_JOBS = ROLLUP_JOBS + tuple(name for name, _ in DAY_JOBS if "recall" in name)


def protocol_of(cfg: PipelineConfig) -> tuple[dt.date, dt.date, dt.date]:
    """A dataset without a protocol of its own: every as_of of its run range, after the history its recall reads."""
    start = max(cfg.dataset.window.start, cfg.run.start - dt.timedelta(days=cfg.recall.history_days))
    return start, cfg.run.start, cfg.run.end


def recall_table(spark, path: str, first: dt.date, last: dt.date) -> list[dict]:
    metrics = spark.read.format("delta").load(path).where(F.col("as_of").between(F.lit(first), F.lit(last)))
    pooled = metrics.groupBy("source", "k").agg(
        F.sum("users").alias("user_days"), F.countDistinct("as_of").alias("days"),
        *[(F.sum(F.col(name) * F.col("users")) / F.sum("users")).alias(name) for name in METRICS if name != "coverage"],
        F.avg("coverage").alias("coverage"))
    return [row.asDict() for row in pooled.orderBy("source", "k").collect()]


def gbdt_table(spark, path: str, first: dt.date, last: dt.date) -> list[dict]:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):  # a lake summarised before gbdt_leaves ran
        return []
    metrics = spark.read.format("delta").load(path).where(F.col("as_of").between(F.lit(first), F.lit(last)))
    summary = metrics.groupBy("model", "label").agg(
        F.countDistinct("as_of").alias("days"), F.avg("auc").alias("auc"), F.avg("logloss").alias("logloss"),
        F.sum("rows").alias("rows"))
    return [row.asDict() for row in summary.orderBy("model").collect()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="movielens_100k", type=dataset_conf, help=DATASET_HELP)
    parser.add_argument("--lake", type=Path, help="lake root (default bench/data/lake_quality_<dataset>)")
    parser.add_argument("--skip-build", action="store_true", help="only summarise the lake's metric tables")
    parser.add_argument("--recall-only", action="store_true",
                        help="build only what recall reads (rollups) and run the recall jobs: no samples or GBDT")
    args = parser.parse_args(argv)
    dataset = load_config(["conf/local.yaml", args.dataset])
    name = dataset.dataset.name
    history_start, first, last = QUICK_PROTOCOL if quick() else PROTOCOLS.get(name) or protocol_of(dataset)
    lake = args.lake or DATA_DIR / f"lake_quality_{name}"
    overlay = write_overlay(f"quality_{name}", {"lake_root": str(lake), "artifact_root": str(lake / "_art")})
    conf = f"conf/local.yaml,{args.dataset},{overlay}"
    seconds = {}
    if not args.skip_build:
        began = time.perf_counter()
        before = (first - dt.timedelta(days=1)).isoformat()
        # History days need only their rollups (and samples for the GBDT's training days); every as_of gets all.
        history_jobs = ROLLUP_JOBS if args.recall_only else ROLLUP_JOBS + ("build_profiles", "build_samples")
        _run(conf, history_start.isoformat(), before, history_jobs)
        # The merge tunes its weights on the candidates of the days before each as_of: the first as_of gets them too.
        warm_up = max(history_start + dt.timedelta(days=1), first - dt.timedelta(days=dataset.recall.merge.tune_days))
        _run(conf, warm_up.isoformat(), before, tuple(name for name in RECALL_JOBS if name not in ROLLUP_JOBS))
        _run(conf, first.isoformat(), last.isoformat(),
             RECALL_JOBS if args.recall_only else tuple(name for name, _ in DAY_JOBS))
        seconds["build"] = round(time.perf_counter() - began, 1)
    cfg = load_config(conf)
    spark = build_session(cfg)
    recall = recall_table(spark, cfg.table_path(RECALL_METRICS_TABLE), first, last)
    gbdt = gbdt_table(spark, cfg.table_path(GBDT_METRICS_TABLE), first, last)
    for row in recall:
        print(f"{row['source']:<8} k={row['k']:<4} user-days={row['user_days']:<5} "
              + " ".join(f"{name}={row[name]:.4f}" for name in METRICS))
    for row in gbdt:
        print(f"{row['model']:<8} {row['label']} days={row['days']} auc={row['auc']:.4f} logloss={row['logloss']:.4f}")
    write_result(f"quality_{name}", ratio=_ratios(recall, gbdt), dataset=name, as_of=[first, last],
                 seconds=seconds,
                 compared="recall sources vs popularity; LR vs GBDT vs GBDT+LR, forward in time",
                 recall=recall, gbdt=gbdt, rows=max((row["user_days"] for row in recall), default=0))


def _ratios(recall: list[dict], gbdt: list[dict]) -> dict:
    """recall@50 of each source over popularity's, and of the merge over its best source; AUC of GBDT+LR over LR's."""
    at_50 = {row["source"]: row["recall"] for row in recall if row["k"] == 50}
    ratios = {f"{source}/popular@50": round(value / at_50["popular"], 2)
              for source, value in at_50.items() if source != "popular" and at_50.get("popular")}
    best = max((value for source, value in at_50.items() if source != "merged"), default=0.0)
    if best and "merged" in at_50:
        ratios["merged/best source@50"] = round(at_50["merged"] / best, 3)
    auc = {row["model"]: row["auc"] for row in gbdt}
    if auc.get("lr_raw") and "gbdt_lr" in auc:
        ratios["auc gbdt_lr/lr_raw"] = round(auc["gbdt_lr"] / auc["lr_raw"], 3)
    return ratios


def _run(conf: str, start: str, end: str, jobs: tuple[str, ...]) -> None:
    if start <= end and backfill(["--conf", conf, "--start", start, "--end", end, "--jobs", ",".join(jobs)]):
        raise SystemExit(f"backfill {start}..{end} failed")


if __name__ == "__main__":
    main()

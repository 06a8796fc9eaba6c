"""Recall quality as of D, measured on what users actually did on day D: recall@K, hit-rate@K, precision@K,
NDCG@K (binary relevance) and catalogue coverage@K per source, written to `recall_metrics` and printed.

Protocol: the evaluated users are those with history in [D-N, D-1] (every source can serve them) and at least
one positive on D. A positive is a (user, item) with strength > 0 on D; with `exclude_seen` the items the user
already had in [D-N, D-1] are not positives either, since no source may recommend them. A user for whom a
source has no candidates scores 0 for that source. Metrics are means over the evaluated users, except coverage@K:
the share of the catalogue (the items interacted with in [D-N, D-1]) that is in any user's top K of the source.
"""
from __future__ import annotations

import datetime as dt
import sys
from typing import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_schema import PipelineConfig
from core.errors import PipelineError
from core.lake import read_partitions, replace_partition
from core.sums import exact_avg, exact_sum, fixed_point
from core.tables import RECALL_METRICS_TABLE
from jobs.recall_common import history_range, read_candidates, read_interactions

METRICS = ("recall", "hit_rate", "precision", "ndcg", "coverage")


def day_positives(day: DataFrame, history: DataFrame, exclude_seen: bool) -> DataFrame:
    """(user_id, item_id) positives of D for the users with history; minus their seen items with exclude_seen."""
    warm = day.join(history.select("user_id").distinct(), "user_id", "left_semi")
    if exclude_seen:
        warm = warm.join(history.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
    return warm.select("user_id", "item_id").distinct()


def recall_metrics(candidates: DataFrame, positives: DataFrame, ks: Sequence[int], catalogue_size: int) -> DataFrame:
    """(source, k, users, recall, hit_rate, precision, ndcg, coverage) from (source, user_id, item_id, rank)."""
    spark = candidates.sparkSession
    sources = candidates.select("source").distinct()
    cutoffs = spark.createDataFrame([(k,) for k in ks], "k int")
    wanted = positives.groupBy("user_id").agg(F.count(F.lit(1)).alias("positives"))
    hits = (candidates.join(positives, ["user_id", "item_id"])
            .join(cutoffs, F.col("rank") <= F.col("k"))
            .groupBy("source", "k", "user_id")
            .agg(F.count(F.lit(1)).alias("hits"), exact_sum(1.0 / F.log2(F.col("rank") + 1)).alias("dcg")))
    ideal = F.aggregate(F.sequence(F.lit(1), F.least(F.col("positives"), F.col("k"))), F.lit(0.0),
                        lambda total, i: total + fixed_point(1.0 / F.log2(i + 1)))  # as dcg counts it
    per_user = (wanted.crossJoin(sources).crossJoin(cutoffs)
                .join(hits, ["source", "k", "user_id"], "left")
                .select("source", "k", "user_id",
                        (F.coalesce("hits", F.lit(0)) / F.col("positives")).alias("recall"),
                        (F.coalesce("hits", F.lit(0)) > 0).cast("double").alias("hit_rate"),
                        (F.coalesce("hits", F.lit(0)) / F.col("k")).alias("precision"),
                        (F.coalesce("dcg", F.lit(0.0)) / ideal).alias("ndcg")))
    quality = per_user.groupBy("source", "k").agg(
        F.count(F.lit(1)).alias("users"), *[exact_avg(name).alias(name) for name in METRICS if name != "coverage"])
    coverage = (candidates.join(cutoffs, F.col("rank") <= F.col("k"))
                .groupBy("source", "k").agg((F.countDistinct("item_id") / F.lit(catalogue_size)).alias("coverage")))
    return quality.join(coverage, ["source", "k"], "left").select(
        "source", "k", "users", *[F.coalesce(name, F.lit(0.0)).alias(name) for name in METRICS])


def format_table(rows: list) -> str:
    lines = [f"{'source':<8} {'k':>4} {'users':>6} " + " ".join(f"{name:>9}" for name in METRICS)]
    for row in sorted(rows, key=lambda r: (r["source"], r["k"])):
        lines.append(f"{row['source']:<8} {row['k']:>4} {row['users']:>6} "
                     + " ".join(f"{row[name]:>9.4f}" for name in METRICS))
    return "\n".join(lines)


def evaluate_recall(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    first_day, last_day = history_range(cfg.recall, ds)
    history = read_interactions(spark, cfg, first_day, last_day)
    day = read_interactions(spark, cfg, ds, ds)
    if day.isEmpty():
        raise PipelineError(f"no interactions on {ds} to evaluate against: run build_daily_rollups for {ds} first")
    positives = day_positives(day, history, cfg.recall.exclude_seen).persist()
    try:
        catalogue = history.select("item_id").distinct().count()
        candidates = read_candidates(spark, cfg, ds).select("source", "user_id", "item_id", "rank")
        metrics = recall_metrics(candidates, positives, cfg.recall.eval_k, catalogue)
        replace_partition(metrics.withColumn("as_of", F.lit(ds)), cfg.table_path(RECALL_METRICS_TABLE), {"as_of": ds})
        rows = read_partitions(spark, cfg.table_path(RECALL_METRICS_TABLE), "as_of", ds, ds).collect()
    finally:
        positives.unpersist()
    return f"evaluate_recall {ds} (catalogue {catalogue} items):\n{format_table(rows)}"


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, evaluate_recall))

"""Merged recall as of D: the union of every source's candidates, scored by weighted reciprocal rank fusion
(Cormack et al. 2009), score = sum over sources of weight * 1 / (rrf_k + rank); source `merged`, with the list of
sources that proposed each item. RRF needs no score calibration across sources, which ALS dot products, cosines,
item-CF sums and user counts do not share.

The weights are tuned on the days before D, never on D: over the last `recall.merge.tune_days` days with candidates,
each candidate weighting (every source equally, every source alone, weights proportional to each source's recall
there, and to its square) fuses those days' lists (a source alone: its own list), and the one with the best pooled
recall@`tune_k` on those days' positives wins; without such a day every source weighs 1 (plain RRF). Since every
source alone is a candidate, the merge matches its best source on the tuning days at least: fusing equally where one
source dominates (popularity on Taobao) did worse than that source. The weights are kept in `recall_merge_weights`.

A source without candidates on D is left out and named in the report: item-CF has none while no user has two
items in the history, and every source has none on a lake's first day. (An empty write leaves no trace in the Delta
log, so "ran and found nothing" cannot be told from "did not run"; the DAG and the range runner order the jobs.)
"""
from __future__ import annotations

import datetime as dt
import sys
from functools import reduce
from typing import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_schema import PipelineConfig
from core.days import days_before
from core.lake import read_partitions, replace_partition
from core.sums import exact_avg, exact_sum
from core.tables import RECALL_CANDIDATES_TABLE, RECALL_MERGE_WEIGHTS_TABLE
from jobs import recall_als as als
from jobs import recall_item2vec as item2vec
from jobs import recall_itemcf as itemcf
from jobs import recall_popular as popular
from jobs.evaluate_recall import day_positives
from jobs.recall_common import history_range, ranked, read_candidates, read_interactions, write_candidates
from models import recall_two_tower as two_tower  # its name only: TensorFlow is imported inside its functions

SOURCE = "merged"
MERGED_SOURCES = (als.SOURCE, itemcf.SOURCE, popular.SOURCE, item2vec.SOURCE, two_tower.SOURCE)
UNIFORM = "uniform"


def fuse(candidates: DataFrame, weights: DataFrame, rrf_k: int, k: int, within: Sequence[str] = ()) -> DataFrame:
    """(*within, user_id, item_id, score, rank, sources): per user (and `within` group, e.g. a weighting and a day)
    the top k of the union of the sources weighted by `weights` (*within-or-fewer columns, source, weight): score =
    sum of weight / (rrf_k + rank); sources of weight 0 or absent from `weights` are left out."""
    picked = candidates.join(F.broadcast(weights.where(F.col("weight") > 0)), "source")
    fused = picked.groupBy(*within, "user_id", "item_id").agg(
        exact_sum(F.col("weight") / (F.lit(rrf_k) + F.col("rank"))).alias("score"),
        F.array_sort(F.collect_set("source")).alias("sources"))
    return ranked(fused, k, within).select(*within, "user_id", "item_id", "score", "rank", "sources")


def weight_rows(spark: SparkSession, weightings: Mapping[str, Mapping[str, float]]) -> DataFrame:
    rows = [(name, source, float(weight)) for name, weights in weightings.items() for source, weight in weights.items()]
    return spark.createDataFrame(rows, "weighting string, source string, weight double")


def pooled_recall(lists: DataFrame, positives: DataFrame, k: int) -> dict[str, float]:
    """weighting -> recall@k pooled over every (as_of, user) of positives: hits in the top k of the weighting's
    ranked lists (weighting, as_of, user_id, item_id, rank) / the user's positives (a user without candidates counts
    0)."""
    wanted = positives.groupBy("as_of", "user_id").agg(F.count(F.lit(1)).alias("positives"))
    hits = (lists.where(F.col("rank") <= k).join(positives, ["as_of", "user_id", "item_id"])
            .groupBy("weighting", "as_of", "user_id").agg(F.count(F.lit(1)).alias("hits")))
    weightings = lists.select("weighting").distinct()
    per_user = (wanted.crossJoin(weightings).join(hits, ["weighting", "as_of", "user_id"], "left")
                .select("weighting", (F.coalesce("hits", F.lit(0)) / F.col("positives")).alias("recall")))
    return {row["weighting"]: row["recall"] for row in per_user.groupBy("weighting").agg(
        exact_avg("recall").alias("recall")).collect()}


def tuning_positives(spark: SparkSession, cfg: PipelineConfig, days: Sequence[dt.date]) -> DataFrame:
    """(as_of, user_id, item_id): each day's positives as evaluate_recall counts them (history of the days before)."""
    frames = []
    for day in days:
        first, last = history_range(cfg.recall, day)
        frames.append(day_positives(read_interactions(spark, cfg, day, day), read_interactions(spark, cfg, first, last),
                                    cfg.recall.exclude_seen).withColumn("as_of", F.lit(day)))
    return reduce(DataFrame.unionByName, frames)


def tune_weights(spark: SparkSession, cfg: PipelineConfig, as_of: dt.date,
                 sources: Sequence[str]) -> tuple[str, dict[str, float], dict[str, float], list[dt.date]]:
    """(weighting chosen, its weights, pooled recall of every weighting tried, tuning days) from the days before
    as_of that have candidates; (uniform, 1 each, {}, []) when there is none."""
    uniform = {source: 1.0 for source in sources}
    first, last = days_before(as_of, cfg.recall.merge.tune_days)
    path = cfg.table_path(RECALL_CANDIDATES_TABLE)
    past = read_partitions(spark, path, "as_of", first, last).where(F.col("source").isin(*sources))
    days = sorted(row["as_of"] for row in past.select("as_of").distinct().collect())
    if not days:
        return UNIFORM, uniform, {}, []
    past = past.select("as_of", "source", "user_id", "item_id", "rank").persist()
    positives = tuning_positives(spark, cfg, days).persist()
    k, rrf_k = cfg.recall.merge.tune_k, cfg.recall.rrf_k
    try:
        def recall_of(weightings: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
            fused = fuse(past, weight_rows(spark, weightings), rrf_k, k, within=("weighting", "as_of"))
            return pooled_recall(fused, positives, k)

        # A source fused alone keeps its own order: its list has one row per item, ranked 1..n without gaps or ties
        # (recall_common.ranked, core.top_k.top_rows), so each source's own list is scored as it is.
        alone = pooled_recall(past.withColumnRenamed("source", "weighting"), positives, k)
        weightings = {UNIFORM: uniform}
        best = max(alone.values(), default=0.0)
        if best > 0:
            weightings["by_recall"] = {source: alone.get(source, 0.0) / best for source in sources}
            weightings["by_recall_squared"] = {source: (alone.get(source, 0.0) / best) ** 2 for source in sources}
        tried = {**recall_of(weightings), **alone}
    finally:
        past.unpersist()
        positives.unpersist()
    # Listed order breaks ties: a fusion before a single source, the first source before the next.
    order = [*weightings, *sources]
    chosen = max(order, key=lambda name: (tried.get(name, 0.0), -order.index(name)))
    weights = weightings.get(chosen) or {source: float(source == chosen) for source in sources}
    return chosen, weights, tried, days


def recall_merge(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    candidates = read_candidates(spark, cfg, ds)
    present = {row["source"] for row in candidates.select("source").distinct().collect()}
    chosen, weights, tried, days = tune_weights(spark, cfg, ds, MERGED_SOURCES)
    weight_frame = spark.createDataFrame(list(weights.items()), "source string, weight double")
    rows = write_candidates(spark, cfg, fuse(candidates, weight_frame, cfg.recall.rrf_k, cfg.recall.top_k), ds, SOURCE)
    record = spark.createDataFrame(
        [(source, weights[source], chosen, tried.get(chosen), len(days)) for source in MERGED_SOURCES],
        "source string, weight double, weighting string, tuned_recall double, tune_days int")
    replace_partition(record.withColumn("as_of", F.lit(ds)), cfg.table_path(RECALL_MERGE_WEIGHTS_TABLE), {"as_of": ds})
    merged = [source for source in MERGED_SOURCES if source in present]
    empty = [source for source in MERGED_SOURCES if source not in present]
    tuned = (f"weights {chosen} ({', '.join(f'{s} {w:.2f}' for s, w in weights.items())}), recall@"
             f"{cfg.recall.merge.tune_k} {tried[chosen]:.4f} on {days[0]}..{days[-1]}" if days
             else "plain RRF (no earlier day with candidates to tune on)")
    return (f"recall_merge {ds}: {rows} candidates from {', '.join(merged) or 'no source'}"
            + (f" (none from {', '.join(empty)})" if empty else "") + f"; {tuned}")


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, recall_merge))

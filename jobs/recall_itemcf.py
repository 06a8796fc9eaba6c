"""Item-CF recall as of D: item-to-item similarity from co-occurrence in user histories of [D-N, D-1]; a user's
candidates are the neighbours of their recent items, weighted by recency (source `itemcf`).

Similarity is cosine with inverse user frequency (ItemCF-IUF, Breese et al. 1998; Karypis 2001):

    sim(i, j) = sum over users u who have both i and j of 1 / log(1 + |N(u)|)  /  sqrt(|N(i)| * |N(j)|)

The cosine denominator keeps very popular items from being everyone's neighbour, and the IUF term makes a
user with a huge history count for less than one with a focused one (such a user says little about whether
two items belong together). Skew control bounds the self-join: each user contributes at most `max_history`
(most recent) items, and each item at most `max_item_users` users (a seeded hash sample), so no item can
produce more than max_item_users * (max_history - 1) pairs.
"""
from __future__ import annotations

import datetime as dt
import sys

from pyspark.sql import DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_recall import ItemCfConfig
from core.config_schema import PipelineConfig
from core.sums import exact_sum
from jobs.recall_common import ranked, run_recall_source

SOURCE = "itemcf"
SAMPLE_SEED = 20171125  # seeds the hash that picks which users of a very popular item are kept


def _by_recency() -> WindowSpec:
    """A user's interactions, most recent first (equal times by item id): the history cap and recent items."""
    return Window.partitionBy("user_id").orderBy(F.desc("last_time"), F.asc("item_id"))


def capped_histories(interacted: DataFrame, max_history: int, max_item_users: int) -> DataFrame:
    """(user_id, item_id): each user's `max_history` most recent items (ties by item id), then for each item
    at most `max_item_users` of its users, chosen by a seeded hash of (user, item) so re-runs agree."""
    recent = interacted.withColumn("n", F.row_number().over(_by_recency())).where(F.col("n") <= max_history)
    by_hash = Window.partitionBy("item_id").orderBy(F.xxhash64("user_id", "item_id", F.lit(SAMPLE_SEED)),
                                                    F.asc("user_id"))
    sampled = recent.withColumn("m", F.row_number().over(by_hash)).where(F.col("m") <= max_item_users)
    return sampled.select("user_id", "item_id")


def pair_counts(histories: DataFrame) -> DataFrame:
    """Per item: how many (item, other item) rows the self-join emits for it, sum over its users of |N(u)| - 1."""
    sizes = histories.groupBy("user_id").agg(F.count(F.lit(1)).alias("history"))
    return histories.join(sizes, "user_id").groupBy("item_id").agg(F.sum(F.col("history") - 1).alias("pairs"))


def item_similarities(histories: DataFrame, neighbours: int) -> DataFrame:
    """(item_id, neighbour_id, similarity): each item's `neighbours` most similar items (ties by id)."""
    user_weight = histories.groupBy("user_id").agg((1.0 / F.log1p(F.count(F.lit(1)))).alias("iuf"))
    item_users = histories.groupBy("item_id").agg(F.count(F.lit(1)).alias("users"))
    weighted = histories.join(user_weight, "user_id")
    left = weighted.select("user_id", F.col("item_id").alias("i"), "iuf")
    right = histories.select("user_id", F.col("item_id").alias("j"))
    co = left.join(right, "user_id").where(F.col("i") != F.col("j")).groupBy("i", "j").agg(exact_sum("iuf").alias("co"))
    size_i = item_users.select(F.col("item_id").alias("i"), F.col("users").alias("n_i"))
    size_j = item_users.select(F.col("item_id").alias("j"), F.col("users").alias("n_j"))
    sims = co.join(size_i, "i").join(size_j, "j").select(
        F.col("i").alias("item_id"), F.col("j").alias("neighbour_id"),
        (F.col("co") / F.sqrt(F.col("n_i") * F.col("n_j"))).alias("similarity"))
    order = Window.partitionBy("item_id").orderBy(F.desc("similarity"), F.asc("neighbour_id"))
    return sims.withColumn("n", F.row_number().over(order)).where(F.col("n") <= neighbours).drop("n")


def recency_weighted_recent_items(interacted: DataFrame, as_of: dt.date, recent_items: int,
                                  half_life_days: float) -> DataFrame:
    """(user_id, item_id, weight): the user's last R items; weight 1 for an item of D-1, halving every half life."""
    recent = interacted.withColumn("n", F.row_number().over(_by_recency())).where(F.col("n") <= recent_items)
    age = F.date_diff(F.lit(as_of), F.col("last_dt")) - 1
    return recent.select("user_id", "item_id", F.pow(F.lit(0.5), age / F.lit(half_life_days)).alias("weight"))


def itemcf_candidates(interacted: DataFrame, similarities: DataFrame, as_of: dt.date, params: ItemCfConfig,
                      k: int, exclude_seen: bool) -> DataFrame:
    """(user_id, item_id, score, rank): score(u, j) = sum over u's recent items i of weight(u, i) * sim(i, j)."""
    recent = recency_weighted_recent_items(interacted, as_of, params.recent_items, params.half_life_days)
    scored = (recent.join(similarities, "item_id")
              .groupBy("user_id", F.col("neighbour_id").alias("item_id"))
              .agg(exact_sum(F.col("weight") * F.col("similarity")).alias("score")))
    if exclude_seen:
        scored = scored.join(interacted.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
    return ranked(scored, k).select("user_id", "item_id", "score", "rank")


def recall_itemcf(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    params = cfg.recall.itemcf

    def build(interacted: DataFrame) -> tuple[DataFrame, str]:
        histories = capped_histories(interacted, params.max_history, params.max_item_users).persist()
        similarities = item_similarities(histories, params.neighbours)
        candidates = itemcf_candidates(interacted, similarities, ds, params, cfg.recall.top_k, cfg.recall.exclude_seen)
        before = pair_counts(interacted.select("user_id", "item_id")).agg(F.max("pairs")).first()[0]
        after = pair_counts(histories).agg(F.max("pairs")).first()[0]
        return candidates, f"largest per-item pair count {before} -> {after} after skew control"

    return run_recall_source(spark, cfg, ds, SOURCE, build)


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, recall_itemcf))

"""Item2vec recall as of D (Barkan & Koenigstein 2016; the SparrowRecSys recipe): Spark ML Word2Vec (skip-gram)
over each user's items of [D-N, D-1] in the order they were last touched, so items that follow one another in
users' histories get nearby vectors. A user's candidates are the nearest neighbours of their recent items:

    score(u, j) = sum over u's last R items i of weight(u, i) * cosine(v_i, v_j)

with the recency weight of item-CF (1 for an item of D-1, halving every half life); source `item2vec`. The sum of
cosines is the dot product of j's unit vector with the weighted sum of the recent items' unit vectors, so the exact
top-K search of recall_common serves it, seen items skipped.
"""
from __future__ import annotations

import datetime as dt
import sys

import numpy as np
from pyspark.ml.feature import Word2Vec
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_recall import Item2VecConfig
from core.config_schema import PipelineConfig
from jobs.recall_common import run_recall_source, top_k_items
from jobs.recall_itemcf import recency_weighted_recent_items

SOURCE = "item2vec"


def item_sequences(interacted: DataFrame) -> DataFrame:
    """(user_id, items): each user's items in the order last touched (equal times by item id), one row per user,
    users in id order in one partition, so Word2Vec sees the same corpus in the same order on every re-run."""
    ordered = F.array_sort(F.collect_list(F.struct("last_time", "item_id")))
    return (interacted.groupBy("user_id").agg(ordered.alias("touched"))
            .select("user_id", F.col("touched.item_id").alias("items"))
            .repartition(1).sortWithinPartitions("user_id"))


def train_item2vec(sequences: DataFrame, params: Item2VecConfig) -> DataFrame:
    """(item_id, vector): a Word2Vec vector per item appearing at least min_count times. One partition and a fixed
    seed make the fit, and so a re-run, identical."""
    word2vec = Word2Vec(vectorSize=params.vector_size, windowSize=params.window, minCount=params.min_count,
                        maxIter=params.max_iter, stepSize=params.step_size, numPartitions=1, seed=params.seed,
                        inputCol="items", outputCol="unused")
    return word2vec.fit(sequences).getVectors().select(F.col("word").alias("item_id"), "vector")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero): dot products of unit rows are cosines."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def item2vec_candidates(interacted: DataFrame, item_vectors: DataFrame, as_of: dt.date, params: Item2VecConfig,
                        k: int, exclude_seen: bool) -> DataFrame:
    """(user_id, item_id, score, rank): the top k items by the recency-weighted sum of cosines to the user's recent
    items (those with a vector)."""
    table = item_vectors.orderBy("item_id").toPandas()
    item_ids = table["item_id"].tolist()
    dimension = params.vector_size
    units = unit_rows(np.stack([v.toArray() for v in table["vector"]])) if item_ids else np.zeros((0, dimension))
    unit_frame = interacted.sparkSession.createDataFrame(
        [(item, row.tolist()) for item, row in zip(item_ids, units)], "item_id string, unit array<double>")
    recent = recency_weighted_recent_items(interacted, as_of, params.recent_items, params.half_life_days)
    weighted = recent.join(F.broadcast(unit_frame), "item_id").select(
        "user_id", F.struct("item_id", F.transform("unit", lambda x: x * F.col("weight")).alias("part")).alias("p"))
    # Summed in item id order, not in whatever order the shuffle delivered them: the same vector on every re-run.
    parts = F.array_sort(F.collect_list("p")).getField("part")
    zero = F.array_repeat(F.lit(0.0), dimension)
    users = weighted.groupBy("user_id").agg(
        F.aggregate(parts, zero, lambda total, part: F.zip_with(total, part, lambda a, b: a + b)).alias("vector"))
    return top_k_items(users, item_ids, units, interacted, k, exclude_seen)


def recall_item2vec(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    params = cfg.recall.item2vec

    def build(interacted: DataFrame) -> tuple[DataFrame, str]:
        vectors = train_item2vec(item_sequences(interacted), params).persist()
        candidates = item2vec_candidates(interacted, vectors, ds, params, cfg.recall.top_k, cfg.recall.exclude_seen)
        return candidates, f"{vectors.count()} item vectors"

    return run_recall_source(spark, cfg, ds, SOURCE, build)


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, recall_item2vec))

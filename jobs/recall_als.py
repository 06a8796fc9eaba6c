"""ALS recall as of D: implicit-feedback matrix factorisation (Hu, Koren, Volinsky 2008) on the weighted
interactions of [D-N, D-1]; the top-K unseen items per active user go to recall_candidates (source `als`).

User and item ids map to integers through a persisted, append-only table (`als_ids`): an id keeps its
integer forever, so re-running a day factorises exactly the same matrix and gives the same candidates.
"""
from __future__ import annotations

import datetime as dt
import sys

import numpy as np
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_recall import AlsConfig
from core.config_schema import PipelineConfig
from core.lake import delta_table_exists
from core.ranking import row_numbers
from core.tables import ALS_IDS_TABLE
from jobs.recall_common import run_recall_source, top_k_items

SOURCE = "als"


def new_ids(known: DataFrame, wanted: DataFrame, kind: str, next_index: int) -> DataFrame:
    """Rows (kind, id, index) for the ids of `wanted` not yet in `known`: next_index, next_index + 1, ...
    in id order, so the assignment does not depend on how the input was partitioned."""
    fresh = wanted.select("id").distinct().join(known.where(F.col("kind") == kind).select("id"), "id", "left_anti")
    # Ids are distinct, so id order is total. row_numbers, not a window without partitionBy: that one moves every
    # new id into a single task.
    numbered = row_numbers(fresh, [F.col("id")], "position")
    index = (F.lit(next_index) + F.col("position") - 1).cast("int")
    return numbered.select(F.lit(kind).alias("kind"), "id", index.alias("index"))


def ensure_ids(spark: SparkSession, path: str, kind: str, ids: DataFrame) -> DataFrame:
    """(id, index) for every id in `ids`, appending the ids never seen before to the table at path."""
    empty = spark.createDataFrame([], "kind string, id string, index int")
    known = spark.read.format("delta").load(path) if delta_table_exists(spark, path) else empty
    highest = known.where(F.col("kind") == kind).agg(F.max("index")).first()[0]
    next_index = 0 if highest is None else highest + 1  # not `highest or -1`: a highest index of 0 is falsy
    fresh = new_ids(known, ids, kind, next_index)
    fresh.write.format("delta").mode("append").save(path)
    mapping = spark.read.format("delta").load(path).where(F.col("kind") == kind)
    return ids.select("id").distinct().join(mapping.select("id", "index"), "id")


def train_als(ratings: DataFrame, params: AlsConfig):
    """ratings: (user_index, item_index, strength). Blocks and seed are fixed, so a re-run is identical."""
    als = ALS(rank=params.rank, maxIter=params.max_iter, regParam=params.reg_param, alpha=params.alpha,
              implicitPrefs=True, userCol="user_index", itemCol="item_index", ratingCol="strength",
              numUserBlocks=params.blocks, numItemBlocks=params.blocks, seed=params.seed,
              coldStartStrategy="drop", nonnegative=False)
    return als.fit(ratings)


def als_candidates(interacted: DataFrame, user_ids: DataFrame, item_ids: DataFrame, model, k: int,
                   exclude_seen: bool) -> DataFrame:
    """(user_id, item_id, score, rank): the top k items of each user by the factor dot product."""
    def named(factors: DataFrame, ids: DataFrame, name: str) -> DataFrame:
        return factors.withColumnRenamed("id", "index").join(ids, "index").select(F.col("id").alias(name), "features")

    item_factors = named(model.itemFactors, item_ids, "item_id").orderBy("item_id").toPandas()
    users = named(model.userFactors, user_ids, "user_id").withColumnRenamed("features", "vector")
    matrix = np.stack(item_factors["features"].to_numpy()) if len(item_factors) else np.zeros((0, 1))
    return top_k_items(users, item_factors["item_id"].tolist(), matrix, interacted, k, exclude_seen)


def recall_als(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    def build(interacted: DataFrame) -> tuple[DataFrame, str]:
        id_path = cfg.table_path(ALS_IDS_TABLE)
        user_ids = ensure_ids(spark, id_path, "user", interacted.select(F.col("user_id").alias("id")))
        item_ids = ensure_ids(spark, id_path, "item", interacted.select(F.col("item_id").alias("id")))
        ratings = (interacted
                   .join(user_ids.select(F.col("id").alias("user_id"), F.col("index").alias("user_index")), "user_id")
                   .join(item_ids.select(F.col("id").alias("item_id"), F.col("index").alias("item_index")), "item_id")
                   .select("user_index", "item_index", "strength")
                   .orderBy("user_index", "item_index"))  # a fixed input order for a reproducible fit
        model = train_als(ratings, cfg.recall.als)
        return als_candidates(interacted, user_ids, item_ids, model, cfg.recall.top_k, cfg.recall.exclude_seen), ""

    return run_recall_source(spark, cfg, ds, SOURCE, build)


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, recall_als))

"""Popularity recall as of D, the baseline every other source must beat: the items most users interacted with
in [D-P, D-1] (ties by total strength, then id), minus what each user already interacted with (source `popular`).
"""
from __future__ import annotations

import datetime as dt
import sys

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_schema import PipelineConfig
from core.sums import exact_sum
from jobs.recall_common import history_range, read_interactions, run_recall_source, top_k_items

SOURCE = "popular"


def item_popularity(recent: DataFrame) -> DataFrame:
    """(item_id, users, strength): distinct users and summed strength per item, most popular first."""
    return (recent.groupBy("item_id")
            .agg(F.count(F.lit(1)).alias("users"), exact_sum("strength").alias("strength"))
            .orderBy(F.desc("users"), F.desc("strength"), F.asc("item_id")))


def popular_candidates(interacted: DataFrame, popularity: DataFrame, k: int, exclude_seen: bool) -> DataFrame:
    """(user_id, item_id, score = users, rank) for every user of `interacted`: the popularity list, unseen first k."""
    ordered = popularity.toPandas()
    users = interacted.select("user_id").distinct().withColumn("vector", F.array(F.lit(1.0).cast("float")))
    # A one-dimensional "factorisation": every user's vector is [1], an item's is its popularity.
    scores = ordered["users"].to_numpy(dtype=np.float32).reshape(-1, 1)
    return top_k_items(users, ordered["item_id"].tolist(), scores, interacted, k, exclude_seen)


def recall_popular(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    popular_first, last_day = history_range(cfg.recall, ds, cfg.recall.popular_days)

    def build(interacted: DataFrame) -> tuple[DataFrame, str]:
        popularity = item_popularity(read_interactions(spark, cfg, popular_first, last_day))
        candidates = popular_candidates(interacted, popularity, cfg.recall.top_k, cfg.recall.exclude_seen)
        return candidates, f"popularity over {popular_first}..{last_day}"

    return run_recall_source(spark, cfg, ds, SOURCE, build)


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, recall_popular))

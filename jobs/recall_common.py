"""What every recall source shares: weighted interactions of [D-N, D-1], exact top-K of unseen items by a
score matrix, and the `recall_candidates` table (one partition per as_of and source)."""
from __future__ import annotations

import datetime as dt
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from core import top_k
from core.config_recall import RecallConfig
from core.config_schema import PipelineConfig
from core.days import days_before
from core.lake import read_partitions, replace_partition, require_table
from core.sums import exact_sum
from core.tables import RECALL_CANDIDATES_TABLE, USER_ITEM_DAILY_TABLE
from core.top_k import quantised
from features.spec import count_column

CANDIDATE_SCHEMA = "user_id string, item_id string, score double, rank int"


def strength(event_weights: Mapping[str, float], measure: str) -> Column:
    """Interaction strength of a rollup row: sum of weight * (count of the type, or value sum for `values`)."""
    if measure == "values":
        # Ratings: the rating itself is the strength, scaled by the weight of its event type.
        parts = [F.when(F.col(count_column(kind)) > 0, F.coalesce(F.col("value_sum"), F.lit(0.0)) * weight)
                 .otherwise(0.0) for kind, weight in event_weights.items()]
    else:
        parts = [F.col(count_column(kind)) * float(weight) for kind, weight in event_weights.items()]
    return sum(parts, F.lit(0.0))


def interactions(user_item_daily: DataFrame, first_day: dt.date, last_day: dt.date,
                 event_weights: Mapping[str, float], measure: str) -> DataFrame:
    """Per (user, item) with strength > 0 over [first_day, last_day]: strength, last day and last event time."""
    daily = user_item_daily.where(F.col("dt").between(F.lit(first_day), F.lit(last_day)))
    totals = daily.groupBy("user_id", "item_id").agg(
        exact_sum(strength(event_weights, measure)).alias("strength"),
        F.max("dt").alias("last_dt"),
        F.max("last_event_time").alias("last_time"),
    )
    return totals.where(F.col("strength") > 0)


def read_interactions(spark: SparkSession, cfg: PipelineConfig, first_day: dt.date, last_day: dt.date) -> DataFrame:
    path = cfg.table_path(USER_ITEM_DAILY_TABLE)
    require_table(spark, path, "build_daily_rollups")
    daily = read_partitions(spark, path, "dt", first_day, last_day)
    return interactions(daily, first_day, last_day, cfg.recall.event_weights, cfg.recall.strength)


def history_range(recall: RecallConfig, as_of: dt.date, days: int | None = None) -> tuple[dt.date, dt.date]:
    """[D-N, D-1]: the only days recall as of D may learn from."""
    return days_before(as_of, days or recall.history_days)


def seen_positions(interacted: DataFrame, item_positions: DataFrame) -> DataFrame:
    """Per user: the sorted positions (in the item matrix) of every item they interacted with."""
    return (interacted.join(item_positions, "item_id")
            .groupBy("user_id").agg(F.array_sort(F.collect_list("position")).alias("seen")))


def top_k_unseen(users: DataFrame, item_vectors: np.ndarray, k: int) -> DataFrame:
    """Exact top-k items per user by the dot product of the user's vector with each row of item_vectors.

    users: (user_id, vector array<float>, seen array<int>): seen positions are never returned. Ties are
    broken by position, so a re-run returns the same list. Returns (user_id, position, score, rank).
    A user's scores do not depend on which users share its batch (see dot_products), so a re-run writes the same
    scores to the last bit however Spark partitioned the users.
    """
    schema = "user_id string, position int, score double, rank int"
    if len(item_vectors) == 0:  # e.g. no interactions in a popularity window: nothing to rank (max() of nothing fails)
        return users.sparkSession.createDataFrame([], schema)
    items, item_scale = quantised(np.asarray(item_vectors, dtype=np.float64), per_row=False)
    cells = top_k.SCORE_CELLS_PER_BATCH  # read here, in the driver, and shipped with the function to the workers

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in batches:
            vectors = np.stack([np.asarray(v, dtype=np.float64) for v in frame["vector"]])
            yield top_k.exact_top_k(frame["user_id"].tolist(), vectors, items, frame["seen"].tolist(), k, item_scale,
                                    cells)

    return users.select("user_id", "vector", F.coalesce("seen", F.array().cast("array<int>")).alias("seen")) \
        .mapInPandas(score, schema)


def top_k_items(users: DataFrame, item_ids: list[str], item_vectors: np.ndarray, interacted: DataFrame, k: int,
                exclude_seen: bool) -> DataFrame:
    """(user_id, item_id, score, rank): top_k_unseen for users (user_id, vector) against items whose ids and
    vectors are given row by row; with exclude_seen the items of `interacted` are skipped per user."""
    positions = users.sparkSession.createDataFrame(list(zip(item_ids, range(len(item_ids)))),
                                                   "item_id string, position int")
    if exclude_seen:
        users = users.join(seen_positions(interacted, positions), "user_id", "left")
    else:
        users = users.withColumn("seen", F.lit(None).cast("array<int>"))
    top = top_k_unseen(users, item_vectors, k)
    return top.join(F.broadcast(positions), "position").select("user_id", "item_id", "score", "rank")


def ranked(frame: DataFrame, k: int, within: Sequence[str] = ()) -> DataFrame:
    """Top k rows per user (per user and `within` columns) by score, ties by item id, numbered 1..k: a source's
    candidate list."""
    order = Window.partitionBy(*within, "user_id").orderBy(F.desc("score"), F.asc("item_id"))
    return frame.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)


def write_candidates(spark: SparkSession, cfg: PipelineConfig, candidates: DataFrame, as_of: dt.date,
                     source: str) -> int:
    """Replace the (as_of, source) partition of recall_candidates; returns its row count."""
    path = cfg.table_path(RECALL_CANDIDATES_TABLE)
    sources = F.col("sources") if "sources" in candidates.columns else F.array(F.lit(source))
    rows = candidates.select("user_id", "item_id", F.col("score").cast("double"), F.col("rank").cast("int"),
                             sources.alias("sources"), F.lit(as_of).alias("as_of"), F.lit(source).alias("source"))
    replace_partition(rows, path, {"as_of": as_of, "source": source})
    return read_candidates(spark, cfg, as_of).where(F.col("source") == source).count()


def read_candidates(spark: SparkSession, cfg: PipelineConfig, as_of: dt.date) -> DataFrame:
    path = cfg.table_path(RECALL_CANDIDATES_TABLE)
    require_table(spark, path, "the recall jobs")
    return read_partitions(spark, path, "as_of", as_of, as_of)


def run_recall_source(spark: SparkSession, cfg: PipelineConfig, ds: dt.date, source: str,
                      build: Callable[[DataFrame], tuple[DataFrame, str]]) -> str:
    """Read the interactions of [D-N, D-1], build the source's candidates, replace its partition, report.

    build gets the (cached) interactions and returns the candidates and a detail for the report. The first
    days of a lake have no history: the partition is then written empty, as profiles are, not an error.
    """
    first_day, last_day = history_range(cfg.recall, ds)
    interacted = read_interactions(spark, cfg, first_day, last_day).persist()
    try:
        if interacted.isEmpty():
            candidates, detail = spark.createDataFrame([], CANDIDATE_SCHEMA), "no interactions yet"
        else:
            candidates, detail = build(interacted)
        rows = write_candidates(spark, cfg, candidates, ds, source)
    finally:
        interacted.unpersist()
    return f"recall_{source} {ds} (days {first_day}..{last_day}): {rows} candidates" + (f"; {detail}" if detail else "")

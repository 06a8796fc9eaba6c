"""Merged recall as of D: the union of every source's candidates, scored by reciprocal rank fusion
(Cormack et al. 2009), score = sum over sources of 1 / (rrf_k + rank); source `merged`, with the list of
sources that proposed each item. RRF needs no score calibration across sources, which ALS dot products,
item-CF sums and user counts do not share.

A source without candidates on D is left out and named in the report: item-CF has none while no user has two
items in the history, and every source has none on a lake's first day. (An empty write leaves no trace in the Delta
log, so "ran and found nothing" cannot be told from "did not run"; the DAG and the range runner order the jobs.)
"""
from __future__ import annotations

import datetime as dt
import sys
from typing import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_schema import PipelineConfig
from core.sums import exact_sum
from jobs import recall_als as als
from jobs import recall_itemcf as itemcf
from jobs import recall_popular as popular
from jobs.recall_common import ranked, read_candidates, write_candidates

SOURCE = "merged"
MERGED_SOURCES = (als.SOURCE, itemcf.SOURCE, popular.SOURCE)


def fuse(candidates: DataFrame, sources: Sequence[str], rrf_k: int, k: int) -> DataFrame:
    """(user_id, item_id, score, rank, sources): the top k of the union by reciprocal rank fusion."""
    picked = candidates.where(F.col("source").isin(*sources))
    fused = picked.groupBy("user_id", "item_id").agg(
        exact_sum(1.0 / (F.lit(rrf_k) + F.col("rank"))).alias("score"),
        F.array_sort(F.collect_set("source")).alias("sources"))
    return ranked(fused, k).select("user_id", "item_id", "score", "rank", "sources")


def recall_merge(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    candidates = read_candidates(spark, cfg, ds)
    present = {row["source"] for row in candidates.select("source").distinct().collect()}
    rows = write_candidates(spark, cfg, fuse(candidates, MERGED_SOURCES, cfg.recall.rrf_k, cfg.recall.top_k), ds,
                            SOURCE)
    merged = [source for source in MERGED_SOURCES if source in present]
    empty = [source for source in MERGED_SOURCES if source not in present]
    return (f"recall_merge {ds}: {rows} candidates from {', '.join(merged) or 'no source'}"
            + (f" (none from {', '.join(empty)})" if empty else ""))


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, recall_merge))

import datetime as dt
import math

import pytest
from pyspark.ml.linalg import Vectors

from core.config_recall import Item2VecConfig
from jobs.recall_item2vec import item2vec_candidates, item_sequences, train_item2vec
from tests.jobs.recall_fixtures import collect

D = dt.date(2017, 12, 3)
DAY = dt.timedelta(days=1)
PARAMS = Item2VecConfig(vector_size=8, window=2, min_count=1, max_iter=3, step_size=0.025, seed=7, recent_items=10,
                        half_life_days=7.0)


def interacted(spark, rows):
    """rows: (user, item, days before D, hour) -> the interactions frame recall_common.interactions returns."""
    return spark.createDataFrame(
        [(user, item, 1.0, D - ago * DAY, dt.datetime.combine(D - ago * DAY, dt.time(hour)))
         for user, item, ago, hour in rows],
        "user_id string, item_id string, strength double, last_dt date, last_time timestamp")


def test_sequences_follow_the_order_items_were_last_touched(spark):
    rows = interacted(spark, [("u1", "C", 1, 9), ("u1", "A", 3, 9), ("u1", "B", 1, 8), ("u2", "Z", 2, 9),
                              ("u2", "Y", 2, 9)])  # equal times: by item id
    assert collect(item_sequences(rows), "user_id", "items") == [("u1", ["A", "B", "C"]), ("u2", ["Y", "Z"])]


def test_scores_are_recency_weighted_cosines_to_the_recent_items_by_hand(spark):
    # u1 touched A yesterday (weight 1) and B 8 days ago (weight 0.5 ** (7 / 7)); C and D are unseen.
    vectors = spark.createDataFrame([("A", Vectors.dense([2.0, 0.0])), ("B", Vectors.dense([0.0, 3.0])),
                                     ("C", Vectors.dense([1.0, 1.0])), ("D", Vectors.dense([-1.0, 0.0]))],
                                    ["item_id", "vector"])
    params = PARAMS.model_copy(update={"vector_size": 2})
    got = collect(item2vec_candidates(interacted(spark, [("u1", "A", 1, 9), ("u1", "B", 8, 9)]), vectors, D, params,
                                      k=5, exclude_seen=True), "rank", "item_id", "score")
    # Scores of the exact search are dot products of 20-bit quantised vectors: equal to about 1e-6.
    assert got == [(1, "C", pytest.approx(1.5 / math.sqrt(2), rel=1e-5)), (2, "D", pytest.approx(-1.0, rel=1e-5))]


def test_candidates_never_hold_a_seen_item_and_a_refit_is_identical(spark):
    rows = interacted(spark, [(user, item, ago, 9) for user, items in
                              {"u1": "ABCD", "u2": "ABE", "u3": "BCF", "u4": "DEF"}.items()
                              for ago, item in enumerate(items, start=1)])
    vectors = train_item2vec(item_sequences(rows), PARAMS)
    assert collect(vectors, "item_id", "vector") == collect(train_item2vec(item_sequences(rows), PARAMS),
                                                            "item_id", "vector")
    got = collect(item2vec_candidates(rows, vectors, D, PARAMS, k=10, exclude_seen=True), "user_id", "item_id")
    seen = set(collect(rows, "user_id", "item_id"))
    assert got and not seen & set(got)
    # Every unseen item of the six is a candidate (k is larger): u1 gets E and F, u2 C, D and F.
    assert {item for user, item in got if user == "u1"} == {"E", "F"}
    assert {item for user, item in got if user == "u2"} == {"C", "D", "F"}

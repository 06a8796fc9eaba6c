import datetime as dt

import numpy as np
import pytest

from core.top_k import dot_products, quantised
from jobs.recall_common import interactions, strength, top_k_unseen
from tests.jobs.recall_fixtures import collect, user_item_daily

D = dt.date(2017, 12, 3)
DAY = dt.timedelta(days=1)
TYPES = ("pv", "cart", "buy")


def test_interaction_strength_sums_event_weights_over_the_history_days_only(spark):
    daily = user_item_daily(spark, [
        ("u1", "i1", "pv", D - 2 * DAY, 9, None), ("u1", "i1", "pv", D - DAY, 9, None),
        ("u1", "i1", "buy", D - DAY, 10, None),
        ("u1", "i2", "cart", D - 5 * DAY, 9, None),  # before the window
        ("u1", "i3", "buy", D, 9, None),  # day D itself: never
        ("u2", "i1", "pv", D - DAY, 11, None),
    ], TYPES)
    got = interactions(daily, D - 3 * DAY, D - DAY, {"pv": 1, "cart": 3, "buy": 5}, "counts")
    assert collect(got, "user_id", "item_id", "strength", "last_dt") == [
        ("u1", "i1", 1 + 1 + 5.0, D - DAY), ("u2", "i1", 1.0, D - DAY)]


def test_rating_strength_is_the_rating_and_zero_weight_types_are_not_interactions(spark):
    daily = user_item_daily(spark, [("u1", "m1", "rating", D - DAY, 9, 4.0), ("u1", "m2", "rating", D - DAY, 9, 1.0)],
                            ("rating",))
    got = interactions(daily, D - DAY, D - DAY, {"rating": 1}, "values")
    assert collect(got, "item_id", "strength") == [("m1", 4.0), ("m2", 1.0)]
    pv_only = user_item_daily(spark, [("u1", "i1", "pv", D - DAY, 9, None)], TYPES)
    assert interactions(pv_only, D - DAY, D - DAY, {"pv": 0, "buy": 5}, "counts").count() == 0


@pytest.mark.parametrize("measure, weights", [("counts", {"pv": 1, "cart": 3, "buy": 5}), ("values", {"pv": 0.5})])
def test_the_two_towers_strength_without_spark_is_sparks(spark, measure, weights):
    """The two-tower reads rollups through deltalake and computes strength in pandas: the same numbers."""
    from models.two_tower_data import rollup_strength

    daily = user_item_daily(spark, [("u1", "i1", "pv", D, 9, 4.0), ("u1", "i1", "buy", D, 9, None),
                                    ("u1", "i2", "cart", D, 9, None), ("u2", "i1", "pv", D, 9, 2.0)], TYPES)
    frame = daily.orderBy("user_id", "item_id").toPandas()
    spark_strength = [row["s"] for row in daily.orderBy("user_id", "item_id").select(
        strength(weights, measure).alias("s")).collect()]
    assert rollup_strength(frame, weights, measure).tolist() == pytest.approx(spark_strength)
    assert len(set(spark_strength)) > 1


def test_top_k_skips_seen_items_and_breaks_ties_by_position(spark):
    items = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
    users = spark.createDataFrame([
        ("u1", [1.0, 0.5], [2]),  # scores 1.0, 0.5, (1.5 seen), 0.75
        ("u2", [1.0, 1.0], None),  # scores 1, 1, 2, 1: three-way tie after item 2
        ("u3", [1.0, 1.0], [0, 1, 2, 3]),  # has seen everything: no candidates
    ], "user_id string, vector array<float>, seen array<int>")
    got = collect(top_k_unseen(users, items, k=3), "user_id", "rank", "position", "score")
    assert got == [("u1", 1, 0, 1.0), ("u1", 2, 3, 0.75), ("u1", 3, 1, 0.5),
                   ("u2", 1, 2, 2.0), ("u2", 2, 0, 1.0), ("u2", 3, 1, 1.0)]


def test_top_k_scores_in_batches_equal_scoring_all_at_once_to_the_last_bit(spark, monkeypatch):
    rng = np.random.default_rng(3)
    items = rng.normal(size=(200, 10))
    rows = [(f"u{i}", rng.normal(size=10).tolist(), sorted(rng.choice(200, 5, replace=False).tolist()))
            for i in range(30)]
    users = spark.createDataFrame(rows, "user_id string, vector array<float>, seen array<int>")
    whole = collect(top_k_unseen(users, items, k=7), "user_id", "rank", "position", "score")
    monkeypatch.setattr("core.top_k.SCORE_CELLS_PER_BATCH", 200 * 3)  # 3 users per batch
    assert collect(top_k_unseen(users, items, k=7), "user_id", "rank", "position", "score") == whole
    for user, vector, seen in rows:  # and both equal numpy's own full sort
        scores = np.asarray(vector, dtype=np.float32) @ items.T
        scores[seen] = -np.inf
        assert [p for u, _, p, _ in whole if u == user] == list(np.argsort(-scores, kind="stable")[:7])


def test_dot_products_are_exact_for_short_vectors_and_independent_of_the_batch():
    items, item_scale = quantised(np.array([[2.0, 4.0], [-1.0, 0.25]]), per_row=False)
    assert dot_products(np.array([[1.0, 0.5], [0.0, 0.0]]), items, item_scale).tolist() == \
        [[1 * 2 + 0.5 * 4, 1 * -1 + 0.5 * 0.25], [0.0, 0.0]]
    rng = np.random.default_rng(0)
    vectors, matrix = rng.normal(size=(300, 10)).astype(np.float32), rng.normal(size=(1682, 10)).astype(np.float32)
    items, item_scale = quantised(matrix.astype(np.float64), per_row=False)
    whole = dot_products(vectors.astype(np.float64), items, item_scale)
    # A plain float32 product gives users different last bits in batches of 1, 2 or 7 rows; these are identical.
    for rows in (1, 2, 7, 64):
        assert np.array_equal(dot_products(vectors[:rows].astype(np.float64), items, item_scale), whole[:rows])
    # Quantisation to QUANT_BITS bits moves a score by far less than float32 rounding of the inputs would matter.
    assert np.abs(whole - vectors.astype(np.float64) @ matrix.T.astype(np.float64)).max() < 1e-4


def test_top_k_against_no_items_is_empty(spark):
    users = spark.createDataFrame([("u1", [1.0], None)], "user_id string, vector array<float>, seen array<int>")
    assert top_k_unseen(users, np.zeros((0, 1)), k=3).collect() == []


@pytest.mark.parametrize("k", [1, 2])
def test_top_k_never_returns_more_than_the_unseen_items(spark, k):
    users = spark.createDataFrame([("u1", [1.0], [0])], "user_id string, vector array<float>, seen array<int>")
    got = collect(top_k_unseen(users, np.array([[3.0], [2.0]]), k=k), "user_id", "position")
    assert got == [("u1", 1)]

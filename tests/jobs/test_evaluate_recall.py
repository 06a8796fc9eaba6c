import datetime as dt
import math

import pytest

from jobs.evaluate_recall import day_positives, recall_metrics
from jobs.recall_popular import item_popularity, popular_candidates
from tests.jobs.recall_fixtures import collect

D = dt.date(2017, 12, 3)


def pairs(spark, rows):
    return spark.createDataFrame(rows, "user_id string, item_id string")


def candidates(spark, rows):
    """rows: (source, user, item, rank)."""
    return spark.createDataFrame(rows, "source string, user_id string, item_id string, rank int")


def test_positives_are_new_items_of_users_with_history(spark):
    day = pairs(spark, [("u1", "i1"), ("u1", "i2"), ("cold", "i1")])
    history = pairs(spark, [("u1", "i1"), ("u2", "i9")])
    assert collect(day_positives(day, history, exclude_seen=True), "user_id", "item_id") == [("u1", "i2")]
    assert collect(day_positives(day, history, exclude_seen=False), "user_id", "item_id") == [
        ("u1", "i1"), ("u1", "i2")]


def test_metrics_by_hand(spark):
    ranked = candidates(spark, [("als", "u1", "X", 1), ("als", "u1", "Y", 2), ("als", "u1", "Z", 3)])
    positives = pairs(spark, [("u1", "Y"), ("u1", "W"), ("u2", "X")])  # u2 got no candidates: zeros
    got = {row["k"]: row for row in recall_metrics(ranked, positives, [2, 3], catalogue_size=10).collect()}
    # k=2: u1 hits Y at rank 2 -> recall 1/2, precision 1/2, DCG 1/log2(3), IDCG 1 + 1/log2(3); u2 scores 0.
    ndcg_u1 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert got[2]["users"] == 2
    assert (got[2]["recall"], got[2]["hit_rate"], got[2]["precision"], got[2]["ndcg"], got[2]["coverage"]) == (
        pytest.approx(0.25), pytest.approx(0.5), pytest.approx(0.25), pytest.approx(ndcg_u1 / 2), pytest.approx(0.2))
    # k=3: the same hit, precision 1/3; the ideal list still has two positives.
    assert (got[3]["precision"], got[3]["ndcg"], got[3]["coverage"]) == (
        pytest.approx(1 / 6), pytest.approx(ndcg_u1 / 2), pytest.approx(0.3))


def test_a_perfect_list_has_ndcg_one_and_sources_are_scored_apart(spark):
    ranked = candidates(spark, [("a", "u1", "P", 1), ("a", "u1", "Q", 2), ("b", "u1", "Q", 1)])
    positives = pairs(spark, [("u1", "P"), ("u1", "Q")])
    got = {row["source"]: row for row in recall_metrics(ranked, positives, [2], catalogue_size=4).collect()}
    # Exactly 1: the ideal DCG adds its terms rounded as the DCG's exact sum does (not 1 +- 1e-10).
    assert got["a"]["ndcg"] == 1.0 and got["a"]["recall"] == pytest.approx(1.0)
    # b: Q at rank 1 of an ideal list of two -> 1 / (1 + 1/log2(3)).
    assert got["b"]["ndcg"] == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert got["b"]["recall"] == pytest.approx(0.5)


def test_popularity_counts_users_and_skips_seen_items(spark):
    recent = spark.createDataFrame(
        [("u1", "hit", 5.0), ("u2", "hit", 1.0), ("u3", "hit", 1.0), ("u1", "mid", 1.0), ("u2", "mid", 9.0),
         ("u3", "low", 9.0)], "user_id string, item_id string, strength double")
    popularity = item_popularity(recent)
    assert [tuple(row) for row in popularity.collect()] == [("hit", 3, 7.0), ("mid", 2, 10.0), ("low", 1, 9.0)]
    got = collect(popular_candidates(recent, popularity, k=2, exclude_seen=True), "user_id", "rank", "item_id")
    assert got == [("u1", 1, "low"), ("u2", 1, "low"), ("u3", 1, "mid")]

import datetime as dt
import math

import pytest

from core.config_recall import ItemCfConfig
from jobs.recall_itemcf import (
    capped_histories,
    item_similarities,
    itemcf_candidates,
    pair_counts,
    recency_weighted_recent_items,
)
from tests.jobs.recall_fixtures import collect

D = dt.date(2017, 12, 3)
DAY = dt.timedelta(days=1)
PARAMS = ItemCfConfig(max_history=10, max_item_users=10, neighbours=10, recent_items=10, half_life_days=7.0)


def interacted(spark, rows):
    """rows: (user, item, days before D, hour) -> the interactions frame recall_common.interactions returns."""
    return spark.createDataFrame(
        [(user, item, 1.0, D - ago * DAY, dt.datetime.combine(D - ago * DAY, dt.time(hour)))
         for user, item, ago, hour in rows],
        "user_id string, item_id string, strength double, last_dt date, last_time timestamp")


def histories(spark, baskets):
    return spark.createDataFrame([(user, item) for user, items in baskets.items() for item in items],
                                 "user_id string, item_id string")


def test_iuf_cosine_similarity_by_hand(spark):
    # u1 has A, B, C (IUF 1/ln 4); u2 has A, B and u3 has B, C (IUF 1/ln 3). |N(A)| = 2, |N(B)| = 3, |N(C)| = 2.
    got = item_similarities(histories(spark, {"u1": "ABC", "u2": "AB", "u3": "BC"}), neighbours=10)
    sims = {(i, j): s for i, j, s in collect(got, "item_id", "neighbour_id", "similarity")}
    a_b = (1 / math.log(4) + 1 / math.log(3)) / math.sqrt(2 * 3)
    assert sims == pytest.approx({("A", "B"): a_b, ("B", "A"): a_b, ("B", "C"): a_b, ("C", "B"): a_b,
                                  ("A", "C"): 1 / math.log(4) / 2, ("C", "A"): 1 / math.log(4) / 2})


def test_an_active_user_counts_for_less_than_a_focused_one(spark):
    # X and Y co-occur once in a 2-item history; P and Q once in a 6-item history: same counts, lower similarity.
    got = item_similarities(histories(spark, {"focused": "XY", "active": "PQRSTU"}), neighbours=10)
    sims = {(i, j): s for i, j, s in collect(got, "item_id", "neighbour_id", "similarity")}
    assert sims[("X", "Y")] == pytest.approx(1 / math.log(3))
    assert sims[("P", "Q")] == pytest.approx(1 / math.log(7))


def test_only_the_top_m_neighbours_are_kept_ties_by_id(spark):
    got = item_similarities(histories(spark, {"u1": "ABCD"}), neighbours=2)
    assert collect(got.where("item_id = 'A'"), "neighbour_id") == [("B",), ("C",)]


def test_history_cap_keeps_each_users_most_recent_items_and_bounds_pairs(spark):
    rows = [("heavy", f"i{n}", 1, n) for n in range(6)] + [("light", "i0", 2, 0), ("light", "i5", 2, 1)]
    log = interacted(spark, rows)
    capped = capped_histories(log, max_history=3, max_item_users=10)
    assert collect(capped.where("user_id = 'heavy'"), "item_id") == [("i3",), ("i4",), ("i5",)]
    assert collect(capped.where("user_id = 'light'"), "item_id") == [("i0",), ("i5",)]
    before = dict(collect(pair_counts(log.select("user_id", "item_id")), "item_id", "pairs"))
    after = dict(collect(pair_counts(capped), "item_id", "pairs"))
    assert before["i5"] == 5 + 1 and after["i5"] == 2 + 1
    assert max(after.values()) <= 10 * (3 - 1)


def test_a_very_popular_item_keeps_a_fixed_sample_of_its_users(spark):
    log = interacted(spark, [(f"u{n}", "hit", 1, 1) for n in range(20)] + [("u0", "niche", 1, 2)])
    capped = capped_histories(log, max_history=10, max_item_users=5)
    kept = collect(capped.where("item_id = 'hit'"), "user_id")
    assert len(kept) == 5
    assert collect(capped_histories(log, 10, 5).where("item_id = 'hit'"), "user_id") == kept  # seeded
    assert collect(capped.where("item_id = 'niche'"), "user_id") == [("u0",)]


def test_recency_weight_halves_every_half_life(spark):
    log = interacted(spark, [("u1", "new", 1, 0), ("u1", "old", 8, 0)])
    got = dict(collect(recency_weighted_recent_items(log, D, recent_items=5, half_life_days=7.0), "item_id", "weight"))
    assert got == pytest.approx({"new": 1.0, "old": 0.5})


def test_candidates_aggregate_neighbours_of_recent_items_and_skip_seen_ones(spark):
    log = interacted(spark, [("u1", "A", 1, 0), ("u1", "B", 8, 0)])
    sims = spark.createDataFrame([("A", "B", 0.9), ("A", "C", 0.5), ("B", "C", 0.4), ("B", "D", 0.8)],
                                 "item_id string, neighbour_id string, similarity double")
    got = collect(itemcf_candidates(log, sims, D, PARAMS, k=10, exclude_seen=True), "rank", "item_id", "score")
    # C: 1.0 * 0.5 + 0.5 * 0.4 = 0.7; D: 0.5 * 0.8 = 0.4; B is seen.
    assert got == [(1, "C", pytest.approx(0.7)), (2, "D", pytest.approx(0.4))]
    with_seen = collect(itemcf_candidates(log, sims, D, PARAMS, k=1, exclude_seen=False), "item_id")
    assert with_seen == [("B",)]

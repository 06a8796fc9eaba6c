"""The two-tower's blocks and rows by hand: tower shapes, the log-q corrected in-batch softmax, and that a training
example's user side holds only the items before it."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from core.top_k import exact_top_k
from models.recall_two_tower import frequent_items, log_sampling_probability
from models.two_tower import Vocabularies, build_towers, in_batch_softmax_loss
from models.two_tower_data import (
    PAD,
    in_time_order,
    item_stats,
    rollup_strength,
    serving_users,
    stats_of,
    training_examples,
)

T0 = pd.Timestamp("2017-12-01 09:00", tz="UTC")


def strings(*rows):
    return np.array(rows, dtype=object)


def test_towers_map_raw_ids_to_unit_vectors_of_the_embedding_size():
    towers = build_towers(Vocabularies(users=["u1", "u2"], items=["A", "B", "C"], categories=["x", "y"]), dim=4,
                          hidden_units=[8], recent_items=3, max_categories=2)
    users = towers.user({"user_id": strings("u1", "nobody"),
                         "recent_items": strings(["A", "B", PAD], [PAD, PAD, PAD]),
                         "recent_categories": strings(["x", PAD, "y", "x", PAD, PAD], [PAD] * 6)}).numpy()
    items = towers.item({"item_id": strings("C"), "item_categories": strings(["y", PAD]),
                         "item_stats": np.array([[0.5, 0.1]], np.float32)}).numpy()
    assert users.shape == (2, 4) and items.shape == (1, 4)
    # A user nobody knows, with no history, still gets a vector (the unknown-id row), of length 1 like the others.
    assert np.allclose(np.linalg.norm(users, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(items, axis=1), 1.0, atol=1e-5)
    # Training sees both towers at once; the item id table is shared with the user's recent items.
    assert [output.shape[-1] for output in towers.both.outputs] == [4, 4]
    assert towers.user.get_layer("item_embedding") is towers.item.get_layer("item_embedding")


def softmax_loss(logits, label):
    return -(logits[label] - np.log(np.exp(logits).sum()))


def test_the_log_q_correction_by_hand():
    users = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    items = np.array([[0.6, 0.8], [0.0, 1.0]], np.float32)
    log_q = np.log(np.array([0.8, 0.2], np.float32))
    got = float(in_batch_softmax_loss(users, items, np.array([0, 1]), log_q, temperature=0.5))
    # logits[i, j] = <u_i, v_j> / 0.5 - log q_j: the popular item (q = 0.8) is pushed down as a negative.
    row_0 = np.array([0.6 / 0.5 - np.log(0.8), 0.0 / 0.5 - np.log(0.2)])
    row_1 = np.array([0.8 / 0.5 - np.log(0.8), 1.0 / 0.5 - np.log(0.2)])
    assert got == pytest.approx((softmax_loss(row_0, 0) + softmax_loss(row_1, 1)) / 2, rel=1e-5)
    # Without the correction (equal q) the loss is another number: the correction is applied.
    flat = float(in_batch_softmax_loss(users, items, np.array([0, 1]), np.log([0.5, 0.5]).astype(np.float32), 0.5))
    assert flat != pytest.approx(got, rel=1e-3)


def test_the_same_item_twice_in_a_batch_is_not_its_own_negative():
    users = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    items = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    log_q = np.zeros(2, np.float32)
    # Both rows are item 7: each row's only candidate is its own column, so the loss is 0.
    assert float(in_batch_softmax_loss(users, items, np.array([7, 7]), log_q, 1.0)) == pytest.approx(0.0, abs=1e-6)


def test_sampling_probability_is_the_items_share_of_the_rows():
    assert np.allclose(log_sampling_probability(strings("a", "a", "b", "c")), np.log([0.5, 0.5, 0.25, 0.25]))


def rollups(rows):
    """rows: (user, item, hours after T0, strength)."""
    return pd.DataFrame([{"user_id": user, "item_id": item, "dt": (T0 + pd.Timedelta(hours=h)).date(),
                          "strength": strength, "last_time": T0 + pd.Timedelta(hours=h)}
                         for user, item, h, strength in rows])


def test_an_examples_user_side_is_only_what_came_before_it():
    rows = in_time_order(rollups([("u1", "C", 30, 1.0), ("u1", "A", 0, 1.0), ("u1", "B", 5, 1.0),
                                  ("u2", "D", 1, 1.0), ("u2", "Z", 2, 0.0)]))  # strength 0: not an interaction
    stats = item_stats(rows, dt.date(2017, 12, 3), history_days=4)
    examples = training_examples(rows, {"A": ["x"], "B": ["y", "z"]}, stats, recent_items=2, max_categories=2)
    assert list(zip(examples["user_id"], examples["item_id"])) == [("u1", "A"), ("u1", "B"), ("u1", "C"), ("u2", "D")]
    # Most recent first; nothing of the target or after it, nothing of another user.
    assert examples["recent_items"].tolist() == [[PAD, PAD], ["A", PAD], ["B", "A"], [PAD, PAD]]
    assert examples["recent_categories"].tolist()[2] == ["y", "z", "x", PAD]
    assert examples["item_categories"].tolist() == [["x", PAD], ["y", "z"], [PAD, PAD], [PAD, PAD]]
    # A, B, D have one row each, last on 12-01; C too, on 12-02 (hour 30). One row of at most one: activity 1.
    assert examples["item_stats"].tolist() == [[1.0, 0.5], [1.0, 0.5], [1.0, 0.25], [1.0, 0.5]]
    served = serving_users(rows, {}, recent_items=2, max_categories=1)
    assert served["user_id"].tolist() == ["u1", "u2"]
    assert served["recent_items"].tolist() == [["C", "B"], ["D", PAD]]


def test_item_stats_are_activity_and_age_as_of_d_by_hand():
    rows = in_time_order(rollups([("u1", "A", 0, 1.0), ("u2", "A", 30, 1.0), ("u1", "A", 31, 1.0),
                                  ("u3", "B", 0, 1.0)]))
    stats = item_stats(rows, dt.date(2017, 12, 4), history_days=10)
    # A: 3 rows (the most), last on 12-02, 2 days before D. B: 1 row, log(2) / log(4) of A's; last on 12-01.
    assert stats["A"].tolist() == pytest.approx([1.0, 0.2])
    assert stats["B"].tolist() == pytest.approx([np.log(2) / np.log(4), 0.3])
    got = stats_of(strings("B", "unknown"), stats).ravel().tolist()
    assert got == pytest.approx([np.log(2) / np.log(4), 0.3, 0, 0])


def test_strength_counts_weighted_types_or_the_rating_values():
    daily = pd.DataFrame({"n_pv": [2, 0], "n_buy": [0, 1], "value_sum": [None, 4.0]})
    assert rollup_strength(daily, {"pv": 1.0, "buy": 5.0}, "counts").tolist() == [2.0, 5.0]
    assert rollup_strength(daily, {"buy": 0.5}, "values").tolist() == [0.0, 2.0]


def test_search_skips_seen_items_and_breaks_ties_by_position():
    items = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    top = exact_top_k(strings("u1", "u2"), np.array([[1.0, 0.0], [0.0, 1.0]]), items, [[0], []], k=2)
    assert list(zip(top["user_id"], top["position"], top["rank"])) == [("u1", 1, 1), ("u1", 2, 2), ("u2", 2, 1),
                                                                       ("u2", 0, 2)]
    assert top["score"].tolist() == pytest.approx([1.0, 0.0, 1.0, 0.0])


def test_only_items_of_enough_rows_get_an_id_embedding_of_their_own():
    assert frequent_items(pd.Series(["b", "a", "b", "c", "a", "a"]), min_count=2) == ["a", "b"]
    assert frequent_items(pd.Series(["b", "a"]), min_count=1) == ["a", "b"]

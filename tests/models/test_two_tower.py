"""The two-tower's blocks and rows by hand: tower shapes, the log-q corrected in-batch softmax, and that a training
example's user side holds only the items before it."""
import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core.config_recall import TwoTowerConfig
from core.delta_arrow import replace_rows
from core.tables import ATTRIBUTE_TABLES
from core.top_k import exact_top_k
from models.recall_two_tower import (
    fit,
    frequent_items,
    log_sampling_probability,
    log_share,
    search_vectors,
    tf_ready,
)
from models.two_tower import Vocabularies, build_towers, ensemble, in_batch_softmax_loss
from models.two_tower_data import (
    PAD,
    in_time_order,
    item_stats,
    read_item_categories,
    rollup_strength,
    serving_users,
    stats_of,
    training_examples,
)
from tests.conftest import config_for

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


def test_an_ensemble_scores_a_pair_by_the_mean_of_its_members_cosines():
    import keras

    vocabularies = Vocabularies(users=["u1"], items=["A", "B"], categories=["x"])
    members = []
    for index, seed in enumerate((7, 1007)):  # two members, initialised apart, each named apart
        keras.utils.set_random_seed(seed)
        members.append(build_towers(vocabularies, dim=3, hidden_units=[4], recent_items=2, max_categories=1,
                                    name=f"member_{index}_"))
    joined = ensemble(members)
    user = {"user_id": strings("u1"), "recent_items": strings(["A", PAD]), "recent_categories": strings(["x", PAD])}
    item = {"item_id": strings("B"), "item_categories": strings(["x"]),
            "item_stats": np.array([[0.2, 0.3]], np.float32)}
    u1, u2 = (member.user(user).numpy()[0] for member in members)
    v1, v2 = (member.item(item).numpy()[0] for member in members)
    u, v = joined.user(user).numpy()[0], joined.item(item).numpy()[0]
    assert np.allclose(u, np.concatenate([u1, u2]) / np.sqrt(2), atol=1e-6)
    assert np.isclose(np.linalg.norm(u), 1.0, atol=1e-5) and np.isclose(np.linalg.norm(v), 1.0, atol=1e-5)
    assert np.isclose(u @ v, (u1 @ v1 + u2 @ v2) / 2, atol=1e-6) and not np.isclose(u1 @ v1, u2 @ v2)
    # Training sees the joined towers, whose variables are the members'.
    assert [output.shape[-1] for output in joined.both.outputs] == [6, 6]
    assert len(joined.both.trainable_variables) == sum(len(m.both.trainable_variables) for m in members)
    assert ensemble(members[:1]) is members[0]


def two_tower_examples(users, items, recent, categories):
    """Training examples of one category each and one recent item (or none) each."""
    return {"user_id": strings(*users), "recent_items": strings(*[[item, PAD] for item in recent]),
            "recent_categories": strings(*[[category if item != PAD else PAD, PAD]
                                           for item, category in zip(recent, categories)]),
            "item_id": strings(*items), "item_categories": strings(*[[category] for category in categories]),
            "item_stats": np.full((len(items), 2), 0.5, np.float32)}


def small_towers():
    # Rows of each table: 0 padding, 1 unknown id, then the vocabulary in order (users u1..u5, items A..F, x, y).
    return build_towers(Vocabularies(users=["u1", "u2", "u3", "u4", "u5"], items=list("ABCDEF"),
                                     categories=["x", "y"]), dim=4, hidden_units=[8], recent_items=2,
                        max_categories=1)


def id_tables(towers, names):
    return {name: towers.both.get_layer(f"{name}_embedding").embeddings for name in names}


def test_a_batch_gradient_holds_only_the_table_rows_it_looked_up_not_the_padding():
    import tensorflow as tf

    towers = small_towers()
    batch = two_tower_examples(["u1", "u2"], ["A", "B"], ["B", PAD], ["x", "x"])
    tables = id_tables(towers, ("user", "item", "category"))
    with tf.GradientTape() as tape:
        users, items = towers.both({name: tf.constant(tf_ready(values))
                                    for name, values in batch.items()}, training=True)
        loss = in_batch_softmax_loss(users, items, tf.constant([0, 1], tf.int64), tf.zeros(2), 0.1)
    gradients = dict(zip(tables, tape.gradient(loss, [table.value for table in tables.values()])))
    rows = {name: sorted(set(gradient.indices.numpy())) for name, gradient in gradients.items()}
    assert all(isinstance(gradient, tf.IndexedSlices) for gradient in gradients.values())
    # u1, u2; A, B (B also as u1's recent item; u2's padding is not looked up); x.
    assert rows == {"user": [2, 3], "item": [2, 3], "category": [2]}


def test_training_moves_a_table_row_only_on_the_steps_that_look_it_up():
    # Four examples of their own user and item, two steps of two: each row is looked up on one step. Adam's first
    # move of a row is at most the learning rate per weight; dense Adam would move step 1's rows again on step 2
    # (by its momentum, ~0.67 x the rate more), and rows never looked up not at all.
    towers = small_towers()
    examples = two_tower_examples(["u1", "u2", "u3", "u4"], list("ABCD"), [PAD] * 4, ["x", "x", "y", "y"])
    tables = id_tables(towers, ("user", "item"))
    before = {name: table.numpy().copy() for name, table in tables.items()}
    params = TwoTowerConfig(embedding_dim=4, hidden_units=[8], recent_items=2, max_categories=1, min_item_count=1,
                            temperature=0.1, batch_size=2, epochs=1, learning_rate=0.01, seed=7, ensemble=1)
    fit(towers, examples, params)
    moves = {name: np.abs(table.numpy() - before[name]) for name, table in tables.items()}
    assert {name: sorted(np.flatnonzero(move.max(axis=1) > 0)) for name, move in moves.items()} == \
        {"user": [2, 3, 4, 5], "item": [2, 3, 4, 5]}
    assert max(move.max() for move in moves.values()) <= params.learning_rate * (1 + 1e-6)


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


def test_the_popularity_weight_adds_that_much_of_each_items_log_share_to_the_logit_by_hand():
    # Items a (3 of 4 training rows) and b (1 of 4); the user's cosines 0.1 with a and 0.2 with b, temperature 0.1.
    shares = log_share(strings("b", "a"), strings("a", "b", "a", "a"))
    assert shares == pytest.approx(np.log([0.25, 0.75]))
    user, items = np.array([[0.2, np.sqrt(1 - 0.04)]]), np.array([[1.0, 0.0], [0.5, 0.0]])  # b first
    params = TwoTowerConfig(embedding_dim=2, hidden_units=[2], recent_items=1, max_categories=1, min_item_count=1,
                            temperature=0.1, batch_size=2, epochs=1, learning_rate=0.1, seed=7, ensemble=1)
    alone = search_vectors(user, items, shares, params)
    assert alone[0] is user and alone[1] is items  # weight 0: the towers' own vectors, searched as before
    # Logits 2 + w log .25 (b) and 1 + w log .75 (a): b wins alone and at w = 0.5 (1.307 vs 0.856), a at w = 1
    # (0.614 vs 0.712).
    for weight, best in ((0.5, 0), (1.0, 1)):
        users, rows = search_vectors(user, items, shares, params.model_copy(update={"popularity_weight": weight}))
        logits = [2 + weight * np.log(0.25), 1 + weight * np.log(0.75)]
        assert (users @ rows.T).ravel() == pytest.approx(logits)
        assert exact_top_k(strings("u"), users, rows, [[]], k=1)["position"].tolist() == [best]


def test_item_categories_are_read_by_the_id_column_the_attribute_file_names(tmp_path):
    # The CSV example's movies file keys items by "movieId", which the item snapshot keeps as its column name.
    cfg = config_for(tmp_path, "conf/examples/movielens_csv.yaml")
    day = dt.date(1998, 4, 22)
    snapshot = pa.table({"movieId": ["12", "14"], "title": ["Heat", "Fargo"], "genres": [["Crime", "Thriller"], None],
                         "dt": [day, day]})
    replace_rows(cfg.table_path(ATTRIBUTE_TABLES["items"]), snapshot, {"dt": day}, ["dt"])
    assert read_item_categories(cfg, day) == {"12": ["Crime", "Thriller"], "14": []}
    assert read_item_categories(cfg, day - dt.timedelta(days=1)) == {}

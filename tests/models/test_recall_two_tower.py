"""The two-tower job end to end on a small lake: nothing of D or later reaches it (perturbation, with a control that
shows the comparison can fail), seen items are never candidates, and the exported user tower serves raw ids."""
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pytest
import tensorflow as tf

from core.delta_arrow import delta_dataset, replace_rows
from models.recall_two_tower import MEMBER_SEED_STEP, recall_two_tower
from tests.conftest import MOVIELENS, config_for
from tests.jobs.recall_fixtures import write_user_item_daily

D = dt.date(1998, 4, 22)
DAY = dt.timedelta(days=1)
TOWER = {"embedding_dim": 4, "hidden_units": [8], "recent_items": 3, "max_categories": 2, "batch_size": 4,
         "epochs": 3, "ensemble": 1}
HISTORY = [(user, item, "rating", D - ago * DAY, hour, 4.0)
           for user, items in {"u1": "ABCD", "u2": "ABE", "u3": "BCF", "u4": "DEFA", "u5": "CE"}.items()
           for hour, (ago, item) in enumerate(zip((5, 4, 3, 2, 1), items))]


def small_lake(spark, tmp_path, extra=()):
    cfg = config_for(tmp_path, MOVIELENS, recall={"two_tower": TOWER})
    write_user_item_daily(spark, cfg, HISTORY + list(extra))
    genres = {"A": ["Drama"], "B": ["Comedy", "Drama"], "C": ["Comedy"], "D": [], "E": ["Horror"], "F": ["Drama"]}
    snapshot = pa.table({"item_id": list(genres), "genres": list(genres.values()), "dt": [D] * len(genres)})
    replace_rows(cfg.table_path("item_attributes"), snapshot, {"dt": D}, ["dt"])
    return cfg


def candidates(cfg):
    keep = (pads.field("as_of") == D) & (pads.field("source") == "two_tower")
    table = delta_dataset(cfg.table_path("recall_candidates")).to_table(filter=keep).to_pandas()
    return sorted(zip(table["user_id"], table["rank"], table["item_id"], table["score"]))


@pytest.mark.slow
def test_nothing_of_d_or_later_reaches_the_two_tower(spark, tmp_path):
    base = small_lake(spark, tmp_path / "base")
    report = recall_two_tower(base, D)
    assert report.startswith(f"recall_two_tower {D} (days 1998-03-23..1998-04-21): ")
    expected = candidates(base)
    later = [("u1", "F", "rating", D, 9, 5.0), ("new", "A", "rating", D, 9, 5.0),
             ("u2", "C", "rating", D + DAY, 9, 1.0)]
    perturbed = small_lake(spark, tmp_path / "later", later)
    recall_two_tower(perturbed, D)
    assert candidates(perturbed) == expected
    # The control: one more interaction the day before D changes the model, so the comparison above can fail.
    before = small_lake(spark, tmp_path / "before", [("u5", "F", "rating", D - DAY, 20, 5.0)])
    recall_two_tower(before, D)
    assert candidates(before) != expected


def test_candidates_are_unseen_items_and_the_user_tower_serves_raw_ids(spark, tmp_path):
    cfg = small_lake(spark, tmp_path)
    recall_two_tower(cfg, D)
    got = candidates(cfg)
    seen = {(user, item) for user, item, *_ in HISTORY}
    assert {user for user, *_ in got} == {"u1", "u2", "u3", "u4", "u5"}
    assert not seen & {(user, item) for user, _, item, _ in got}
    # u2 saw A, B and E: the other three are its candidates (top_k is larger), ranked 1..3.
    u2 = sorted((rank, item) for user, rank, item, _ in got if user == "u2")
    assert [rank for rank, _ in u2] == [1, 2, 3] and {item for _, item in u2} == set("CDF")
    vectors = delta_dataset(cfg.table_path("two_tower_item_vectors")).to_table().to_pandas()
    assert sorted(vectors["item_id"]) == list("ABCDEF") and all(len(v) == 4 for v in vectors["vector"])
    serve = tf.saved_model.load(str(tmp_path / "artifacts" / "two_tower" / str(D) / "user_tower"))
    out = serve.serve({"user_id": tf.constant(["u2"]), "recent_items": tf.constant([["E", "B", "A"]]),
                       "recent_categories": tf.constant([["Horror", "", "Comedy", "Drama", "Drama", ""]])})
    user = out.numpy()[0]
    assert abs(np.linalg.norm(user) - 1) < 1e-5
    # u2's best candidate is the item whose vector is nearest its served vector.
    by_item = {item: np.asarray(vector) for item, vector in zip(vectors["item_id"], vectors["vector"])}
    best = max("CDF", key=lambda item: float(user @ by_item[item]))
    assert [item for user_id, rank, item, _ in got if user_id == "u2" and rank == 1] == [best]


@pytest.mark.slow
def test_an_ensemble_of_two_seeds_is_the_two_members_side_by_side(spark, tmp_path):
    cfg = small_lake(spark, tmp_path)

    def item_vectors(**change):
        tower = cfg.recall.two_tower.model_copy(update=change)
        recall_two_tower(cfg.model_copy(update={"recall": cfg.recall.model_copy(update={"two_tower": tower})}), D)
        table = delta_dataset(cfg.table_path("two_tower_item_vectors")).to_table().to_pandas().sort_values("item_id")
        return np.stack(table["vector"].to_numpy())

    first, second = item_vectors(seed=7), item_vectors(seed=7 + MEMBER_SEED_STEP)  # member 1's seed
    joined = item_vectors(seed=7, ensemble=2)
    assert np.allclose(joined, np.hstack([first, second]) / np.sqrt(2), atol=1e-6)
    assert np.allclose(np.linalg.norm(joined, axis=1), 1.0, atol=1e-5)
    serve = tf.saved_model.load(str(tmp_path / "artifacts" / "two_tower" / str(D) / "user_tower"))
    user = serve.serve({"user_id": tf.constant(["u2"]), "recent_items": tf.constant([["E", "B", "A"]]),
                        "recent_categories": tf.constant([["Horror", "", "Comedy", "Drama", "Drama", ""]])})
    assert user.shape == (1, 8) and np.isclose(np.linalg.norm(user.numpy()), 1.0, atol=1e-5)

"""The recall tuning bench's grid, positives, recall and seeds by hand (its training is each source's job's own)."""
import datetime as dt

import pandas as pd
import pytest

from bench.recall_tuning import day_positives, paired, recall_at, score_setting, settings_grid
from core.config_recall import Item2VecConfig, TwoTowerConfig
from tests.conftest import MOVIELENS, config_for

BASE = TwoTowerConfig(embedding_dim=32, hidden_units=[64], recent_items=20, max_categories=4, min_item_count=2,
                      temperature=0.1, batch_size=256, epochs=10, learning_rate=0.003, seed=7, ensemble=1)
ITEM2VEC = Item2VecConfig(vector_size=32, window=5, min_count=1, max_iter=10, step_size=0.025, seed=7, recent_items=20,
                          half_life_days=7.0)


def test_the_grid_is_the_config_first_then_each_value_alone_or_every_combination_once():
    options = ["temperature=0.05,0.1", "hidden_units=[64],[128,64]"]
    grid = settings_grid(BASE, options)
    assert grid[0] == BASE
    # 0.1 and [64] are the config's own: not run twice.
    assert [(s.temperature, s.hidden_units) for s in grid[1:]] == [(0.05, [64]), (0.1, [128, 64])]
    combined = settings_grid(BASE, options, combine=True)
    assert [(s.temperature, s.hidden_units) for s in combined[1:]] == [(0.05, [64]), (0.05, [128, 64]),
                                                                       (0.1, [128, 64])]
    with pytest.raises(SystemExit, match="not a setting of recall.two_tower"):
        settings_grid(BASE, ["temprature=0.05"])


def test_the_grid_of_another_source_is_of_its_own_settings():
    grid = settings_grid(ITEM2VEC, ["window=20,50"], source="item2vec")
    assert [setting.window for setting in grid] == [5, 20, 50] and all(type(s) is Item2VecConfig for s in grid)
    with pytest.raises(SystemExit, match="not a setting of recall.item2vec"):
        settings_grid(ITEM2VEC, ["temperature=0.05"], source="item2vec")


def rollups(rows):
    """rows: (user, item, day of December 1998, strength)."""
    return pd.DataFrame([{"user_id": user, "item_id": item, "dt": dt.date(1998, 12, day), "strength": strength}
                         for user, item, day, strength in rows])


def test_positives_are_unseen_items_of_d_for_users_with_history():
    log = rollups([("u1", "A", 1, 1.0), ("u1", "A", 4, 2.0), ("u1", "B", 4, 1.0),  # A seen on 12-01: not positive
                   ("u2", "C", 1, 0.0), ("u2", "C", 4, 1.0),  # strength 0 is no history: u2 is not evaluated
                   ("u3", "A", 3, 1.0), ("u3", "D", 4, 1.0), ("u3", "E", 4, 0.0),  # E: strength 0 on D
                   ("u4", "A", 5, 1.0)])  # after D
    assert day_positives(log, dt.date(1998, 12, 4), history_days=3, exclude_seen=True) == {"u1": {"B"}, "u3": {"D"}}
    assert day_positives(log, dt.date(1998, 12, 4), history_days=3, exclude_seen=False) == {
        "u1": {"A", "B"}, "u3": {"D"}}
    # With a 1-day history only u3 (12-03) has one.
    assert day_positives(log, dt.date(1998, 12, 4), history_days=1, exclude_seen=True) == {"u3": {"D"}}


def test_recall_at_k_is_hits_in_the_top_k_over_the_positives_and_zero_without_candidates():
    ranked = pd.DataFrame({"user_id": ["u1", "u1", "u1", "u2"], "item_id": ["C", "A", "B", "D"], "rank": [2, 1, 3, 1]})
    positives = {"u1": {"A", "B"}, "u2": {"C"}, "u3": {"A"}}
    # u1's list is A, C, B: one of two in the top 2, both in the top 3; u2 misses; u3 has no candidates.
    assert recall_at(ranked, positives, [2, 3]) == {2: [0.5, 0.0, 0.0], 3: [1.0, 0.0, 0.0]}


def test_a_setting_is_trained_once_per_seed_and_day_and_scored_by_the_mean_over_the_seeds(tmp_path):
    cfg = config_for(tmp_path, MOVIELENS)
    setting = ITEM2VEC.model_copy(update={"window": 20})
    days = {dt.date(1998, 3, 1): {"u1": {"A", "B"}}, dt.date(1998, 3, 2): {"u2": {"C"}}}
    trained = []

    def day_top(tuned, ds, k):
        """Seed 7 puts A first for everyone, seed 8 C; each day's training takes 2 s."""
        params = tuned.recall.item2vec
        trained.append((ds, params.seed, params.window, k))
        top = "A" if params.seed == 7 else "C"
        return pd.DataFrame({"user_id": ["u1", "u2"], "item_id": [top, top], "rank": [1, 1]}), 2.0

    result = score_setting(cfg, "item2vec", setting, day_top, days, [1, 2], seeds=[7, 8])
    assert trained == [(day, seed, 20, 2) for seed in (7, 8) for day in days]
    # u1 on 03-01: 1/2 with seed 7, 0 with 8; u2 on 03-02: 0 with seed 7, 1 with 8.
    assert result["users"][1] == [0.25, 0.5] and result["recall@1"] == pytest.approx(0.375)
    assert result["recall@1 by seed"] == [0.25, 0.5] and result["train_seconds"] == 8.0
    assert result["setting"]["window"] == 20 and result["seeds"] == [7, 8]


def test_paired_difference_over_the_same_users():
    reference = {"users": {50: [0.0, 0.5, 1.0]}}
    other = {"users": {50: [0.5, 0.5, 1.0]}}
    # Differences 0.5, 0, 0: mean 1/6, sd sqrt(1/12), se sqrt(1/12) / sqrt(3) = 1/6.
    assert paired(reference, other, 50) == pytest.approx((1 / 6, 1 / 6))

"""The two-tower tuning bench's grid, positives and recall by hand (its training is recall_two_tower's own)."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from bench.two_tower_tuning import day_positives, paired, recall_at, settings_grid
from core.config_recall import TwoTowerConfig

BASE = TwoTowerConfig(embedding_dim=32, hidden_units=[64], recent_items=20, max_categories=4, min_item_count=2,
                      temperature=0.1, batch_size=256, epochs=10, learning_rate=0.003, seed=7, ensemble=1)


def test_the_grid_is_the_config_first_then_each_value_alone_or_every_combination_once():
    options = ["temperature=0.05,0.1", "hidden_units=[64],[128,64]"]
    grid = settings_grid(BASE, options)
    assert grid[0] == BASE
    # 0.1 and [64] are the config's own: not run twice.
    assert [(s.temperature, s.hidden_units) for s in grid[1:]] == [(0.05, [64]), (0.1, [128, 64])]
    combined = settings_grid(BASE, options, combine=True)
    assert [(s.temperature, s.hidden_units) for s in combined[1:]] == [(0.05, [64]), (0.05, [128, 64]),
                                                                       (0.1, [128, 64])]
    with pytest.raises(SystemExit, match="not a two_tower setting"):
        settings_grid(BASE, ["temprature=0.05"])


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
    items = np.array(["A", "B", "C", "D"], dtype=object)
    top = pd.DataFrame({"user_id": ["u1", "u1", "u1", "u2"], "position": [2, 0, 1, 3], "rank": [2, 1, 3, 1]})
    positives = {"u1": {"A", "B"}, "u2": {"C"}, "u3": {"A"}}
    # u1's list is A, C, B: one of two in the top 2, both in the top 3; u2 misses; u3 has no candidates.
    assert recall_at(top, items, positives, [2, 3]) == {2: [0.5, 0.0, 0.0], 3: [1.0, 0.0, 0.0]}


def test_paired_difference_over_the_same_users():
    reference = {"users": {50: [0.0, 0.5, 1.0]}}
    other = {"users": {50: [0.5, 0.5, 1.0]}}
    # Differences 0.5, 0, 0: mean 1/6, sd sqrt(1/12), se sqrt(1/12) / sqrt(3) = 1/6.
    assert paired(reference, other, 50) == pytest.approx((1 / 6, 1 / 6))

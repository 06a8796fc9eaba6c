"""The category-popularity yardstick's lists by hand."""
import datetime as dt

import pandas as pd

from bench.category_popularity import category_mix, category_shares, popularity

D = dt.date(2017, 12, 3)
DAY = dt.timedelta(days=1)


def test_popularity_counts_distinct_users_of_the_window_with_ties_by_item_id():
    rollups = pd.DataFrame([("u1", "B", D - DAY, 1.0), ("u2", "B", D - DAY, 2.0), ("u1", "B", D - 2 * DAY, 1.0),
                            ("u1", "A", D - DAY, 1.0), ("u3", "C", D - DAY, 1.0), ("u2", "C", D - DAY, 0.0),
                            ("u4", "A", D - 3 * DAY, 1.0), ("u4", "C", D, 1.0)],
                           columns=["user_id", "item_id", "dt", "strength"])
    # [D-2, D-1]: B by u1 and u2; A by u1; C by u3 (u2's C has no strength; D-3 and D are outside).
    assert popularity(rollups, D - 2 * DAY, D - DAY).to_dict() == {"B": 2, "A": 1, "C": 1}
    assert list(popularity(rollups, D - 2 * DAY, D - DAY).index) == ["B", "A", "C"]


def test_shares_are_of_the_users_items_whose_category_is_known():
    history = pd.DataFrame([("u1", "A", 1.0), ("u1", "B", 3.0), ("u1", "C", 1.0), ("u1", "Z", 1.0), ("u2", "C", 1.0)],
                           columns=["user_id", "item_id", "strength"])
    shares = category_shares(history, {"A": "x", "B": "x", "C": "y"})
    assert shares == {"u1": {"x": 2 / 3, "y": 1 / 3}, "u2": {"y": 1.0}}


def test_the_mix_takes_the_users_categories_by_share_times_log_popularity_then_fills_with_the_popular():
    popular = pd.Series({"P": 10, "A": 8, "Q": 5, "R": 3, "S": 1})
    category_of = {"P": "z", "A": "x", "Q": "x", "R": "y", "S": "y"}
    shares = {"x": 2 / 3, "y": 1 / 3}
    # Unseen items of x and y: Q 2/3 log 6 = 1.19, R 1/3 log 4 = 0.46, S 1/3 log 2 = 0.23 (A is seen, P is of z).
    # The two best, Q and R, then the popular order without A (seen) and Q, R (taken): P, S.
    assert category_mix(shares, {"A"}, popular, category_of, k=4, from_categories=2) == ["Q", "R", "P", "S"]
    assert category_mix(shares, {"A"}, popular, category_of, k=3, from_categories=2) == ["Q", "R", "P"]
    # A user without a known category gets the popular list.
    assert category_mix({}, {"A"}, popular, category_of, k=3, from_categories=2) == ["P", "Q", "R"]


def test_popularity_counts_by_its_log_against_the_users_share():
    popular = pd.Series({"R": 20, "Q": 2})
    # Q: 0.9 log 3 = 0.99 beats R: 0.1 log 21 = 0.30, though R's share x popularity (2.0) beats Q's (1.8).
    mixed = category_mix({"x": 0.9, "y": 0.1}, set(), popular, {"Q": "x", "R": "y"}, k=2, from_categories=1)
    assert mixed == ["Q", "R"]

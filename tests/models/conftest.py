"""A tiny but realistic feature spec and batch of samples for the model tests, and a fixed seed for each test."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from features.spec import GBDT_LEAVES, Feature, FeatureSpec
from models.preprocessing import NumericStats, numeric_stats

EMBEDDED = ("wide", "deep", "fm")
LABELS = ("label_click", "label_conversion")


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(7)


@pytest.fixture(scope="session")
def spec() -> FeatureSpec:
    return FeatureSpec((
        Feature("user_id", "categorical", "string", EMBEDDED, buckets=97, embedding_dim=4),
        Feature("item_id", "categorical", "string", EMBEDDED, buckets=97, embedding_dim=4),
        Feature("user_n_click_7d", "numeric", "bigint", ("deep", "gbdt"), log1p=True),
        Feature("item_ctr_7d", "numeric", "double", ("deep", "gbdt")),
        Feature("item_genres", "multi_categorical", "string", EMBEDDED, buckets=31, embedding_dim=4, max_length=3),
        # DIN's history: item ids hashed like item_id (same dtype and buckets), so both share one table.
        Feature("user_recent_items", "multi_categorical", "string", EMBEDDED, buckets=97, embedding_dim=4,
                max_length=3, history_of="user"),
        Feature(GBDT_LEAVES, "multi_categorical", "int", ("wide",), buckets=16, max_length=2),
    ))


@pytest.fixture(scope="session")
def batch() -> dict[str, np.ndarray]:
    """32 rows as the input pipeline hands them over: padded lists, NaN for missing numerics, odd items clicked."""
    rng = np.random.default_rng(0)
    rows = 32
    items = np.arange(rows) % 6
    genres = {0: ["drama", "", ""], 1: ["comedy", "drama", ""], 2: ["", "", ""]}
    clicks = rng.poisson(3.0, rows).astype(float)
    clicks[::7] = np.nan
    users = np.array([f"u{u}" for u in rng.integers(0, 5, rows)], dtype=object)
    users[3] = ""
    # Users who clicked odd items before have them in their history; the rest (and the anonymous row) have none.
    recent = np.array([["i1", "i3", ""] if int(u[1:] or 0) % 2 else ["", "", ""] for u in users], dtype=object)
    leaves = np.stack([items, items + 8], axis=1).astype(np.int32)
    leaves[5] = [-1, -1]
    return {
        "user_id": users,
        "item_id": np.array([f"i{i}" for i in items], dtype=object),
        "user_n_click_7d": clicks,
        "item_ctr_7d": rng.random(rows),
        "item_genres": np.array([genres[i % 3] for i in items], dtype=object),
        "user_recent_items": recent,
        GBDT_LEAVES: leaves,
        "label_click": (items % 2).astype("float32"),
        "label_conversion": (items == 1).astype("float32"),
    }


@pytest.fixture(scope="session")
def stats(spec, batch) -> dict[str, NumericStats]:
    return numeric_stats(spec.features, [batch])

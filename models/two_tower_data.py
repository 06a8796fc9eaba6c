"""The two-tower's rows, from the lake without Spark: training examples of [D-N, D-1] and the users to serve as of D.

A training example is one (user, item, day) rollup row with strength > 0; its user side is the user's R items
touched *before* it (in time order), so the tower learns to predict the next item from the past ones, exactly what
it is asked as of D, where the user side is the user's last R items of [D-N, D-1]. (Taking every example's user side
as of D instead would put the target among its own features: a model that learns to echo the recent items, which
recall then excludes as seen.)
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow.dataset as pads

from core.config_schema import PipelineConfig
from core.delta_arrow import delta_dataset, is_delta_table
from core.errors import PipelineError
from core.tables import ATTRIBUTE_TABLES, USER_ITEM_DAILY_TABLE
from features.spec import count_column

PAD = ""  # an absent entry of a list input (the towers' lookups mask it)
ITEM_STATS = 2  # the item tower's numeric inputs: see item_stats


def rollup_strength(daily: pd.DataFrame, event_weights: Mapping[str, float], measure: str) -> pd.Series:
    """Per rollup row, as recall_common.strength computes it in Spark: sum over event types of weight * count, or
    with `values` weight * value sum for the types the row has."""
    total = pd.Series(0.0, index=daily.index)
    for kind, weight in event_weights.items():
        counts = daily[count_column(kind)].fillna(0)
        if measure == "values":
            total += np.where(counts > 0, daily["value_sum"].fillna(0.0) * weight, 0.0)
        else:
            total += counts * float(weight)
    return total


def read_rollups(cfg: PipelineConfig, first_day: dt.date, last_day: dt.date) -> pd.DataFrame:
    """(user_id, item_id, dt, strength, last_time) of the rollups of [first_day, last_day]."""
    path = cfg.table_path(USER_ITEM_DAILY_TABLE)
    if not is_delta_table(path):
        raise PipelineError(f"no table at {path}: run build_daily_rollups first")
    weights = cfg.recall.event_weights
    wanted = ["user_id", "item_id", "dt", "last_event_time", "value_sum", *map(count_column, weights)]
    within = (pads.field("dt") >= first_day) & (pads.field("dt") <= last_day)
    daily = delta_dataset(path).to_table(columns=wanted, filter=within).to_pandas()
    daily["strength"] = rollup_strength(daily, weights, cfg.recall.strength)
    return daily.rename(columns={"last_event_time": "last_time"})[["user_id", "item_id", "dt", "strength", "last_time"]]


def read_item_categories(cfg: PipelineConfig, as_of: dt.date) -> dict[str, list[str]]:
    """item -> its categories in D's item snapshot (known before D); empty without an item category."""
    column, items = cfg.dataset.item_category, cfg.dataset.attributes.items
    path = cfg.table_path(ATTRIBUTE_TABLES["items"])
    if column is None or items is None or not is_delta_table(path):
        return {}
    key = items.id_column  # the snapshot keeps the file's name for the id (ingest_attributes)
    table = delta_dataset(path).to_table(columns=[key, column], filter=pads.field("dt") == as_of).to_pandas()
    return {item: _as_list(value) for item, value in zip(table[key], table[column])}


def _as_list(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def in_time_order(rollups: pd.DataFrame) -> pd.DataFrame:
    """The rows with strength > 0, each user's in the order touched (equal times by item id), users by id."""
    positive = rollups[rollups["strength"] > 0]
    return positive.sort_values(["user_id", "last_time", "item_id"], kind="stable").reset_index(drop=True)


def recent_before(items: np.ndarray, positions: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """(len(positions), width): the items at each position - 1, - 2, ... (most recent first) down to its `starts`
    (the first row of the same user), PAD beyond. items is a column of rows in_time_order."""
    out = np.full((len(positions), width), PAD, dtype=object)
    for lag in range(1, width + 1):
        source = positions - lag
        valid = source >= starts
        out[valid, lag - 1] = items[source[valid]]
    return out


def _first_rows(users: np.ndarray) -> np.ndarray:
    """Per row, the index of its user's first row (rows grouped by user)."""
    starts = np.r_[True, users[1:] != users[:-1]] if len(users) else np.zeros(0, dtype=bool)
    return np.maximum.accumulate(np.where(starts, np.arange(len(users)), 0))


def categories_of(items: np.ndarray, categories: Mapping[str, list[str]], width: int) -> np.ndarray:
    """(*items.shape, width) -> flattened per row: each item's first `width` categories, PAD for none or PAD items."""
    flat = items.reshape(-1)
    out = np.full((len(flat), width), PAD, dtype=object)
    for row, item in enumerate(flat):
        for column, category in enumerate(categories.get(item, ())[:width]):
            out[row, column] = category
    return out.reshape(items.shape[0], -1)


def item_stats(rows: pd.DataFrame, as_of: dt.date, history_days: int) -> dict[str, np.ndarray]:
    """item -> [log(1 + its rows) / log(1 + the most rows of any item), days from its last row to D / N] over the
    rows (in_time_order) of [D-N, D-1]: how active and how recent the item is as of D, the same for every example of
    D's training. Items that share the unknown-id embedding (frequent_items) are told apart by these and their
    categories, instead of tying with every other rare item of their category."""
    per_item = rows.groupby("item_id").agg(count=("item_id", "size"), last=("dt", "max"))
    activity = np.log1p(per_item["count"].to_numpy()) / np.log1p(max(1, per_item["count"].max()))
    age = np.array([(as_of - last).days for last in per_item["last"]], dtype=np.float64) / history_days
    return dict(zip(per_item.index, np.stack([activity, age], axis=1).astype(np.float32)))


def stats_of(items: np.ndarray, stats: Mapping[str, np.ndarray]) -> np.ndarray:
    """(len(items), ITEM_STATS): each item's item_stats row (zeros for an item without)."""
    zero = np.zeros(ITEM_STATS, np.float32)
    return np.stack([stats.get(item, zero) for item in items]) if len(items) else np.zeros((0, ITEM_STATS), np.float32)


def training_examples(rows: pd.DataFrame, categories: Mapping[str, list[str]], stats: Mapping[str, np.ndarray],
                      recent_items: int, max_categories: int) -> dict[str, np.ndarray]:
    """The towers' inputs for every row of in_time_order: the row's item, and the user's items before it."""
    items, users = rows["item_id"].to_numpy(dtype=object), rows["user_id"].to_numpy(dtype=object)
    recent = recent_before(items, np.arange(len(rows)), _first_rows(users), recent_items)
    return {"user_id": users, "recent_items": recent,
            "recent_categories": categories_of(recent, categories, max_categories),
            **catalogue_inputs(items, categories, stats, max_categories)}


def catalogue_inputs(items: np.ndarray, categories: Mapping[str, list[str]], stats: Mapping[str, np.ndarray],
                     max_categories: int) -> dict[str, np.ndarray]:
    """The item tower's inputs for items."""
    return {"item_id": items, "item_categories": categories_of(items.reshape(-1, 1), categories, max_categories),
            "item_stats": stats_of(items, stats)}


def serving_users(rows: pd.DataFrame, categories: Mapping[str, list[str]], recent_items: int,
                  max_categories: int) -> dict[str, np.ndarray]:
    """The user tower's inputs as of D for every user of rows: their last items of [D-N, D-1]."""
    items, users = rows["item_id"].to_numpy(dtype=object), rows["user_id"].to_numpy(dtype=object)
    after_last = np.r_[np.flatnonzero(users[1:] != users[:-1]) + 1, len(users)] if len(users) else np.zeros(0, int)
    first = _first_rows(users)[after_last - 1]
    recent = recent_before(items, after_last, first, recent_items)
    return {"user_id": users[first], "recent_items": recent,
            "recent_categories": categories_of(recent, categories, max_categories)}

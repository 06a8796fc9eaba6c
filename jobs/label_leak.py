"""The leak alarm of build_samples: does one feature alone tell a label of the day apart? By its values, by whether
it is missing, or by being constant within each label. Pure pandas/numpy on a day's rows."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from core.errors import PipelineError
from core.metrics import auc as ranking_auc


class LabelLeakError(PipelineError):
    """A single feature predicts a label of the evaluation day almost perfectly."""


# A missing flag fails a day only when its gap in missing rates between the labels is also this many standard
# errors from zero: on a small day (MovieLens 1997-12-10: 40 ratings) a 53-point gap is 3.4 of them, a chance
# pattern, where the old Taobao negatives' 68-point gap over ~35k rows was ~150.
MISSING_GAP_MIN_Z = 5.0
# Likewise a feature's values fail a day only when their AUC is also this many standard errors (of the AUC of a
# feature unrelated to the label) from 0.5: MovieLens 1997-12-25 has 4 ratings, 1 like, and any feature that happens
# to rank that one rating last has AUC 0 (1.3 standard errors).
VALUE_AUC_MIN_Z = 5.0
# A feature constant within each label is a leak only when each label has this many rows: two rows are always
# "constant within each label".
CONSTANT_CHECK_MIN_ROWS = 20


def check_label_leak(rows: pd.DataFrame, features: Sequence[str], labels: Sequence[str], threshold: float,
                     missing_threshold: float) -> None:
    """Raise LabelLeakError naming the first feature that tells a label apart on its own: by its values (AUC or
    1 - AUC above `threshold`, missing values ranked lowest, and VALUE_AUC_MIN_Z standard errors from 0.5), by
    whether it is missing (the same AUC of its missing flag above `missing_threshold`, with a gap in missing rates of
    at least MISSING_GAP_MIN_Z standard errors), or by being constant within each label (of at least
    CONSTANT_CHECK_MIN_ROWS rows) with different values across them.

    Rows of one user (one item) are not independent draws: a day of few users, one of them new and generous, makes
    "the user has no profile" look like a predictor of a like. So the standard errors and the row count of a user's
    (`user_*`, `cross_*`) or an item's (`item_*`) feature count that entity's distinct ids (`user_id`, `item_id` in
    rows), not rows: z * sqrt(entities / rows), the effective sample size when every entity's rows are alike.

    rows: the feature columns (numbers as floats, anything else as strings, None where missing) and the labels."""
    units = _Units(rows)
    for label in labels:
        y = rows[label].to_numpy(dtype=int)
        for feature in features:
            values = rows[feature]
            key = _entity_key(feature)
            shrink = np.sqrt(units.count(key) / len(y)) if len(y) else 1.0
            if pd.api.types.is_numeric_dtype(values):
                value_auc = ranking_auc(values.to_numpy(dtype=float), y)
                if _auc_z(value_auc, y) * shrink >= VALUE_AUC_MIN_Z:
                    _fail_above(value_auc, threshold, f"feature {feature} predicts {label}")
            missing = values.isna().to_numpy(dtype=float)
            if _gap_z(missing, y) * shrink >= MISSING_GAP_MIN_Z:
                _fail_above(missing_flag_auc(missing, y), missing_threshold,
                            f"whether feature {feature} is missing predicts {label}")
            enough = min(units.count(key, label, 0), units.count(key, label, 1)) >= CONSTANT_CHECK_MIN_ROWS
            constants = _constant_within_each_label(values, y) if enough else None
            if constants is not None and constants[0] != constants[1]:
                raise LabelLeakError(f"feature {feature} is {constants[0]!r} on every row where {label} is 0 and "
                                     f"{constants[1]!r} on every row where it is 1: it leaks the label")


def _entity_key(feature: str) -> str | None:
    """The id column of the entity a feature describes (None: each row is its own unit)."""
    return "item_id" if feature.startswith("item_") else "user_id" if feature.startswith(("user_", "cross_")) else None


class _Units:
    """Independent units among a day's rows (all, or those of one class of a label): the distinct ids of an entity
    where rows has its id column, else the rows. Counted once per entity and class: every feature of that entity
    asks the same question."""

    def __init__(self, rows: pd.DataFrame):
        self.rows = rows
        self.counts: dict[tuple, int] = {}

    def count(self, key: str | None, label: str | None = None, value: int | None = None) -> int:
        if (key, label, value) not in self.counts:
            where = np.ones(len(self.rows), dtype=bool) if label is None else self.rows[label].to_numpy() == value
            ids = self.rows[key].to_numpy() if key in self.rows.columns else None
            self.counts[(key, label, value)] = int(np.sum(where)) if ids is None else len(pd.unique(ids[where]))
        return self.counts[(key, label, value)]


def _constant_within_each_label(values: pd.Series, y: np.ndarray) -> tuple | None:
    """(value on every row where y is 0, value on every row where y is 1), "<missing>" for a missing one; None when
    either class holds more than one value (missing counts as one) or no row."""
    constants = []
    for label in (0, 1):
        part = values[y == label]
        if not len(part) or part.nunique(dropna=False) != 1:
            return None
        first = part.iloc[0]
        constants.append("<missing>" if pd.isna(first) else first.item() if isinstance(first, np.generic) else first)
    return tuple(constants)


def _auc_z(auc: float | None, y: np.ndarray) -> float:
    """|AUC - 0.5| in standard errors of the AUC of a score independent of the labels (Mann-Whitney, no ties):
    sqrt((n0 + n1 + 1) / (12 n0 n1)); 0 without both labels."""
    positives, negatives = int(np.sum(y == 1)), int(np.sum(y == 0))
    if auc is None or not positives or not negatives:
        return 0.0
    return abs(auc - 0.5) / float(np.sqrt((positives + negatives + 1) / (12 * positives * negatives)))


def _gap_z(flags: np.ndarray, y: np.ndarray) -> float:
    """|rate of flags among y = 1 - among y = 0| in standard errors of a two-proportion test (0 without both labels
    or when the flag is constant)."""
    positives, negatives = flags[y == 1], flags[y == 0]
    if not len(positives) or not len(negatives):
        return 0.0
    pooled = flags.mean()
    error = np.sqrt(pooled * (1 - pooled) * (1 / len(positives) + 1 / len(negatives)))
    return float(abs(positives.mean() - negatives.mean()) / error) if error > 0 else 0.0


def _fail_above(auc: float | None, threshold: float, what: str) -> None:
    if auc is not None and max(auc, 1 - auc) > threshold:
        raise LabelLeakError(f"{what} with univariate AUC {auc:.4f} (threshold {threshold}): it very likely leaks "
                             f"the label")


def missing_flag_auc(missing: np.ndarray, y: np.ndarray) -> float | None:
    """The AUC of a feature's missing flag (True where missing) against the labels y; None without both labels."""
    return ranking_auc(missing.astype(float), y)

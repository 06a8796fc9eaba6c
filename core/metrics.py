"""Ranking and calibration metrics on numpy arrays, shared by the sample leak alarm and the model evaluation."""
from __future__ import annotations

import numpy as np
import pandas as pd

EPSILON = 1e-7  # probabilities are clipped to [EPSILON, 1 - EPSILON] inside logloss


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Rank-sum AUC with average ranks for ties; NaN scores rank lowest; None without both classes."""
    labels = np.asarray(labels).astype(int)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    filled = np.where(np.isnan(scores), -np.inf, np.asarray(scores, dtype=float))
    ranks = pd.Series(filled).rank(method="average").to_numpy()
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def logloss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(np.asarray(probabilities, dtype=float), EPSILON, 1 - EPSILON)
    y = np.asarray(labels, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gauc(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float | None:
    """Group AUC (Zhou et al., DIN 2018): per-user AUC weighted by the user's impressions; users with one
    class only are skipped, since an AUC needs both."""
    frame = pd.DataFrame({"score": scores, "label": labels, "group": groups})
    total, weight = 0.0, 0
    for _, rows in frame.groupby("group", sort=False):
        value = auc(rows["score"].to_numpy(), rows["label"].to_numpy())
        if value is not None:
            total += value * len(rows)
            weight += len(rows)
    return total / weight if weight else None


def calibration(probabilities: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean prediction / label rate: 1 is calibrated, above 1 over-predicts."""
    rate = float(np.mean(labels))
    return float(np.mean(probabilities)) / rate if rate > 0 else None


def recalibrate(probabilities: np.ndarray, negative_keep_rate: float) -> np.ndarray:
    """Undo negative downsampling: a model trained with negatives kept at rate w predicts p'; the true-rate
    probability is p' / (p' + (1 - p') / w) (He et al. 2014, section 6.2)."""
    p = np.asarray(probabilities, dtype=float)
    return p / (p + (1 - p) / negative_keep_rate)


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float | None:
    """Population stability index of `actual` against `expected`: sum over bins of (a - e) * ln(a / e).

    Bins are the quantiles of `expected` (so each holds ~1/bins of it) and NaN (missing) is a bin of its own.
    Counts get half a row each (additive smoothing) so an empty bin has a finite log: with a fixed tiny share
    instead, one value in a bin the other day lacks adds ~ln(1e7) and swamps everything (a day of a few hundred
    samples often has such a bin). None when either side is empty. Rule of thumb (Siddiqi 2006): < 0.1 stable,
    0.1-0.25 some shift, > 0.25 a real shift.
    """
    expected, actual = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    if len(expected) == 0 or len(actual) == 0:
        return None
    present = expected[~np.isnan(expected)]
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if len(present) else np.array([])

    def shares(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1)
        counts = np.append(counts, missing.sum()) + 0.5
        return counts / counts.sum()

    e, a = shares(expected), shares(actual)
    return float(np.sum((a - e) * np.log(a / e)))

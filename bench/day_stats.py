"""Statistics of ranker_quality's day records ({"auc", "gauc", ...} per model and day, "conversion_auc" too where
the samples label conversions): means over seeds, the spread over seeds, paired differences over days. Pure Python,
so comparing two runs' results (bench.quality_diff) needs no TensorFlow."""
from __future__ import annotations

import statistics


def paired_difference(reference: list[float], other: list[float]) -> tuple[float, float]:
    """Mean and standard error (sd / sqrt(n)) of other - reference, paired by position (the same day, or the same
    (day, user)); NaN for both with fewer than two pairs."""
    if len(reference) != len(other):
        raise ValueError(f"unpaired lists: {len(reference)} and {len(other)} values")
    differences = [b - a for a, b in zip(reference, other)]
    if len(differences) < 2:
        return float("nan"), float("nan")
    return statistics.fmean(differences), statistics.stdev(differences) / len(differences) ** 0.5


def paired_differences(records: list[dict], against: list[dict]) -> dict:
    """Mean over the days of (model - reference) per metric, with its standard error (sd of the daily differences /
    sqrt(days)): both are scored on the same rows each day, so the day-to-day noise they share cancels."""
    out = {}
    for metric in ("auc", "gauc", "conversion_auc"):
        both = [(b[metric], a[metric]) for a, b in zip(records, against, strict=True)
                if a.get(metric) is not None and b.get(metric) is not None]
        if len(both) > 1:
            mean, error = paired_difference(*map(list, zip(*both)))
            out[metric] = {"mean": mean, "se": error, "days": len(both)}
    return out


def seed_mean(records: list[dict]) -> dict:
    """One day's record of a model trained once per seed: each metric's mean over the seeds that have it."""
    metrics = ("auc", "gauc", "logloss", "conversion_auc", "train_seconds")
    return {metric: mean_present(r.get(metric) for r in records) for metric in metrics} | {"rows": records[0]["rows"]}


def seed_spread(by_seed: dict[int, list[dict]]) -> dict:
    """Per metric, the standard deviation over seeds of a seed's mean over the days (0 with one seed): how far a
    single-seed figure can be from another seed's on the same days."""
    means = {metric: [mean_present(r[metric] for r in records) for records in by_seed.values()]
             for metric in ("auc", "gauc")}
    return {metric: statistics.stdev(values) if len(values) > 1 and None not in values else 0.0
            for metric, values in means.items()}


def mean_present(values) -> float | None:
    """The mean of the values that are not None (None when none is)."""
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None

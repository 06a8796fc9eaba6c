"""The run report's data: lake tables read through `deltalake` (no JVM), and the pure frames its sections show."""
from __future__ import annotations

import datetime as dt
import json
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core.config_schema import PipelineConfig
from core.delta_arrow import delta_dataset, is_delta_table
from core.metrics import psi


def read_table(path: str, columns: Sequence[str] | None = None, day_column: str | None = None,
               first: dt.date | None = None, last: dt.date | None = None) -> pd.DataFrame | None:
    """The rows of a Delta table (partitions day_column in [first, last] when given); None when no table is there."""
    import pyarrow.dataset as pads

    if not is_delta_table(path):
        return None
    dataset = delta_dataset(path)
    wanted = [c for c in columns if c in dataset.schema.names] if columns is not None else None
    where = None
    if day_column is not None:
        where = (pads.field(day_column) >= first) & (pads.field(day_column) <= last)
    return dataset.to_table(columns=wanted, filter=where).to_pandas()


def read_day_counts(path: str, day_column: str, first: dt.date, last: dt.date,
                    by: Sequence[str] = ()) -> pd.DataFrame | None:
    """Rows per day (and per `by` columns) of a Delta table in [first, last]; None when no table is there."""
    frame = read_table(path, [day_column, *by], day_column, first, last)
    if frame is None:
        return None
    return frame.groupby([day_column, *by]).size().rename("rows").reset_index()


# ---------------------------------------------------------------- pure figures

def daily_volumes(days: Sequence[dt.date], events: pd.DataFrame | None, quarantine: pd.DataFrame | None,
                  samples: pd.DataFrame | None) -> pd.DataFrame:
    """One row per day: events written, rows quarantined (total and `reason=count, ...`), samples.

    `events`/`samples` hold (dt, rows), `quarantine` (dt, reason, rows); a missing table gives NaN, a day absent
    from a present table 0."""
    table = pd.DataFrame({"dt": list(days)})
    for name, counts in (("events", events), ("samples", samples)):
        per_day = {} if counts is None else dict(zip(counts["dt"], counts["rows"]))
        table[name] = [per_day.get(day, 0) if counts is not None else np.nan for day in days]
    totals, reasons = {}, {}
    if quarantine is not None:
        for day, rows in quarantine.groupby("dt"):
            totals[day] = int(rows["rows"].sum())
            reasons[day] = ", ".join(f"{r}={n}" for r, n in sorted(zip(rows["reason"], rows["rows"])))
    table["quarantined"] = [totals.get(day, 0) if quarantine is not None else np.nan for day in days]
    table["quarantine_reasons"] = [reasons.get(day, "") for day in days]
    return table


def label_rates(samples: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Per day: rows and the mean of each label column (a label missing from the table is left out)."""
    present = [label for label in labels if label in samples.columns]
    grouped = samples.groupby("dt")
    rates = grouped[present].mean() if present else pd.DataFrame(index=grouped.size().index)
    return rates.assign(rows=grouped.size()).reset_index()[["dt", "rows", *present]]


def feature_drifts(previous: Mapping[str, np.ndarray], current: Mapping[str, np.ndarray],
                   bins: int) -> list[tuple[str, float]]:
    """PSI of each feature's values on D (current) against D-1 (previous), the largest first; features that
    cannot be measured (a side without rows) are left out."""
    drifts = []
    for name in sorted(current.keys() & previous.keys()):
        value = psi(previous[name], current[name], bins)
        if value is not None:
            drifts.append((name, value))
    return sorted(drifts, key=lambda item: (-item[1], item[0]))


def recall_series(metrics: pd.DataFrame, metric: str = "recall") -> dict[int, pd.DataFrame]:
    """K -> a frame indexed by as_of with one column per source, of `metric`."""
    return {int(k): rows.pivot_table(index="as_of", columns="source", values=metric).sort_index()
            for k, rows in metrics.groupby("k")}


def model_series(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A frame indexed by ds with one column per model, of `metric` (days without the model are NaN)."""
    return metrics.pivot_table(index="ds", columns="model", values=metric).sort_index()


def gate_thresholds(cfg: PipelineConfig) -> dict[str, list[tuple[str, float]]]:
    """Metric -> the gate's bounds on it, as (label, value) lines to draw."""
    model = cfg.gate.model
    return {"auc": [(f"min_auc {model.min_auc:g}", model.min_auc)],
            "logloss": [(f"max_logloss {model.max_logloss:g}", model.max_logloss)],
            "gauc": [],
            "calibration": [(f"calibration min {model.calibration[0]:g}", model.calibration[0]),
                            (f"calibration max {model.calibration[1]:g}", model.calibration[1])]}


def failed_checks(checks: str | None) -> list[str]:
    """`name = value (threshold)` of every failed check of a registry row's JSON list."""
    failed = []
    for check in json.loads(checks) if checks else []:
        if not check.get("passed", True):
            value = "none" if check.get("value") is None else f"{check['value']:.4g}"
            failed.append(f"{check['check']} = {value} ({check.get('threshold', '')})")
    return failed


def gate_decisions(registry: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The registry's decisions on days in [first, last], in decision order."""
    in_range = registry[(registry["ds"] >= first.isoformat()) & (registry["ds"] <= last.isoformat())]
    return in_range.sort_values(["decided_at", "model"]).reset_index(drop=True)


def blessed_versions(registry: pd.DataFrame, last: dt.date) -> pd.DataFrame:
    """Per model, after its latest decision on a day up to `last`: the blessed version, that decision's day and
    time and whether it passed, and how many versions were published so far."""
    known = registry[registry["ds"] <= last.isoformat()].sort_values("decided_at")
    rows = []
    for model, decisions in known.groupby("model"):
        latest = decisions.iloc[-1]
        rows.append({"model": model, "blessed_version": _int_or_none(latest["blessed_version"]),
                     "ds": latest["ds"], "decided_at": latest["decided_at"], "last_passed": bool(latest["passed"]),
                     "published": int(decisions["version"].notna().sum())})
    columns = ["model", "blessed_version", "ds", "decided_at", "last_passed", "published"]
    return pd.DataFrame(rows, columns=columns).astype({"blessed_version": "Int64"})


def scaling_points(result: Mapping) -> list[tuple[int, float]]:
    """(events, seconds per million events) of a bench/scaling result, by size."""
    return sorted((int(size["events"]), float(size["seconds_per_million_events"])) for size in result["sizes"])


def _int_or_none(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)

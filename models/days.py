"""The days a model of day D fits on, early-stops on and is judged on: one rule for training, the gate (its drift
reference is the early-stopping day) and the report's drift section. Kept free of TensorFlow for the report."""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TrainingDays:
    fit_first: dt.date
    fit_last: dt.date  # the day before validation
    validation: dt.date  # early stopping: D-1, or the latest earlier day with samples
    evaluation: dt.date  # D

    @classmethod
    def as_of(cls, ds: dt.date, train_days: int | Literal["all"], days_with_samples: Collection[dt.date] = (),
              label_lag: int = 0) -> "TrainingDays":
        """Fit on [D-M, V-1], early-stop on V, evaluate on D. V is L = D-1-W, the last day whose labels are all known
        before D (W = label_lag, the samples' attribution days: the labels of day d need the events up to d+W),
        unless L has no samples (an empty day of a dump) while an earlier day of the M has: then V is the latest
        such day, since early stopping on no rows has nothing to monitor. M = "all": from the first day with samples
        on."""
        last_known = ds - dt.timedelta(days=1 + label_lag)
        if train_days == "all":
            first = min((day for day in days_with_samples if day < ds), default=last_known - dt.timedelta(days=1))
        else:
            first = ds - dt.timedelta(days=train_days)
        earlier = [day for day in days_with_samples if first < day <= last_known]
        validation = max(earlier, default=last_known)
        return cls(first, validation - dt.timedelta(days=1), validation, ds)

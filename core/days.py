"""Ranges of days."""
from __future__ import annotations

import datetime as dt


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both included."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def days_before(as_of: dt.date, days: int) -> tuple[dt.date, dt.date]:
    """[D-days, D-1]: the `days` days before as_of, both ends included (what a job as of D may learn from)."""
    return as_of - dt.timedelta(days=days), as_of - dt.timedelta(days=1)

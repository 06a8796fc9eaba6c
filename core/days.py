"""Ranges of days."""
from __future__ import annotations

import datetime as dt


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both included."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]

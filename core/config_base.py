"""What every section of the config schema is built from: a frozen, strict pydantic model, and an inclusive range of
days (the dataset's window, the run range)."""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, model_validator

from core.days import date_range


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class DayRange(Frozen):
    """An inclusive range of days."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> "DayRange":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def days(self) -> list[dt.date]:
        return date_range(self.start, self.end)

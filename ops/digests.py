"""Fingerprints of one day's rows in every Delta table of a lake, to prove two runs wrote the same partitions."""
from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path

DAY_COLUMNS = ("dt", "as_of", "ds")  # how a table names the day a row belongs to


def lake_tables(lake: Path, day_columns: tuple[str, ...] = DAY_COLUMNS) -> list[tuple[str, str, str | None]]:
    """(name, path, day partition column or None) of every Delta table under the lake, by name.

    The partition, not any day-like column: gbdt_leaves as of D also holds leaves of the days before D."""
    from core.delta_arrow import partition_columns

    tables = []
    for log in sorted(lake.rglob("_delta_log")):
        path = str(log.parent)
        partitions = partition_columns(path)
        day_column = next((c for c in day_columns if c in partitions), None)
        tables.append((str(log.parent.relative_to(lake)), path, day_column))
    return tables


def day_rows(lake: Path, table: str, ds: dt.date) -> list[dict]:
    """The rows of ds's partition of one table (the whole table when it is not partitioned by day)."""
    return next(_partition_rows(path, column, ds) for name, path, column in lake_tables(lake) if name == table)


def day_digests(lake: Path, ds: dt.date, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """table -> (rows of ds's partition, sha256 of those rows sorted); tables not partitioned by day are taken whole.
    Every value is compared exactly, floats included."""
    digests = {}
    for name, path, column in lake_tables(lake):
        if name in skip:
            continue
        lines = sorted(repr(sorted(row.items())) for row in _partition_rows(path, column, ds))
        digests[name] = (len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest())
    return digests


def _partition_rows(path: str, column: str | None, ds: dt.date) -> list[dict]:
    from core.delta_arrow import day_partition, delta_dataset  # read without a JVM

    return (day_partition(path, column, ds) if column else delta_dataset(path).to_table()).to_pylist()


def float_deviation(rows: list[dict], other: list[dict]) -> float | None:
    """The largest relative difference between the float values of two row lists that are equal in everything else
    (rows matched by their non-float values; NaN equals NaN); None when they differ in anything but float values."""
    if len(rows) != len(other):
        return None

    def by_exact_values(row: dict) -> str:  # the floats may differ, so they cannot order the rows
        return repr(sorted((key, value) for key, value in row.items() if not isinstance(value, float)))

    largest = 0.0
    for row, other_row in zip(sorted(rows, key=by_exact_values), sorted(other, key=by_exact_values)):
        if row.keys() != other_row.keys():
            return None
        for key, value in row.items():
            twin = other_row[key]
            if isinstance(value, float) and isinstance(twin, float):
                if math.isnan(value) or math.isnan(twin):
                    if not (math.isnan(value) and math.isnan(twin)):
                        return None
                    continue
                largest = max(largest, abs(value - twin) / max(abs(value), abs(twin), 1e-300))
            elif value != twin:
                return None
    return largest

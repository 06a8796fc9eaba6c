"""Fingerprints of one day's rows in every Delta table of a lake, to prove two runs wrote the same partitions."""
from __future__ import annotations

import datetime as dt
import hashlib
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


def day_digests(lake: Path, ds: dt.date, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """table -> (rows of ds's partition, sha256 of those rows sorted); tables not partitioned by day are taken whole.
    Read through core.delta_arrow (no JVM); every value is compared exactly, floats included."""
    from core.delta_arrow import delta_dataset

    digests = {}
    for name, path, column in lake_tables(lake):
        if name in skip:
            continue
        rows = delta_dataset(path).to_table().to_pylist()
        if column:
            rows = [row for row in rows if str(row[column]) == str(ds)]
        lines = sorted(repr(sorted(row.items())) for row in rows)
        digests[name] = (len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest())
    return digests

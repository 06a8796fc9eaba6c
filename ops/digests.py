"""Fingerprints of one day's rows in every Delta table of a lake, to prove two runs wrote the same partitions."""
from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

DAY_COLUMNS = ("dt", "as_of", "ds")  # how a table names the day a row belongs to


def day_digests(lake: Path, ds: dt.date, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """table -> (rows of ds's partition, sha256 of those rows sorted); tables not partitioned by day are taken whole.
    Read through core.delta_arrow (no JVM); every value is compared exactly, floats included."""
    from core.delta_arrow import delta_dataset, partition_columns

    digests = {}
    for log in sorted(lake.rglob("_delta_log")):
        name = str(log.parent.relative_to(lake))
        if name in skip:
            continue
        rows = delta_dataset(str(log.parent)).to_table().to_pylist()
        # The partition, not any day-like column: gbdt_leaves as of D also holds leaves of the days before D.
        column = next((c for c in DAY_COLUMNS if c in partition_columns(str(log.parent))), None)
        if column:
            rows = [row for row in rows if str(row[column]) == str(ds)]
        lines = sorted(repr(sorted(row.items())) for row in rows)
        digests[name] = (len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest())
    return digests

"""Delta tables read without a JVM (deltalake -> pyarrow dataset): the TF process, the report and the ops tools.

The one way this project reads Delta outside Spark; every such reader goes through `delta_dataset`. Small records
(a day's ingest counts, a model's day metrics) are written here too (`replace_rows`): a one-row write through Spark
costs seconds of jobs and commit checks, through deltalake milliseconds.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

COMMIT_ATTEMPTS = 8  # three writers side by side settle within a few; more means something else is wrong


def delta_dataset(path: str, version: int | None = None) -> pads.Dataset:
    """The table at `path` (at `version`, else the latest) as a pyarrow dataset: lazy, filterable, one snapshot."""
    from deltalake import DeltaTable

    return DeltaTable(path, version=version).to_pyarrow_dataset(filesystem=_local_filesystem(path))


def replace_rows(path: str, rows: pa.Table, where: Mapping[str, object], partition_by: Sequence[str]) -> None:
    """Replace the table's rows with `column = value` (`column IN values` for a list) for every item of `where` by
    `rows` (which must match it); the first write creates the table, partitioned by `partition_by`. New columns of
    `rows` are added to the schema."""
    from deltalake import write_deltalake

    def literal(value: object) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    predicate = " AND ".join(
        f"{column} IN ({', '.join(map(literal, value))})" if isinstance(value, (list, tuple, set))
        else f"{column} = {literal(value)}" for column, value in where.items())

    def write() -> None:
        # Decided again on each attempt: a writer that lost the race to create the table (the DAG's models write
        # ranker_metrics side by side on a new lake) replaces its rows in the table the other created.
        if is_delta_table(path):
            write_deltalake(path, rows, mode="overwrite", schema_mode="merge", predicate=predicate)
        else:
            write_deltalake(path, rows, mode="append", partition_by=list(partition_by))

    committed(write)


# What delta-rs says when another writer committed first: the write is whole again on the newer table. Any other
# CommitFailedError (an I/O error, a feature the table needs) is raised at once: after an I/O error the commit may
# have landed, and an append made again would be there twice.
LOST_TO_ANOTHER_WRITER = ("changed since last commit", "already exists", "Concurrent")


def committed(write: Callable[[], None], attempts: int = COMMIT_ATTEMPTS) -> None:
    """Run a deltalake write; when its commit lost to a concurrent writer's (Delta's optimistic concurrency: writers
    that merge the schema change the table's metadata with every commit, so two side by side conflict with "Metadata
    changed since last commit"), run it again on the newer table after a short random pause, up to `attempts`
    times. A lost commit added nothing to the log, so each attempt is the whole write."""
    from deltalake.exceptions import CommitFailedError

    for attempt in range(1, attempts + 1):
        try:
            write()
            return
        except CommitFailedError as err:
            if attempt == attempts or not any(sign in str(err) for sign in LOST_TO_ANOTHER_WRITER):
                raise
            time.sleep(random.uniform(0.02, 0.1) * attempt)  # apart, so that the same writers do not collide again


def partition_columns(path: str) -> list[str]:
    from deltalake import DeltaTable

    return list(DeltaTable(path).metadata().partition_columns)


def is_delta_table(path: str) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(path)


def partition_days(path: str, column: str, version: int | None = None) -> set[dt.date]:
    """The days of partition `column` the table holds (at `version`), from its log: no data file is opened."""
    from deltalake import DeltaTable

    return {dt.date.fromisoformat(str(part[column])) for part in DeltaTable(path, version=version).partitions()}


def day_partition(path: str, column: str, ds: dt.date, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of day ds's partition (`column`, a date or an ISO string) of the table at `path`; only it is read."""
    dataset = delta_dataset(path)
    value = ds if pa.types.is_date(dataset.schema.field(column).type) else ds.isoformat()
    return dataset.to_table(columns=columns, filter=pads.field(column) == value)


def rows_between(path: str, column: str, first: dt.date, last: dt.date) -> int:
    """Rows of the table whose partition `column` is in [first, last] (0 without a table); only those are read."""
    if not is_delta_table(path):
        return 0
    return delta_dataset(path).count_rows(filter=(pads.field(column) >= first) & (pads.field(column) <= last))


def rows_in_days(path: str, column: str, days: Sequence[dt.date]) -> int:
    """Rows of the table whose partition `column` is one of `days` (0 without a table); only those are read."""
    if not is_delta_table(path):
        return 0
    return delta_dataset(path).count_rows(filter=pads.field(column).isin(sorted(set(days))))


def _local_filesystem(path: str) -> pafs.FileSystem | None:
    """pyarrow's own filesystem rooted at a local table; None (deltalake's default) for remote storage.

    deltalake's default wraps its Rust object store in a pyarrow PyFileSystem, and a process that read through it
    aborts at exit now and then ("terminate called without an active exception", exit 134; deltalake 1.6.6),
    which failed `make run` after a green DAG run. Local files read through pyarrow's filesystem do not.
    """
    parsed = urlparse(path)
    if parsed.scheme not in ("", "file"):
        return None
    return pafs.SubTreeFileSystem(os.path.abspath(parsed.path if parsed.scheme else path), pafs.LocalFileSystem())

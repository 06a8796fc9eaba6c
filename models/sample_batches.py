"""Arrow record batches of one pinned Delta version of `samples`: the days of a range in file order, or shuffled
across the days with memory bounded by a buffer (`Shuffle`)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads

from core.delta_arrow import delta_dataset
from core.errors import PipelineError


@dataclass(frozen=True)
class Snapshot:
    """A Delta table at one version: what a training run read, recorded with its metrics."""

    path: str
    version: int

    def dataset(self) -> pads.Dataset:
        return delta_dataset(self.path, self.version)


def latest_snapshot(path: str) -> Snapshot:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return Snapshot(path, DeltaTable(path).version())
    except TableNotFoundError:
        raise PipelineError(f"no Delta table at {path}; run build_samples first") from None


def _day_files(snapshot: Snapshot, first_day: dt.date, last_day: dt.date) -> tuple[pads.Dataset, list, pads.Expression]:
    """The table, its files holding days in [first_day, last_day] in path order, and the filter of those days."""
    in_range = (pads.field("dt") >= first_day) & (pads.field("dt") <= last_day)
    table = snapshot.dataset()
    return table, sorted(table.get_fragments(filter=in_range), key=lambda fragment: fragment.path), in_range


def record_batches(snapshot: Snapshot, first_day: dt.date, last_day: dt.date, columns: Sequence[str],
                   batch_size: int) -> Iterator[pa.RecordBatch]:
    """The rows of partitions dt in [first_day, last_day], `batch_size` rows at a time (the last may be smaller),
    file by file in path order: day by day, then Spark's part number.

    The Delta log lists a commit's files in the order the writer finished them, which varies from write to write;
    a seeded training run must see the rows in one order to train the same weights.
    """
    table, files, in_range = _day_files(snapshot, first_day, last_day)
    in_order = pads.FileSystemDataset(files, table.schema, table.format, table.filesystem)
    scanner = in_order.scanner(columns=list(columns), filter=in_range, batch_size=batch_size)
    for batch in scanner.to_batches():
        if batch.num_rows:
            yield batch


@dataclass(frozen=True)
class Shuffle:
    """How training rows are mixed: the files of every day in a seeded random order, `open_files` of them read in
    turn a chunk at a time into a buffer of `buffer_rows`, and batches drawn at random from the buffer.

    Memory follows the buffer and the open files, not the data; days that fit in the buffer are shuffled whole.
    """

    buffer_rows: int = 1 << 18
    open_files: int = 16
    chunk_rows: int = 4096


def shuffled_record_batches(snapshot: Snapshot, first_day: dt.date, last_day: dt.date, columns: Sequence[str],
                            batch_size: int, rng: np.random.Generator, shuffle: Shuffle = Shuffle(),
                            keep: Callable[[pa.RecordBatch], np.ndarray] | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of the days in [first_day, last_day] in an order drawn from `rng`, `batch_size` at a time (the last
    may be smaller). Rows that `keep` rejects (negative downsampling) are dropped before the buffer: batches stay full.
    """
    table, files, in_range = _day_files(snapshot, first_day, last_day)
    waiting = [files[i] for i in rng.permutation(len(files))]
    readers: list[Iterator[pa.RecordBatch]] = []
    buffer: list[pa.RecordBatch] = []
    buffered = 0
    capacity = max(shuffle.buffer_rows, 2 * batch_size)
    while waiting or readers:
        while waiting and len(readers) < shuffle.open_files:
            readers.append(iter(waiting.pop().to_batches(schema=table.schema, columns=list(columns), filter=in_range,
                                                         batch_size=shuffle.chunk_rows)))
        for reader in list(readers):
            chunk = next(reader, None)
            if chunk is None:
                readers.remove(reader)
                continue
            if keep is not None:
                chunk = chunk.filter(pa.array(keep(chunk)))
            if chunk.num_rows:
                buffer.append(chunk)
                buffered += chunk.num_rows
        if buffered >= capacity:
            # Half the buffer leaves in random batches; the other half stays to mix with the rows read next.
            rows = _permuted(buffer, rng)
            out = (buffered // 2) // batch_size * batch_size
            yield from rows.slice(0, out).to_batches(max_chunksize=batch_size)
            buffer, buffered = rows.slice(out).to_batches(), buffered - out
    if buffered:
        yield from _permuted(buffer, rng).to_batches(max_chunksize=batch_size)


def _permuted(batches: list[pa.RecordBatch], rng: np.random.Generator) -> pa.Table:
    rows = pa.Table.from_batches(batches)
    return rows.take(pa.array(rng.permutation(rows.num_rows))).combine_chunks()

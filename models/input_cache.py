"""The id model's inputs of one pass over the training days, kept in memory when they fit, so that later epochs
skip reading Parquet, decoding and hashing (models.inputs.TrainingInput.dataset).

On 2 cores the input's CPU time comes straight out of the training step's: a streamed pass costs ~3 µs a row
(bench.training_speed), a pass from memory a permutation and a copy. Memory is bounded by the limit, not by the
data: a pass whose arrays outgrow it is dropped as it goes, and every epoch streams as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

Arrays = dict[str, np.ndarray]


class PassCache:
    """The (features, labels) arrays of a whole pass, kept while their bytes stay within `limit_bytes`.

    Kept packed: the columns of one dtype side by side in one (rows, width) array, so that a permuted chunk is one
    row gather per dtype rather than one per column (a row of a block is contiguous; ~40 column gathers each jump
    across memory for every row).

    The cache never shares memory with what it hands out or is handed: tf.data wraps a generator's aligned numpy
    arrays without copying and then owns that memory, so an op may write its result into it (buffer forwarding). A
    cached array that TF had been given changed under the cache, and later epochs read other values than the first.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._parts: list[tuple[Arrays, Arrays]] = []
        self._bytes = 0
        self._overflowed = limit_bytes <= 0
        self._blocks: dict[np.dtype, np.ndarray] | None = None  # set once a pass ended within the limit
        self._layout: list[_Place] = []

    @property
    def full(self) -> bool:
        """A whole pass is kept: batches() can serve the next ones."""
        return self._blocks is not None

    def start(self) -> None:
        """A new pass streams: whatever a pass left unfinished is dropped."""
        self._parts, self._bytes = [], 0

    def add(self, x: Arrays, y: Arrays) -> None:
        if self._overflowed:
            return
        self._bytes += sum(v.nbytes for v in (*x.values(), *y.values()))
        if self._bytes > self.limit_bytes:
            self._overflowed, self._parts = True, []
            return
        self._parts.append(({name: v.copy() for name, v in x.items()}, {name: v.copy() for name, v in y.items()}))

    def finish(self) -> None:
        """The pass ended: its parts are packed into one block per dtype, a part at a time, each freed once packed
        (the blocks' pages are taken as their rows are written, so memory peaks at the pass plus one part rather
        than twice the pass)."""
        if self._overflowed or not self._parts:
            return
        parts, self._parts, self._layout = self._parts, [], []
        count = sum(len(next(iter(y.values()))) for _, y in parts)
        widths: dict[np.dtype, int] = {}
        for side in (0, 1):
            for name, v in parts[0][side].items():
                width = int(np.prod(v.shape[1:], dtype=np.int64))
                start = widths.get(v.dtype, 0)
                self._layout.append(_Place(side, name, v.dtype, start, start + width, v.shape[1:]))
                widths[v.dtype] = start + width
        blocks = {dtype: np.empty((count, width), dtype) for dtype, width in widths.items()}
        row = 0
        for i, part in enumerate(parts):
            rows = len(next(iter(part[1].values())))
            for place in self._layout:
                values = part[place.side][place.name]
                blocks[place.dtype][row:row + rows, place.start:place.stop] = values.reshape(rows, -1)
            parts[i] = part = None  # this part is packed: free it now
            row += rows
        self._blocks = blocks

    @property
    def rows(self) -> tuple[Arrays, Arrays] | None:
        """The kept pass as (features, labels) columns: views of the blocks, to read only; None unless full."""
        return None if self._blocks is None else self._columns(self._blocks)

    def batches(self, rng: np.random.Generator | None, chunk_rows: int) -> Iterator[tuple[Arrays, Arrays]]:
        """Copies of the kept rows, `chunk_rows` at a time: in the order they were read (rng None), or in a permutation
        of all of them drawn from rng."""
        count = len(next(iter(self._blocks.values())))
        order = rng.permutation(count) if rng is not None else np.arange(count)
        for start in range(0, count, chunk_rows):
            rows = order[start:start + chunk_rows]  # an index array: numpy copies the rows it picks
            x, y = self._columns({dtype: block[rows] for dtype, block in self._blocks.items()})
            # Each column its own contiguous array, as tf.data takes them (a column of a block is strided).
            yield ({name: np.ascontiguousarray(v) for name, v in x.items()},
                   {name: np.ascontiguousarray(v) for name, v in y.items()})

    def _columns(self, blocks: dict[np.dtype, np.ndarray]) -> tuple[Arrays, Arrays]:
        columns: tuple[Arrays, Arrays] = ({}, {})
        for place in self._layout:
            block = blocks[place.dtype]
            columns[place.side][place.name] = block[:, place.start:place.stop].reshape(len(block), *place.shape)
        return columns


@dataclass(frozen=True)
class _Place:
    """Where a column lives in the packed blocks: features (0) or labels (1), its dtype's block, its columns there
    and its shape per row."""

    side: int
    name: str
    dtype: np.dtype
    start: int
    stop: int
    shape: tuple[int, ...]

"""The id model's inputs packed for tf.data, and one pass of them kept in memory when it fits, so that later epochs
skip reading Parquet, decoding and hashing (models.inputs.TrainingInput.dataset).

On 2 cores the input's CPU time comes straight out of the training step's. Packed, a chunk crosses from Python into
tf.data as one array per dtype instead of one per feature (~40), and a pass from memory is one row gather per dtype
and chunk; tf.data cuts the chunk into batches and the blocks into columns in C++ (Packing.unpack). Memory is bounded
by the limit, not by the data: a pass whose arrays outgrow it is dropped as it goes, and every epoch streams.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np
import tensorflow as tf

Arrays = dict[str, np.ndarray]
Blocks = dict[str, np.ndarray]  # dtype name -> (rows, width): the columns of that dtype side by side


class Packing:
    """Where each column of (features, labels) sits in the blocks: one (rows, width) block per dtype, its columns side
    by side in the signature's order. A row of a block is contiguous, so a permuted chunk is one row gather per dtype
    rather than one per column (~40 column gathers each jump across memory for every row)."""

    def __init__(self, signature: tuple[Mapping[str, tf.TensorSpec], Mapping[str, tf.TensorSpec]]) -> None:
        self.places: list[_Place] = []
        widths: dict[str, int] = {}
        for side, specs in enumerate(signature):
            for name, spec in specs.items():
                shape = tuple(int(d) for d in spec.shape[1:])
                dtype = spec.dtype.name
                start = widths.get(dtype, 0)
                self.places.append(_Place(side, name, dtype, start, start + int(np.prod(shape, dtype=np.int64)), shape))
                widths[dtype] = self.places[-1].stop
        self.block_spec = {dtype: tf.TensorSpec((None, width), tf.as_dtype(dtype)) for dtype, width in widths.items()}

    def pack(self, x: Arrays, y: Arrays) -> Blocks:
        """New blocks holding the columns' values (they share no memory with x or y)."""
        rows = len(next(iter(y.values())))
        blocks = {dtype: np.empty((rows, spec.shape[1]), dtype) for dtype, spec in self.block_spec.items()}
        for place in self.places:
            blocks[place.dtype][:, place.start:place.stop] = (x, y)[place.side][place.name].reshape(rows, -1)
        return blocks

    def unpack(self, blocks: Mapping[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """The (features, labels) tensors of blocks: tf.data's side of pack."""
        columns: tuple[dict, dict] = ({}, {})
        for place in self.places:
            columns[place.side][place.name] = tf.reshape(blocks[place.dtype][:, place.start:place.stop],
                                                         (-1, *place.shape))
        return columns

    def columns(self, blocks: Blocks) -> tuple[Arrays, Arrays]:
        """The (features, labels) of numpy blocks, as views of them."""
        columns: tuple[Arrays, Arrays] = ({}, {})
        for place in self.places:
            block = blocks[place.dtype]
            columns[place.side][place.name] = block[:, place.start:place.stop].reshape(len(block), *place.shape)
        return columns


class PassCache:
    """The packed blocks of a whole pass, kept while their bytes stay within `limit_bytes`.

    The cache never shares memory with what it hands out or is handed: tf.data wraps a generator's aligned numpy
    arrays without copying and then owns that memory, so an op may write its result into it (buffer forwarding). A
    cached array that TF had been given changed under the cache, and later epochs read other values than the first.
    """

    def __init__(self, packing: Packing, limit_bytes: int) -> None:
        self.packing = packing
        self.limit_bytes = limit_bytes
        self._parts: list[Blocks] = []
        self._bytes = 0
        self._overflowed = limit_bytes <= 0
        self._blocks: Blocks | None = None  # set once a pass ended within the limit

    @property
    def full(self) -> bool:
        """A whole pass is kept: batches() can serve the next ones."""
        return self._blocks is not None

    def start(self) -> None:
        """A new pass streams: whatever a pass left unfinished is dropped."""
        self._parts, self._bytes = [], 0

    def add(self, blocks: Blocks) -> None:
        if self._overflowed:
            return
        self._bytes += sum(v.nbytes for v in blocks.values())
        if self._bytes > self.limit_bytes:
            self._overflowed, self._parts = True, []
            return
        self._parts.append({dtype: v.copy() for dtype, v in blocks.items()})

    def finish(self) -> None:
        """The pass ended: its parts are joined into one block per dtype, a part at a time, each freed once copied
        (the blocks' pages are taken as their rows are written, so memory peaks at the pass plus one part rather
        than twice the pass)."""
        if self._overflowed or not self._parts:
            return
        parts, self._parts = self._parts, []
        count = sum(len(next(iter(part.values()))) for part in parts)
        blocks = {dtype: np.empty((count, spec.shape[1]), dtype) for dtype, spec in self.packing.block_spec.items()}
        row = 0
        for i, part in enumerate(parts):
            rows = len(next(iter(part.values())))
            for dtype, block in part.items():
                blocks[dtype][row:row + rows] = block
            parts[i] = part = None  # this part is copied: free it now
            row += rows
        self._blocks = blocks

    @property
    def rows(self) -> tuple[Arrays, Arrays] | None:
        """The kept pass as (features, labels) columns: views of the blocks, to read only; None unless full."""
        return None if self._blocks is None else self.packing.columns(self._blocks)

    def batches(self, rng: np.random.Generator | None, chunk_rows: int) -> Iterator[Blocks]:
        """Copies of the kept rows' blocks, `chunk_rows` rows at a time: in the order they were read (rng None), or in
        a permutation of all of them drawn from rng."""
        count = len(next(iter(self._blocks.values())))
        order = rng.permutation(count) if rng is not None else np.arange(count)
        for start in range(0, count, chunk_rows):
            rows = order[start:start + chunk_rows]  # an index array: numpy copies the rows it picks
            yield {dtype: block[rows] for dtype, block in self._blocks.items()}


@dataclass(frozen=True)
class _Place:
    """Where a column lives in the packed blocks: features (0) or labels (1), its dtype's block, its columns there
    and its shape per row."""

    side: int
    name: str
    dtype: str
    start: int
    stop: int
    shape: tuple[int, ...]

"""The id model's inputs of one pass over the training days, kept in memory when they fit, so that later epochs
skip reading Parquet, decoding and hashing (models.inputs.TrainingInput.dataset).

On 2 cores the input's CPU time comes straight out of the training step's: a streamed pass costs ~3 µs a row
(bench.training_speed), a pass from memory a permutation and a copy. Memory is bounded by the limit, not by the
data: a pass whose arrays outgrow it is dropped as it goes, and every epoch streams as before.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

Arrays = dict[str, np.ndarray]


class PassCache:
    """The (features, labels) arrays of a whole pass, kept while their bytes stay within `limit_bytes`.

    The cache never shares memory with what it hands out or is handed: tf.data wraps a generator's aligned numpy
    arrays without copying and then owns that memory, so an op may write its result into it (buffer forwarding). A
    cached array that TF had been given changed under the cache, and later epochs read other values than the first.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self._parts: list[tuple[Arrays, Arrays]] = []
        self._bytes = 0
        self._overflowed = limit_bytes <= 0
        self.rows: tuple[Arrays, Arrays] | None = None  # set once a pass ended within the limit

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
        """The pass ended: its parts become one array per column (one column at a time, so memory peaks at the
        parts plus one column rather than twice the pass)."""
        if self._overflowed or not self._parts:
            return
        parts, self._parts = self._parts, []
        self.rows = ({name: _joined(parts, 0, name) for name in list(parts[0][0])},
                     {name: _joined(parts, 1, name) for name in list(parts[0][1])})

    def batches(self, rng: np.random.Generator | None, chunk_rows: int) -> Iterator[tuple[Arrays, Arrays]]:
        """Copies of the kept rows, `chunk_rows` at a time: in the order they were read (rng None), or in a permutation
        of all of them drawn from rng."""
        x, y = self.rows
        count = len(next(iter(y.values())))
        order = rng.permutation(count) if rng is not None else np.arange(count)
        for start in range(0, count, chunk_rows):
            rows = order[start:start + chunk_rows]  # an index array: numpy copies the rows it picks
            yield {name: v[rows] for name, v in x.items()}, {name: v[rows] for name, v in y.items()}


def _joined(parts: list[tuple[Arrays, Arrays]], side: int, name: str) -> np.ndarray:
    joined = np.concatenate([part[side][name] for part in parts])
    for part in parts:
        del part[side][name]
    return joined

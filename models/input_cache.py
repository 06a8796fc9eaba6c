"""The id model's inputs packed for tf.data, and one pass of them kept in memory when it fits, so that later epochs
skip reading Parquet, decoding and hashing (models.inputs.TrainingInput.dataset).

On 2 cores the input's CPU time comes straight out of the training step's. Packed, the features cross from Python
into tf.data as one array per dtype instead of one per feature (~40), tf.data only cuts them into batches, and the
trained model takes the packed arrays and cuts them into its features inside its step (Packing.model_on_blocks): a
batch then costs tf.data one slice per dtype and label instead of one per feature, and a pass from memory is one row
gather per dtype. Memory is bounded by the limit, not by the data: a pass whose arrays outgrow it is dropped as it
goes, and every epoch streams.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

import keras
import numpy as np
import tensorflow as tf

Arrays = dict[str, np.ndarray]
Blocks = dict[str, np.ndarray]  # block name (per dtype) -> (rows, width): the features of that dtype side by side
Packed = tuple[Blocks, Arrays]  # (feature blocks, labels by output): what tf.data hands the trained model
BLOCK_PREFIX = "packed_"


class Packing:
    """Where each feature sits in the blocks: one (rows, width) block per dtype, named `packed_<dtype>`, its features
    side by side in the signature's order; labels stay one array per output. A row of a block is contiguous, so a
    permuted chunk is one row gather per dtype rather than one per feature (~40 column gathers each jump across
    memory for every row)."""

    def __init__(self, signature: tuple[Mapping[str, tf.TensorSpec], Mapping[str, tf.TensorSpec]]) -> None:
        features, labels = signature
        self.places: list[_Place] = []
        self.block_places: dict[str, list[_Place]] = {}  # block -> its features' places, in column order
        for name, spec in features.items():
            shape = tuple(int(d) for d in spec.shape[1:])
            block = BLOCK_PREFIX + spec.dtype.name
            in_block = self.block_places.setdefault(block, [])
            start = in_block[-1].stop if in_block else 0
            self.places.append(_Place(name, block, start, start + int(np.prod(shape, dtype=np.int64)), shape))
            in_block.append(self.places[-1])
        self.element_spec = ({block: tf.TensorSpec((None, places[-1].stop), features[places[0].name].dtype)
                              for block, places in self.block_places.items()}, dict(labels))

    def pack(self, x: Arrays, y: Arrays) -> Packed:
        """New arrays holding the features' and labels' values (they share no memory with x or y)."""
        blocks_spec, labels_spec = self.element_spec
        rows = len(next(iter(y.values())))
        blocks = {block: np.empty((rows, spec.shape[1]), spec.dtype.as_numpy_dtype)
                  for block, spec in blocks_spec.items()}
        for place in self.places:
            blocks[place.block][:, place.start:place.stop] = x[place.name].reshape(rows, -1)
        return blocks, {output: np.array(y[output], spec.dtype.as_numpy_dtype) for output, spec in labels_spec.items()}

    def unpack(self, blocks: Mapping) -> dict:
        """The features of blocks (numpy arrays, tensors or a model's inputs), each of its own shape.

        One split per block rather than a slice and a reshape per feature: inside the training step every op runs once
        per batch, and with ~40 features those ops were a measurable part of a small batch's step (docs/models.md).
        A piece that already has its feature's shape is taken as it is."""
        features = {}
        for block, places in self.block_places.items():
            cuts = [place.stop for place in places[:-1]]
            pieces = keras.ops.split(blocks[block], cuts, axis=1) if cuts else [blocks[block]]
            for place, piece in zip(places, pieces):
                same_shape = place.shape == (place.stop - place.start,)
                features[place.name] = piece if same_shape else keras.ops.reshape(piece, (-1, *place.shape))
        return {place.name: features[place.name] for place in self.places}

    def columns(self, blocks: Blocks) -> Arrays:
        """The features of numpy blocks, as views of them."""
        return {place.name: blocks[place.block][:, place.start:place.stop].reshape(-1, *place.shape)
                for place in self.places}

    def model_on_blocks(self, model: keras.Model) -> keras.Model:
        """`model` taking the packed blocks: it cuts them into its inputs inside the step and returns its outputs by
        name. It shares every weight with `model`, so fitting it trains `model`."""
        inputs = {block: keras.Input(spec.shape[1:], dtype=spec.dtype.name, name=block)
                  for block, spec in self.element_spec[0].items()}
        features = self.unpack(inputs)
        outputs = model({tensor.name: features[tensor.name] for tensor in model.inputs})
        # Named layers, as models.preprocessing.served_model names them: losses and labels keyed by output name fit
        # both alike.
        named = {name: keras.layers.Identity(name=name)(outputs[name]) for name in model.output_names}
        return keras.Model(inputs, named, name=f"{model.name}_on_blocks")


class PassCache:
    """The packed arrays of a whole pass, kept while their bytes stay within `limit_bytes`.

    The cache never shares memory with what it hands out or is handed: tf.data wraps a generator's aligned numpy
    arrays without copying and then owns that memory, so an op may write its result into it (buffer forwarding). A
    cached array that TF had been given changed under the cache, and later epochs read other values than the first.
    """

    def __init__(self, packing: Packing, limit_bytes: int) -> None:
        self.packing = packing
        self.limit_bytes = limit_bytes
        self._parts: list[Packed] = []
        self._bytes = 0
        self._overflowed = limit_bytes <= 0
        self._pass: Packed | None = None  # set once a pass ended within the limit

    @property
    def full(self) -> bool:
        """A whole pass is kept: batches() can serve the next ones."""
        return self._pass is not None

    def start(self) -> None:
        """A new pass streams: whatever a pass left unfinished is dropped."""
        self._parts, self._bytes = [], 0

    def add(self, packed: Packed) -> None:
        if self._overflowed:
            return
        self._bytes += sum(v.nbytes for side in packed for v in side.values())
        if self._bytes > self.limit_bytes:
            self._overflowed, self._parts = True, []
            return
        self._parts.append(_each(packed, np.copy))

    def finish(self) -> None:
        """The pass ended: its parts are joined into one array per block and label, a part at a time, each freed once
        copied (the arrays' pages are taken as their rows are written, so memory peaks at the pass plus one part
        rather than twice the pass)."""
        if self._overflowed or not self._parts:
            return
        parts, self._parts = self._parts, []
        count = sum(_rows(part) for part in parts)
        joined = _each(parts[0], lambda v: np.empty((count, *v.shape[1:]), v.dtype))
        row = 0
        for i, part in enumerate(parts):
            rows = _rows(part)
            for side, kept in zip(part, joined):
                for name, values in side.items():
                    kept[name][row:row + rows] = values
            parts[i] = part = None  # this part is copied: free it now
            row += rows
        self._pass = joined

    @property
    def rows(self) -> tuple[Arrays, Arrays] | None:
        """The kept pass as (features, labels): views of its arrays, to read only; None unless full."""
        return None if self._pass is None else (self.packing.columns(self._pass[0]), self._pass[1])

    def batches(self, rng: np.random.Generator | None, chunk_rows: int) -> Iterator[Packed]:
        """Copies of the kept rows, `chunk_rows` rows at a time: in the order they were read (rng None), or in a
        permutation of all of them drawn from rng."""
        count = _rows(self._pass)
        order = rng.permutation(count) if rng is not None else np.arange(count)
        for start in range(0, count, chunk_rows):
            rows = order[start:start + chunk_rows]
            # np.take along axis 0 copies whole rows; fancy indexing goes value by value
            yield _each(self._pass, lambda v: np.take(v, rows, axis=0))


def _each(packed: Packed, change) -> Packed:
    blocks, labels = packed
    return {name: change(v) for name, v in blocks.items()}, {name: change(v) for name, v in labels.items()}


def _rows(packed: Packed) -> int:
    return len(next(iter(packed[1].values())))


@dataclass(frozen=True)
class _Place:
    """Where a feature lives in the packed blocks: its block, its columns there and its shape per row."""

    name: str
    block: str
    start: int
    stop: int
    shape: tuple[int, ...]

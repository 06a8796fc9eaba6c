"""The training input pipeline: one Delta snapshot of `samples` -> Arrow record batches (models.sample_batches: in
file order, or shuffled across the days) -> numpy columns (models.feature_arrays) -> tf.data.

Rows stream a batch at a time (memory follows the batch size, not the data), from a pinned table version so a
run can say exactly what it read.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import tensorflow as tf

from features.spec import GBDT_LEAVES, Feature
from models.feature_arrays import feature_arrays, int_values, padded
from models.input_cache import Packing, PassCache
from models.preprocessing import id_spec
from models.sample_batches import Shuffle, Snapshot, record_batches, shuffled_record_batches

READ_BATCHES = 16


def kept_negatives(batch: pa.RecordBatch, labels: Sequence[str], keep_rate: float) -> np.ndarray:
    """Row mask of negative downsampling: every row with a positive label, and a seeded-hash `keep_rate` share of
    the rows without one; the hash of (dt, user, item) makes the choice the same in every run."""
    if keep_rate >= 1.0:
        return np.ones(batch.num_rows, dtype=bool)
    positive = np.zeros(batch.num_rows, dtype=bool)
    for label in labels:
        positive |= batch.column(label).to_numpy(zero_copy_only=False) > 0
    uniform = pd.util.hash_array(_keys(batch).to_numpy(dtype=object)) / float(2**64)
    return positive | (uniform < keep_rate)


class LeafLookup:
    """The `gbdt_leaves` of one as_of, by sample key, padded to one id per tree (-1 where a sample has none).

    Held in memory: 4 bytes per tree and sample (30 trees x 1M samples = 120 MB), the price of joining a second
    table without a JVM; samples and leaves are keyed alike, so a lookup is one reindex per batch.
    """

    def __init__(self, snapshot: Snapshot, as_of: dt.date, first_day: dt.date, last_day: dt.date, trees: int):
        keep = (pads.field("as_of") == as_of) & (pads.field("dt") >= first_day) & (pads.field("dt") <= last_day)
        table = snapshot.dataset().to_table(columns=["dt", "user_id", "item_id", GBDT_LEAVES], filter=keep)
        self.trees = trees
        leaves = padded(table.column(GBDT_LEAVES).combine_chunks(), trees, -1, np.int64, int_values)
        self.leaves = pd.Series(list(leaves), index=_keys(table), dtype=object)

    def __call__(self, batch: pa.RecordBatch) -> np.ndarray:
        found = self.leaves.reindex(_keys(batch))
        missing = np.full(self.trees, -1, dtype=np.int64)
        return np.stack([row if isinstance(row, np.ndarray) else missing for row in found.to_numpy()])


def _keys(rows: pa.RecordBatch | pa.Table) -> pd.Index:
    """dt|user|item: the samples' key as one string."""
    parts = [pd.Series(rows.column(name).cast(pa.string()).to_pylist()) for name in ("dt", "user_id", "item_id")]
    return pd.Index(parts[0] + "|" + parts[1] + "|" + parts[2])


@dataclass(frozen=True)
class TrainingInput:
    """What the pipeline reads and produces for one model: its features, and output name -> label column."""

    snapshot: Snapshot
    features: tuple[Feature, ...]
    labels: Mapping[str, str]
    batch_size: int
    negative_keep_rate: float = 1.0
    seed: int = 0
    leaves: LeafLookup | None = None  # set when the model takes `gbdt_leaves`, which live in their own table
    only_rows_with: str | None = None  # a label column: keep only its positive rows (a CVR model sees clicks only)
    shuffle: Shuffle = Shuffle()
    cache_bytes: int = 0  # dataset(): keep a pass's arrays in memory for the next epochs when they fit (0: never)

    def _rows(self, first_day: dt.date, last_day: dt.date, labels: Sequence[str], rng: np.random.Generator | None,
              hashed: bool = False) -> Iterator[tuple[pa.RecordBatch, dict[str, np.ndarray]]]:
        """Batches of the days as model inputs (raw, or `hashed` for the id model): in file order, or shuffled
        across the days by `rng`."""
        sample_features = [f for f in self.features if f.name != GBDT_LEAVES]
        wanted = [*labels, *([self.only_rows_with] if self.only_rows_with else [])]
        columns = list(dict.fromkeys(["dt", "user_id", "item_id", *[f.name for f in sample_features], *wanted]))
        if rng is None:
            batches = (batch.filter(pa.array(self._kept(batch)))
                       for batch in record_batches(self.snapshot, first_day, last_day, columns, self.batch_size))
        else:
            batches = shuffled_record_batches(self.snapshot, first_day, last_day, columns, self.batch_size, rng,
                                              self.shuffle, self._kept)
        for batch in batches:
            if not batch.num_rows:
                continue
            x = feature_arrays(batch, sample_features, hashed)
            if self.leaves is not None:
                x[GBDT_LEAVES] = self.leaves(batch)
            yield batch, x

    def _kept(self, batch: pa.RecordBatch) -> np.ndarray:
        keep = kept_negatives(batch, list(self.labels.values()), self.negative_keep_rate)
        if self.only_rows_with:
            keep &= batch.column(self.only_rows_with).to_numpy(zero_copy_only=False) > 0
        return keep

    def batches(self, first_day: dt.date, last_day: dt.date, rng: np.random.Generator | None = None,
                hashed: bool = False) -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
        """(features, {output: label}) batches of the days: in file order, or shuffled across the days by `rng`;
        features raw as the served model takes them, or `hashed` as its id model does."""
        for batch, x in self._rows(first_day, last_day, list(self.labels.values()), rng, hashed):
            yield x, {output: _label(batch, label) for output, label in self.labels.items()}

    def numeric_batches(self, first_day: dt.date, last_day: dt.date) -> Iterator[dict[str, np.ndarray]]:
        """The numeric features of the days' training rows (negatives downsampled as for training), read in large
        chunks and nothing else converted: what the standardisation statistics are computed from."""
        numerics = dataclasses.replace(self, features=tuple(f for f in self.features if f.kind == "numeric"),
                                       leaves=None, batch_size=self.batch_size * READ_BATCHES)
        return (x for x, _ in numerics.batches(first_day, last_day))

    def evaluation_batches(self, day: dt.date, labels: Sequence[str]
                           ) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]]:
        """(features, user ids, {label column: values}) of every sample of the day, no row dropped."""
        everything = dataclasses.replace(self, negative_keep_rate=1.0)
        for batch, x in everything._rows(day, day, labels, rng=None):
            users = batch.column("user_id").to_numpy(zero_copy_only=False)
            yield x, users, {label: _label(batch, label).reshape(-1) for label in labels}

    def packing(self) -> Packing:
        """How dataset() packs the features for the model that trains (Packing.model_on_blocks)."""
        return Packing(({f.name: id_spec(f) for f in self.features},
                        {output: tf.TensorSpec((None, 1), tf.float32) for output in self.labels}))

    def dataset(self, first_day: dt.date, last_day: dt.date, shuffle: bool = True) -> tf.data.Dataset:
        """A tf.data pipeline over the days for the id model that trains (models.preprocessing.id_model_of: string
        ids hashed ahead, in Arrow, once per distinct value of a read), its features packed into one block per dtype
        (`packing()`: the model fit on it is `packing().model_on_blocks(id model)`), prefetched. Each pass (epoch) is
        read from Delta, unless the first pass's arrays fit in `cache_bytes` (models.input_cache): later passes then
        come from memory. Shuffled, each pass draws its order from (seed, pass number): epochs differ from each
        other, and two runs with one seed agree (a pass from memory is a permutation of all the rows; a streamed
        one, `Shuffle`)."""
        passes = itertools.count()
        # Python converts rows to arrays `READ_BATCHES` batches at a time (its cost per call is then paid once for
        # all of them) and hands them over packed; tf.data cuts them into batches in C++: the rows and their order
        # stay the same.
        reads = dataclasses.replace(self, batch_size=self.batch_size * READ_BATCHES)
        packing = self.packing()
        cache = PassCache(packing, self.cache_bytes)

        def one_pass() -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
            rng = np.random.default_rng([self.seed, next(passes)]) if shuffle else None
            if cache.full:
                yield from cache.batches(rng, reads.batch_size)
                return
            cache.start()
            for x, y in reads.batches(first_day, last_day, rng, hashed=True):
                packed = packing.pack(x, y)
                cache.add(packed)
                yield packed
            cache.finish()

        data = tf.data.Dataset.from_generator(one_pass, output_signature=packing.element_spec)
        return data.rebatch(self.batch_size).prefetch(tf.data.AUTOTUNE)


def _label(batch: pa.RecordBatch, label: str) -> np.ndarray:
    return batch.column(label).to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, 1)

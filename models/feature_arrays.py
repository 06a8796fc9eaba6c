"""Arrow columns of `samples` as model inputs (numpy): numerics float32 with NaN for missing; categoricals raw as
served (strings, "" for missing; int64, -1) or, for the id model that trains, hashed to int64 bucket ids (-1 for
missing); lists padded to the feature's max_length."""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from features.spec import Feature
from models.preprocessing import INT_DTYPES, string_ids


def feature_arrays(batch: pa.RecordBatch, features: Sequence[Feature], hashed: bool = False) -> dict[str, np.ndarray]:
    """Each feature's column as the model's input: (rows, 1) scalars or (rows, max_length) lists; raw as served, or
    with `hashed` as the id model trains on them (string ids hashed to int64 buckets, -1 where absent)."""
    return {f.name: _column(batch.column(f.name), f, hashed) for f in features}


def _column(column: pa.Array, feature: Feature, hashed: bool) -> np.ndarray:
    if feature.kind == "numeric":
        values = pc.fill_null(column.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        return values.astype(np.float32).reshape(-1, 1)
    if feature.dtype in INT_DTYPES:
        to_numpy, pad, dtype = int_values, -1, np.int64
    elif hashed:
        to_numpy, pad, dtype = functools.partial(_string_ids, buckets=feature.buckets), -1, np.int64
    else:
        to_numpy, pad, dtype = _strings, "", object
    if feature.kind == "categorical":
        return to_numpy(column).astype(dtype).reshape(-1, 1)
    return padded(column, feature.max_length, pad, dtype, to_numpy)


def int_values(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)


def _strings(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values.cast(pa.string()), "").to_numpy(zero_copy_only=False)


def _string_ids(values: pa.Array, buckets: int) -> np.ndarray:
    """models.preprocessing.string_ids of each value (null -> -1), hashing each distinct string of the batch once
    instead of converting every value to a Python string."""
    encoded = pc.dictionary_encode(values.cast(pa.string()))
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    if not len(distinct):
        return np.full(len(values), -1, np.int64)
    ids = string_ids(tf.constant(distinct, tf.string), buckets).numpy()
    positions = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return np.where(positions >= 0, ids[positions], -1)


def padded(column: pa.Array, length: int, pad, dtype, to_numpy: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
    """A list column as a (rows, length) array: the first `length` values of each row (each as to_numpy makes it,
    which fills nulls), then `pad`."""
    sliced = pc.list_slice(column, 0, length)
    counts = pc.fill_null(pc.list_value_length(sliced), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    values = to_numpy(pc.list_flatten(sliced))
    out = np.full((len(column), length), pad, dtype=dtype)
    rows = np.repeat(np.arange(len(column)), counts)
    positions = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    out[rows, positions] = values
    return out

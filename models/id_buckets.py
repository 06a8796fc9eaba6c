"""How well a hashed feature's bucket count fits its data: its collision rate, the share of its distinct values that
share a bucket with another value (two such values get one embedding and one wide weight, so the model cannot tell
them apart), and the bucket count a target rate needs.

String ids are hashed (models.preprocessing.string_ids) rather than looked up in a vocabulary, so that the mapping
is the same every day and a warm start stays valid; the price is collisions, which grow with distinct values per
bucket. `python -m bench.id_buckets` measures them on a lake's samples.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from models.preprocessing import string_ids


def collision_rate(values: np.ndarray, buckets: int) -> float:
    """Of the distinct non-empty strings `values`, the share whose bucket (string_ids) also holds another of them."""
    distinct = np.unique(values[values != ""].astype(str))
    if not len(distinct):
        return 0.0
    ids = string_ids(tf.constant(distinct, tf.string), buckets).numpy()
    _, owners, per_bucket = np.unique(ids, return_inverse=True, return_counts=True)
    return float(np.mean(per_bucket[owners] > 1))


def expected_collision_rate(distinct: int, buckets: int) -> float:
    """The collision rate expected of `distinct` values hashed uniformly into `buckets`: a value's bucket holds none
    of the other distinct - 1 values with probability (1 - 1/buckets) ** (distinct - 1)."""
    return 1.0 - (1.0 - 1.0 / buckets) ** max(distinct - 1, 0)


def buckets_for(distinct: int, rate: float) -> int:
    """The smallest power of two of buckets whose expected collision rate for `distinct` values is at most `rate`."""
    if not 0.0 < rate < 1.0:
        raise ValueError(f"a collision rate must be in (0, 1), not {rate}")
    buckets = 1
    while expected_collision_rate(distinct, buckets) > rate:
        buckets *= 2
    return buckets

"""Exact top-K of scores (users x items) that do not depend on how users were batched: the search every recall
source shares, in Spark tasks (jobs.recall_common) and in the two-tower's TensorFlow process alike. numpy only."""
from __future__ import annotations

import numpy as np
import pandas as pd

# Scores are dot products of vectors quantised to integers of this many bits, summed exactly in float64 (below).
QUANT_BITS = 20
SCORE_CELLS_PER_BATCH = 1 << 22  # users x items scores held at once (32 MiB of float64)


def exact_top_k(user_ids: list, user_vectors: np.ndarray, item_vectors: np.ndarray, seen: list, k: int,
                item_scale: np.ndarray | None = None, cells_per_batch: int | None = None) -> pd.DataFrame:
    """(user_id, position, score, rank): each user's k best item positions by the dot product of its vector with each
    item row, its `seen` positions skipped, ties by position. Scored in batches of users (cells_per_batch scores at
    once, SCORE_CELLS_PER_BATCH by default); a user's scores do not depend on the batch (dot_products). item_vectors
    are raw, or already quantised with their item_scale."""
    if item_scale is None:
        item_vectors, item_scale = quantised(np.asarray(item_vectors, dtype=np.float64), per_row=False)
    batch_rows = max(1, (cells_per_batch or SCORE_CELLS_PER_BATCH) // max(1, len(item_vectors)))
    parts = [top_rows(list(user_ids[start:start + batch_rows]),
                      dot_products(np.asarray(user_vectors[start:start + batch_rows], dtype=np.float64),
                                   item_vectors, item_scale),
                      seen[start:start + batch_rows], k)
             for start in range(0, len(user_ids), batch_rows)]
    return pd.concat(parts, ignore_index=True) if parts else top_rows([], np.zeros((0, 0)), [], k)


def quantised(rows: np.ndarray, per_row: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(q, scale) with rows ~= q / scale: integers of at most QUANT_BITS bits (held in float64), scaled by a power of
    two per row (or one for the whole matrix) chosen from that row's largest magnitude alone."""
    peak = np.abs(rows).max(axis=1, keepdims=True) if per_row else np.abs(rows).max(keepdims=True)
    scale = np.ldexp(1.0, QUANT_BITS - np.frexp(peak)[1])  # |rows * scale| < 2 ** QUANT_BITS; exact (power of 2)
    return np.rint(rows * scale), scale


def dot_products(vectors: np.ndarray, items: np.ndarray, item_scale: np.ndarray) -> np.ndarray:
    """Scores (users x items) of float vectors against quantised item rows, the same whatever the batch.

    A float matrix product rounds differently with the shape of the batch (BLAS picks its blocking and summation
    order by shape), so a user's scores, and near-ties between them, would change with how Spark happened to group
    users. Products of QUANT_BITS-bit integers, summed over at most 2 ** (53 - 2 * QUANT_BITS) dimensions, are
    integers below 2 ** 53: float64 holds every partial sum exactly in any order, so the product is exact.
    """
    if items.shape[1] > 2 ** (53 - 2 * QUANT_BITS):
        raise ValueError(f"{items.shape[1]} dimensions are too many to score exactly")
    users, user_scale = quantised(vectors)
    return (users @ items.T) / (user_scale * item_scale)


def top_rows(user_ids: list[str], scores: np.ndarray, seen: list, k: int) -> pd.DataFrame:
    """(user_id, position, score, rank): per row of scores (users x items), the k best positions not in the user's
    `seen` positions, ties by position."""
    users_out, positions_out, scores_out, ranks_out = [], [], [], []
    for row, user in enumerate(user_ids):
        values = scores[row].astype(np.float64)
        if len(seen[row]):
            values[np.asarray(seen[row], dtype=np.int64)] = -np.inf
        take = min(k, int(np.isfinite(values).sum()))
        if take == 0:
            continue
        # argpartition finds the k-th best score; every item at least that good is then sorted exactly.
        threshold = values[np.argpartition(-values, take - 1)[take - 1]]
        pool = np.flatnonzero(values >= threshold)
        best = pool[np.lexsort((pool, -values[pool]))][:take]
        users_out += [user] * take
        positions_out += best.tolist()
        scores_out += values[best].tolist()
        ranks_out += list(range(1, take + 1))
    # dtype=object: pyspark 4.1 does not accept pandas 3's Arrow-backed default string dtype.
    return pd.DataFrame({"user_id": pd.Series(users_out, dtype=object),
                         "position": pd.Series(positions_out, dtype="int32"),
                         "score": pd.Series(scores_out, dtype="float64"),
                         "rank": pd.Series(ranks_out, dtype="int32")})

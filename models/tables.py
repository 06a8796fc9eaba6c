"""Embedding and wide-weight tables read by rows: only the rows a batch looks up, and only for its present entries.

Both keep a training step's cost independent of the table's size and its gradient sparse, so that LazyAdam
(models/optimizers.py) updates only the rows in use.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import ops


def table_rows(table: keras.Variable, ids: keras.KerasTensor) -> keras.KerasTensor:
    """The rows `ids` of a table (embedding or wide weights), read row by row: shape ids.shape + the row's shape.

    `tf.gather` on the variable reads only those rows (a ResourceGather). `ops.take` would read the whole variable
    first, and once an optimizer has scatter-updated a table (LazyAdam does, every step) TensorFlow copies the
    whole table on each such read (its copy-on-read mode), so a step would cost time in proportion to the table.
    """
    return tf.gather(table.value, ids)


@dataclass(frozen=True)
class PresentRows:
    """The table rows of a batch's present entries only, one per entry (k of them), and where each entry is."""

    values: tf.Tensor  # (k,) + the row's shape
    entries: tf.Tensor  # (k, 2) int64: (batch row, entry) of each
    ids_shape: tf.Tensor  # (2,) int64: (batch, entries)

    # scatter_nd rather than unsorted_segment_sum: its gradient is a plain gather (that of unsorted_segment_sum
    # guards against negative segment ids with a select over every entry).
    def summed(self) -> tf.Tensor:
        """(batch,) + the row's shape: per batch row, the sum of its present entries' rows (0 where none)."""
        return tf.scatter_nd(self.entries[:, :1], self.values, self._shape(self.ids_shape[:1]))

    def placed(self) -> tf.Tensor:
        """(batch, entries) + the row's shape: each present entry's row where it is, zeros for absent entries."""
        return tf.scatter_nd(self.entries, self.values, self._shape(self.ids_shape))

    def penalty(self) -> tf.Tensor:
        """models.blocks.lookup_penalty of these rows: the sum of their squares over the batch size."""
        return tf.reduce_sum(tf.square(self.values)) / tf.cast(self.ids_shape[0], self.values.dtype)

    def _shape(self, leading: tf.Tensor) -> tf.Tensor:
        return tf.concat([leading, tf.shape(self.values, tf.int64)[1:]], axis=0)


def present_rows(table: keras.Variable, ids: keras.KerasTensor, present: keras.KerasTensor) -> PresentRows:
    """The rows of `table` that the present entries of (batch, entries) `ids` look up.

    Absent entries (list padding, missing values) are not looked up at all, so the table's gradient holds only the
    rows the batch uses. Looked up as row 0 (where models.preprocessing.CheckedIds points them), they gave row 0, a
    real bucket, a zero gradient every step, which LazyAdam took as a use: it decayed the row's moments and moved it.
    """
    entries = tf.where(present)
    return PresentRows(table_rows(table, tf.gather_nd(ids, entries)), entries, tf.shape(ids, tf.int64))


@keras.saving.register_keras_serializable(package="dailyrec")
class SparseReadEmbedding(keras.layers.Embedding):
    """keras.layers.Embedding whose lookup reads only the rows it needs (`table_rows`; ids must be in range). Given
    `present` flags of the same shape, absent entries get zero vectors and are not looked up (`present_rows`)."""

    def call(self, ids: keras.KerasTensor, present: keras.KerasTensor | None = None) -> keras.KerasTensor:
        if present is None:
            return table_rows(self.embeddings, ids)
        return present_rows(self.embeddings, ids, present).placed()

    def compute_output_spec(self, ids: keras.KerasTensor, present: keras.KerasTensor | None = None
                            ) -> keras.KerasTensor:
        return keras.KerasTensor((*ids.shape, self.output_dim), dtype=self.compute_dtype)


@keras.saving.register_keras_serializable(package="dailyrec")
class PooledEmbedding(keras.layers.Embedding):
    """(batch, entries) ids and present flags -> (batch, output_dim): the mean of the present entries' embeddings,
    zeros where none is present; only present entries are looked up (`present_rows`). With `l2` > 0 their vectors
    are penalised (`PresentRows.penalty`, as models.blocks.lookup_penalty)."""

    def __init__(self, input_dim: int, output_dim: int, l2: float = 0.0, **kwargs) -> None:
        super().__init__(input_dim, output_dim, **kwargs)
        self.l2 = l2

    def call(self, ids: keras.KerasTensor, present: keras.KerasTensor) -> keras.KerasTensor:
        rows = present_rows(self.embeddings, ids, present)
        if self.l2:
            self.add_loss(self.l2 * rows.penalty())
        count = ops.sum(ops.cast(present, rows.values.dtype), axis=1, keepdims=True)
        return rows.summed() / ops.maximum(count, 1.0)

    def compute_output_spec(self, ids: keras.KerasTensor, present: keras.KerasTensor) -> keras.KerasTensor:
        return keras.KerasTensor((ids.shape[0], self.output_dim), dtype=self.compute_dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "l2": self.l2}

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.tables import PooledEmbedding, SparseReadEmbedding


def test_sparse_read_embedding_looks_up_like_keras_embedding_with_a_sparse_gradient():
    table = SparseReadEmbedding(5, 2)
    reference = keras.layers.Embedding(5, 2)
    ids = tf.constant([[4, 1], [1, 1]], tf.int64)
    table.build(ids.shape), reference.build(ids.shape)
    reference.set_weights(table.get_weights())
    np.testing.assert_array_equal(table(ids), reference(ids))
    with tf.GradientTape() as tape:
        looked_up = tf.reduce_sum(table(ids))
    gradient = tape.gradient(looked_up, table.embeddings.value)
    assert isinstance(gradient, tf.IndexedSlices) and sorted(gradient.indices.numpy().tolist()) == [1, 1, 1, 4]


def test_given_present_flags_an_embedding_looks_up_present_entries_only_and_zeroes_the_rest():
    table = SparseReadEmbedding(6, 2)
    ids, present = tf.constant([[4, 0], [0, 1]], tf.int64), tf.constant([[True, False], [False, True]])
    table.build(ids.shape)
    table.set_weights([np.arange(12, dtype="float32").reshape(6, 2)])
    with tf.GradientTape() as tape:
        vectors = table(ids, present)
        total = tf.reduce_sum(vectors)
    np.testing.assert_allclose(vectors, [[[8.0, 9.0], [0.0, 0.0]], [[0.0, 0.0], [2.0, 3.0]]])
    gradient = tape.gradient(total, table.embeddings.value)
    assert isinstance(gradient, tf.IndexedSlices) and sorted(gradient.indices.numpy().tolist()) == [1, 4]


def test_a_pooled_embedding_looks_up_and_gets_gradients_for_present_entries_only():
    table = PooledEmbedding(6, 2, l2=0.5)
    ids = tf.constant([[4, 1, 0], [1, 1, 0], [0, 0, 0]], tf.int64)
    present = tf.constant([[True, True, False], [True, True, False], [False, False, False]])
    table.build(ids.shape)
    table.set_weights([np.arange(12, dtype="float32").reshape(6, 2)])
    with tf.GradientTape() as tape:
        pooled = table(ids, present)
        total = tf.reduce_sum(pooled)
    # Rows: 1 = (2, 3), 4 = (8, 9). Means (5, 6) and (2, 3); a row with nothing present pools to zeros.
    np.testing.assert_allclose(pooled, [[5.0, 6.0], [2.0, 3.0], [0.0, 0.0]])
    gradient = tape.gradient(total, table.embeddings.value)
    assert isinstance(gradient, tf.IndexedSlices) and sorted(gradient.indices.numpy().tolist()) == [1, 1, 1, 4]
    # l2 over the present vectors only, per example: (4 + 9 + 64 + 81 + 2 * (4 + 9)) / 3 rows.
    assert float(sum(table.losses)) == pytest.approx(0.5 * (4 + 9 + 64 + 81 + 26) / 3)

"""LazyAdam: Adam whose update of an embedding or wide table touches only the rows the batch looked up."""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dailyrec")
class LazyAdam(keras.optimizers.Adam):
    """Adam, except that a sparse gradient (tf.IndexedSlices, what a table lookup gives) updates only its rows.

    Keras' Adam turns a table's sparse gradient dense and moves every row and both moment slots each step: for a
    100k x 16 table that is most of a training step. Here the rows a batch did not look up keep their weights and
    moments until a batch uses them again (the moments are not decayed in between), as in TF1's LazyAdamOptimizer;
    dense gradients (MLP, heads) get plain Adam.
    """

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        rows, values = _summed_by_row(gradient)
        values = tf.cast(values, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_rows = beta_1 * tf.gather(m.value, rows) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v.value, rows) + (1 - beta_2) * tf.square(values)
        if self.amsgrad:
            raise ValueError("LazyAdam does not implement amsgrad")
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        self.assign_sub(variable, tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))


def _summed_by_row(gradient: tf.IndexedSlices) -> tuple[tf.Tensor, tf.Tensor]:
    """The gradient's rows, each once, with the values of its repeats summed (a scatter of repeats keeps one)."""
    rows, position = tf.unique(gradient.indices)
    return rows, tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(rows)[0])

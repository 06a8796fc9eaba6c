import keras
import numpy as np
import pytest
import tensorflow as tf

from models.optimizers import LazyAdam

IDS = np.array([[0, 1], [2, 3], [4, 5], [1, 1]])  # every row of the 6-row table, row 1 three times


def table_model(optimizer):
    keras.utils.set_random_seed(0)
    ids = keras.Input((2,), dtype="int64")
    table = keras.layers.Embedding(6, 3, name="table")
    model = keras.Model(ids, keras.layers.Dense(1, name="head")(keras.layers.Flatten()(table(ids))))
    model.compile(optimizer=optimizer, loss="mse")
    return model, table


def test_a_step_that_looks_up_every_row_is_the_textbook_adam_step_on_the_summed_gradient():
    model, table = table_model(LazyAdam(0.1))
    y = np.ones((4, 1), "float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(IDS) - y) ** 2)
    gradient = tf.convert_to_tensor(tape.gradient(loss, table.embeddings.value)).numpy()  # repeats summed
    before = table.get_weights()[0]
    model.fit(IDS, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    # Adam's first step moves each weight by lr * m_hat / (sqrt(v_hat) + eps) = lr * g / (|g| + eps).
    np.testing.assert_allclose(table.get_weights()[0], before - 0.1 * gradient / (np.abs(gradient) + 1e-7),
                               atol=1e-4)


def test_rows_a_batch_did_not_look_up_keep_their_weights_and_moments():
    model, table = table_model(LazyAdam(0.1))
    before = table.get_weights()[0]
    model.fit(np.array([[0, 1], [1, 1]]), np.ones((2, 1)), batch_size=2, epochs=2, verbose=0, shuffle=False)
    moved = np.abs(table.get_weights()[0] - before).max(axis=1)
    assert (moved[:2] > 0.05).all() and (moved[2:] == 0).all()
    optimizer = model.optimizer
    index = optimizer._get_variable_index(table.embeddings)
    assert (np.asarray(optimizer._momentums[index].value)[2:] == 0).all()
    # Dense variables (the head) get plain Adam.
    assert model.get_layer("head").get_weights()[0].std() > 0


def test_lazy_adam_is_saved_with_the_model_and_refuses_amsgrad(tmp_path):
    model, _ = table_model(LazyAdam(0.01))
    model.fit(IDS, np.ones((4, 1)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    assert isinstance(keras.saving.load_model(tmp_path / "m.keras").optimizer, LazyAdam)
    amsgrad, _ = table_model(LazyAdam(0.01, amsgrad=True))
    with pytest.raises(ValueError, match="amsgrad"):
        amsgrad.fit(IDS, np.ones((4, 1)), epochs=1, verbose=0)

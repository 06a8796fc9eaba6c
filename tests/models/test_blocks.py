import keras
import numpy as np
import pytest
import tensorflow as tf

from features.spec import Feature
from models.blocks import (
    MLP,
    AttentionPooling,
    FMInteraction,
    Linear,
    MaskedMeanPooling,
    MixtureOfExperts,
    pooled_embedding,
    task_head,
)
from models.preprocessing import BucketIds


def test_masked_mean_pooling_averages_present_entries_and_zeroes_empty_rows():
    vectors = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[7.0, 7.0], [8.0, 8.0], [9.0, 9.0]]], "float32")
    present = np.array([[True, True, False], [False, False, False]])
    np.testing.assert_allclose(MaskedMeanPooling()(vectors, present), [[2.0, 3.0], [0.0, 0.0]])


def test_pooled_embedding_looks_up_then_averages_present_ids():
    genres = Feature("genres", "multi_categorical", "string", ("deep",), buckets=3, embedding_dim=2, max_length=2)
    ids = keras.Input(shape=(2,), dtype="int64")
    present = keras.Input(shape=(2,), dtype="bool")
    model = keras.Model([ids, present], pooled_embedding(genres, BucketIds(ids, present)))
    model.get_layer("genres_embedding").set_weights([np.array([[1.0, 0.0], [0.0, 1.0], [4.0, 4.0]])])
    pooled = model([tf.constant([[0, 2], [1, 0]], tf.int64), tf.constant([[True, True], [True, False]])])
    np.testing.assert_allclose(pooled, [[2.5, 2.0], [0.0, 1.0]])


def test_pooled_embedding_needs_an_embedding_size():
    leaves = Feature("gbdt_leaves", "multi_categorical", "int", ("wide",), buckets=8, max_length=2)
    ids = BucketIds(keras.Input(shape=(2,), dtype="int64"), keras.Input(shape=(2,), dtype="bool"))
    with pytest.raises(ValueError, match="'gbdt_leaves' needs an embedding_dim"):
        pooled_embedding(leaves, ids)


def test_linear_sums_bucket_weights_of_present_entries_plus_bias():
    linear = Linear([4, 3])
    linear.set_weights([np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 2.0, 3.0]), np.array([0.5])])
    ids = [tf.constant([[2], [0]], tf.int64), tf.constant([[0, 2], [1, 0]], tf.int64)]
    present = [tf.constant([[True], [False]]), tf.constant([[True, True], [True, False]])]
    # Row 0: 0.5 + w0[2] + w1[0] + w1[2]; row 1: 0.5 + w1[1] (the rest is absent).
    np.testing.assert_allclose(linear(ids, present), [[0.5 + 0.3 + 1.0 + 3.0], [0.5 + 2.0]], rtol=1e-6)


def test_l2_penalises_only_the_present_entries_a_batch_looks_up_per_example():
    linear = Linear([4, 3], l2=0.1)
    linear.set_weights([np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 2.0, 3.0]), np.array([0.5])])
    ids = [tf.constant([[2], [0]], tf.int64), tf.constant([[0, 2], [1, 0]], tf.int64)]
    present = [tf.constant([[True], [False]]), tf.constant([[True, True], [True, False]])]
    linear(ids, present)
    # Feature 0: only w0[2] = 0.3 is present; feature 1: w1[0], w1[2] and w1[1]. Two rows in the batch.
    assert float(sum(linear.losses)) == pytest.approx(0.1 * (0.3 ** 2 + 1.0 + 9.0 + 4.0) / 2)
    pooling = MaskedMeanPooling(l2=0.5)
    vectors = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[7.0, 7.0], [8.0, 8.0], [9.0, 9.0]]], "float32")
    pooling(vectors, np.array([[True, True, False], [False, False, False]]))
    assert float(sum(pooling.losses)) == pytest.approx(0.5 * (1 + 4 + 9 + 16) / 2)
    assert Linear([4]).losses == [] and Linear.from_config(linear.get_config()).l2 == 0.1


def test_mlp_stacks_relu_layers_and_drops_out_only_in_training():
    mlp = MLP([2, 1], dropout=0.5)
    mlp.build((None, 2))
    first_layer = [np.array([[1.0, -1.0], [2.0, -3.0]]), np.array([0.0, 1.0])]
    mlp.set_weights([*first_layer, np.array([[2.0], [5.0]]), np.array([1.0])])
    inputs = np.array([[1.0, 1.0]], "float32")
    # relu([1 + 2, -1 - 3 + 1]) = [3, 0]; relu(3 * 2 + 0 * 5 + 1) = 7.
    np.testing.assert_allclose(mlp(inputs), [[7.0]])
    trained = np.concatenate([mlp(inputs, training=True) for _ in range(20)])
    # Dropout at 0.5 zeroes or doubles each layer's output: first [6, 0] -> relu(12 + 1) = 13 -> 26, or 0 -> 1 -> 2.
    outcomes = set(np.round(trained.ravel(), 5))
    assert outcomes <= {0.0, 2.0, 26.0} and len(outcomes) > 1


def test_fm_interaction_is_the_sum_of_pairwise_dot_products():
    fields = np.array([
        [[1.0, 2.0], [3.0, -1.0], [0.0, 2.0]],
        [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
    ], "float32")
    # Row 0: <v1,v2> + <v1,v3> + <v2,v3> = 1 + 4 - 2; row 1: three pairs of dot product 2.
    np.testing.assert_allclose(FMInteraction()(fields), [[3.0], [6.0]])
    np.testing.assert_allclose(FMInteraction()(fields[:, :1]), [[0.0], [0.0]])


def test_task_head_is_a_named_sigmoid_of_a_dense_logit_plus_extra_logits():
    hidden = keras.Input(shape=(2,))
    extra = keras.Input(shape=(1,))
    with_extra = keras.Model([hidden, extra], task_head(hidden, "ctr", [extra]))
    with_extra.get_layer("ctr_logit").set_weights([np.array([[0.5], [0.25]]), np.array([0.0])])
    values = np.array([[1.0, 2.0]], "float32")
    np.testing.assert_allclose(with_extra([values, np.array([[-1.0]], "float32")]), [[0.5]])
    alone = keras.Model(hidden, task_head(hidden, "cvr"))
    alone.get_layer("cvr_logit").set_weights([np.array([[0.5], [0.25]]), np.array([0.0])])
    np.testing.assert_allclose(alone(values), [[1 / (1 + np.exp(-1.0))]], rtol=1e-6)
    assert alone.layers[-1].name == "cvr"


def test_linear_gradients_touch_only_the_weights_of_present_entries():
    linear = Linear([1000])
    ids, present = [tf.constant([[3, 0], [7, 5]], tf.int64)], [tf.constant([[True, False], [True, False]])]
    with tf.GradientTape() as tape:
        logit = tf.reduce_sum(linear(ids, present))
    gradient = tape.gradient(logit, linear.bucket_weights[0].value)
    # Sparse (rows 3 and 7 only): a dense gradient would make the optimizer update all 1000 weights every step, and
    # the absent entries' rows (0 and 5) in it would have LazyAdam move those rows and decay their moments.
    assert isinstance(gradient, tf.IndexedSlices) and sorted(gradient.indices.numpy().tolist()) == [3, 7]


def test_mixture_of_experts_weighs_the_experts_by_the_softmax_of_the_gate():
    mixture = MixtureOfExperts(2)
    mixture.build((None, 2), (None, 2, 2))
    # Gate logits = shared @ kernel: row 0 [0, ln 3] -> weights [1/4, 3/4]; row 1 [0, 0] -> [1/2, 1/2].
    mixture.set_weights([np.array([[0.0, np.log(3.0)], [0.0, 0.0]]), np.zeros(2)])
    shared = np.array([[1.0, 5.0], [0.0, 5.0]], "float32")
    experts = np.array([[[4.0, 0.0], [0.0, 8.0]], [[4.0, 0.0], [0.0, 8.0]]], "float32")
    np.testing.assert_allclose(mixture(shared, experts), [[1.0, 6.0], [2.0, 4.0]], rtol=1e-6)
    assert MixtureOfExperts.from_config(mixture.get_config()).experts == 2


def attention_scoring_dot_products() -> AttentionPooling:
    """One hidden unit relu(<h, c>) (the h * c quarter of [h, c, h - c, h * c], summed), scored as it is."""
    attention = AttentionPooling([1])
    attention.build((None, 2), (None, 3, 2), (None, 3))
    attention.set_weights([np.array([[0.0]] * 6 + [[1.0], [1.0]]), np.zeros(1), np.array([[1.0]]), np.zeros(1)])
    return attention


def test_attention_pooling_sums_the_history_weighted_by_its_score_against_the_candidate():
    candidate = np.array([[1.0, 2.0]], "float32")
    history = np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]], "float32")
    # Scores relu(<h, c>): 1, 2 and relu(-3) = 0, not normalised: 1 * [1, 0] + 2 * [0, 1] + 0 = [1, 2].
    pooled = attention_scoring_dot_products()(candidate, history, np.array([[True, True, True]]))
    np.testing.assert_allclose(pooled, [[1.0, 2.0]])


def test_attention_pooling_ignores_absent_history_entries():
    attention = attention_scoring_dot_products()
    candidate = np.array([[1.0, 2.0], [1.0, 2.0]], "float32")
    # The padded third entry would score relu(10 + 20) = 30 and add [300, 300] if it counted.
    history = np.array([[[1.0, 0.0], [0.0, 1.0], [10.0, 10.0]], [[1.0, 0.0], [0.0, 1.0], [10.0, 10.0]]], "float32")
    present = np.array([[True, True, False], [False, False, False]])
    np.testing.assert_allclose(attention(candidate, history, present), [[1.0, 2.0], [0.0, 0.0]])

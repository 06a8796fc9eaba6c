import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from features.spec import Feature
from models.preprocessing import (
    CheckedIds,
    HashedIds,
    NumericStats,
    Standardize,
    model_inputs,
    numeric_stats,
    raw_input,
    standardized,
)

COUNT = Feature("n_click", "numeric", "bigint", ("deep",), log1p=True)
RATE = Feature("ctr", "numeric", "double", ("deep",))
GENRES = Feature("genres", "multi_categorical", "string", ("deep",), buckets=10, embedding_dim=2, max_length=3)


def test_numeric_stats_stream_batches_after_log1p_and_skip_missing():
    batches = [
        {"n_click": np.array([0.0, math.e - 1, np.nan]), "ctr": np.array([1.0, 2.0, np.nan]), "genres": None},
        {"n_click": np.array([math.e**2 - 1, -5.0]), "ctr": np.array([3.0, 6.0])},
    ]
    stats = numeric_stats([COUNT, RATE, GENRES], iter(batches))
    # log1p(max(x, 0)) of the present counts: 0, 1, 2, 0.
    assert stats["n_click"].count == 4
    assert stats["n_click"].mean == pytest.approx(0.75)
    assert stats["n_click"].variance == pytest.approx((0.5625 + 0.0625 + 1.5625 + 0.5625) / 4)
    assert stats["ctr"] == NumericStats(mean=3.0, variance=pytest.approx((4 + 1 + 0 + 9) / 4), count=4)
    assert set(stats) == {"n_click", "ctr"}


def test_numeric_stats_refuse_a_feature_without_values():
    with pytest.raises(ValueError, match="without any training value: ctr"):
        numeric_stats([COUNT, RATE], [{"n_click": np.array([1.0]), "ctr": np.array([np.nan])}])


def test_standardize_centres_scales_and_flags_missing_values():
    plain = Standardize(mean=1.0, variance=4.0, log1p=False)
    values = np.array([[3.0], [np.nan], [1.0], [-1.0]], "float32")
    # A missing value is (0, 1): no value, flagged; the training mean (1.0) is (0, 0), a value that is average.
    np.testing.assert_allclose(plain(values), [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0], [-1.0, 0.0]])
    logged = Standardize(mean=1.0, variance=0.25, log1p=True)
    values = np.array([[math.e - 1], [-3.0], [np.nan]], "float32")
    np.testing.assert_allclose(logged(values), [[0.0, 0.0], [-2.0, 0.0], [0.0, 1.0]], atol=1e-6)
    constant = Standardize(mean=2.0, variance=0.0, log1p=False)
    np.testing.assert_allclose(constant(np.array([[2.0], [5.0]], "float32")), [[0.0, 0.0], [3.0, 0.0]])


def test_one_standardize_of_several_features_is_each_features_own_side_by_side():
    values = np.array([[3.0, math.e - 1], [np.nan, -3.0], [1.0, np.nan]], "float32")
    together = Standardize(mean=[1.0, 1.0], variance=[4.0, 0.25], log1p=[False, True])(values)
    alone = [Standardize(mean=1.0, variance=4.0, log1p=False)(values[:, :1]),
             Standardize(mean=1.0, variance=0.25, log1p=True)(values[:, 1:])]
    np.testing.assert_allclose(together, np.concatenate(alone, axis=1), atol=1e-6)
    np.testing.assert_allclose(together, [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, -2.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
                               atol=1e-6)


def test_hashed_ids_are_pinned_farmhash_buckets_and_empty_strings_are_absent():
    ids = HashedIds(1000)(tf.constant([["user_1", ""], ["user_1", "item_9"]]))
    # Pinned: a change of hash function would silently remap every warm-started embedding.
    np.testing.assert_array_equal(ids, [[798, -1], [798, int(tf.strings.to_hash_bucket_fast("item_9", 1000))]])
    assert ids.dtype == tf.int64


def test_checked_ids_keep_valid_ids_and_mask_padding_and_out_of_range():
    ids, present = CheckedIds(16)(tf.constant([[3, -1, 16, 15]], dtype=tf.int64))
    np.testing.assert_array_equal(ids, [[3, 0, 0, 15]])
    np.testing.assert_array_equal(present, [[True, False, False, True]])


def test_raw_inputs_are_named_as_features_with_their_shapes_and_dtypes():
    leaves = Feature("gbdt_leaves", "multi_categorical", "int", ("wide",), buckets=8, max_length=4)
    user = Feature("user_id", "categorical", "string", ("deep",), buckets=8, embedding_dim=2)
    inputs = [raw_input(f) for f in (COUNT, GENRES, leaves, user)]
    assert {i.name: (i.shape, i.dtype) for i in inputs} == {
        "n_click": ((None, 1), "float32"),
        "genres": ((None, 3), "string"),
        "gbdt_leaves": ((None, 4), "int64"),
        "user_id": ((None, 1), "string"),
    }


def test_model_inputs_keep_only_the_model_features_as_tensors_of_its_dtypes():
    inputs = {f.name: raw_input(f) for f in (COUNT, GENRES)}
    model = keras.Model(inputs, standardized([COUNT], [inputs["n_click"]], {"n_click": NumericStats(0.0, 1.0, 1)}))
    batch = {
        "n_click": np.array([1, 2]),
        "genres": pd.Series([["a", "b", ""], ["", "", ""]]).to_numpy(),
        "label_click": np.array([0, 1]),
    }
    tensors = model_inputs(model, batch)
    assert set(tensors) == {"n_click", "genres"}
    assert tensors["n_click"].dtype == tf.float32 and tensors["n_click"].shape == (2, 1)
    assert tensors["genres"].numpy().tolist() == [[b"a", b"b", b""], [b"", b"", b""]]
    expected = [[np.log1p(1.0), 0.0], [np.log1p(2.0), 0.0]]  # (standardised value, missing flag)
    np.testing.assert_allclose(model.predict(tensors, verbose=0), expected, rtol=1e-6)

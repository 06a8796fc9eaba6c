"""Preprocessing that lives inside the model (inputs, standardisation, bucket ids), so a SavedModel takes raw rows."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from features.spec import Feature

INT_DTYPES = ("int", "bigint")


@dataclass(frozen=True)
class NumericStats:
    """Mean and (population) variance of a numeric feature after its log1p, over the training rows."""

    mean: float
    variance: float
    count: int


@dataclass
class _Moments:
    count: int = 0
    mean: float = 0.0
    sum_squared_deviations: float = 0.0

    def add(self, values: np.ndarray) -> None:
        """Merge a batch in (Chan et al.): stays accurate where sum and sum-of-squares would cancel out."""
        if values.size == 0:
            return
        batch_mean = float(values.mean())
        batch_deviations = float(((values - batch_mean) ** 2).sum())
        total = self.count + values.size
        delta = batch_mean - self.mean
        self.sum_squared_deviations += batch_deviations + delta**2 * self.count * values.size / total
        self.mean += delta * values.size / total
        self.count = total


def _transformed_numeric(feature: Feature, values: np.ndarray) -> np.ndarray:
    """The values a numeric feature is standardised from: float64, NaN for missing, log1p(max(x, 0)) if asked."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    return np.log1p(np.maximum(values, 0.0)) if feature.log1p else values


def numeric_stats(features: Iterable[Feature], batches: Iterable[Mapping[str, np.ndarray]]) -> dict[str, NumericStats]:
    """Stats of every numeric feature, from one pass over batches of columns; missing (NaN) values are skipped."""
    numerics = [f for f in features if f.kind == "numeric"]
    moments = {f.name: _Moments() for f in numerics}
    for batch in batches:
        for feature in numerics:
            values = _transformed_numeric(feature, batch[feature.name])
            moments[feature.name].add(values[~np.isnan(values)])
    empty = [name for name, m in moments.items() if m.count == 0]
    if empty:
        raise ValueError(f"numeric features without any training value: {', '.join(empty)}")
    return {name: NumericStats(m.mean, m.sum_squared_deviations / m.count, m.count) for name, m in moments.items()}


def entries(feature: Feature) -> int:
    """Values per row of a feature's model input: a list's max_length, else 1."""
    return feature.max_length if feature.kind == "multi_categorical" else 1


def raw_input(feature: Feature) -> keras.KerasTensor:
    """The model input of a feature, named as the feature: numerics float32 (1,), ids (1,) or (max_length,)."""
    if feature.kind == "numeric":
        return keras.Input(shape=(1,), dtype="float32", name=feature.name)
    dtype = "int64" if feature.dtype in INT_DTYPES else "string"
    return keras.Input(shape=(entries(feature),), dtype=dtype, name=feature.name)


@keras.saving.register_keras_serializable(package="dailyrec")
class Standardize(keras.layers.Layer):
    """(batch, n) raw values of n numeric features -> (batch, 2n): per feature, side by side, its standardised value
    (log1p(max(x, 0)) first where asked, then (x - mean) / std with the training stats) and its missing flag, 1
    where the value is missing (NaN). One layer takes all of a model's numerics: a few ops per step, not per feature.

    A missing value is 0 in the first column and 1 in the second, so a model can tell "no history" from an average
    one (features.spec: the one meaning of missing, which the GBDT encodes alike).
    """

    def __init__(self, mean, variance, log1p, **kwargs) -> None:
        super().__init__(**kwargs)
        # One value per feature; a scalar is one feature.
        self.mean = [float(m) for m in np.atleast_1d(mean)]
        self.variance = [float(v) for v in np.atleast_1d(variance)]
        self.log1p = [bool(flag) for flag in np.atleast_1d(log1p)]
        # A constant training column has no spread to divide by; centring alone maps it to 0.
        self.std = [float(np.sqrt(v)) if v > 0 else 1.0 for v in self.variance]

    def call(self, values: keras.KerasTensor) -> keras.KerasTensor:
        missing = ops.isnan(values)
        # NaN must not reach log1p: its gradient would be NaN even where the output is replaced.
        values = ops.where(missing, 0.0, values)
        if any(self.log1p):
            logged = ops.log1p(ops.maximum(values, 0.0))
            values = logged if all(self.log1p) else ops.where(np.array(self.log1p), logged, values)
        mean, std = np.array(self.mean, "float32"), np.array(self.std, "float32")
        standardized = ops.where(missing, 0.0, (values - mean) / std)
        pairs = ops.stack([standardized, ops.cast(missing, standardized.dtype)], axis=-1)
        return ops.reshape(pairs, (-1, 2 * len(self.mean)))

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "variance": self.variance, "log1p": self.log1p}


def string_ids(values, buckets: int) -> tf.Tensor:
    """Strings -> int64 bucket ids: FarmHash64 buckets, stable across processes and days; "" (absent) -> -1.

    The one definition of a string's id: the served model computes it inside (HashedIds) and the training input
    ahead of the steps (models.feature_arrays), so the two agree by construction."""
    # FarmHash64 fingerprints, which TF documents as never changing (keras.layers.Hashing without a salt).
    hashed = tf.strings.to_hash_bucket_fast(values, buckets)
    return tf.where(tf.not_equal(values, ""), hashed, tf.constant(-1, tf.int64))


@keras.saving.register_keras_serializable(package="dailyrec")
class HashedIds(keras.layers.Layer):
    """Raw strings -> their int64 bucket ids (`string_ids`), -1 where absent: the served model's first step."""

    def __init__(self, buckets: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buckets = buckets

    def call(self, values: keras.KerasTensor) -> keras.KerasTensor:
        return string_ids(values, self.buckets)

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets}


@keras.saving.register_keras_serializable(package="dailyrec")
class CheckedIds(keras.layers.Layer):
    """Integer ids -> (bucket ids, present): used as they are; absent (-1) and ids >= buckets are not present."""

    def __init__(self, buckets: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buckets = buckets

    def call(self, values: keras.KerasTensor) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        present = ops.logical_and(ops.greater_equal(values, 0), ops.less(values, self.buckets))
        # Absent entries still need a valid row to look up; their contribution is masked out downstream.
        return ops.where(present, values, 0), present

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets}


@dataclass(frozen=True)
class BucketIds:
    """A categorical feature as (batch, entries) bucket ids and a same-shaped `present` flag; scalars have 1 entry."""

    ids: keras.KerasTensor
    present: keras.KerasTensor


def id_spec(feature: Feature) -> tf.TensorSpec:
    """A batch of a feature as the model that trains (the id model) takes it: a categorical's int64 ids, -1 where
    absent (a string feature hashed ahead, by the training input or by the served model's HashedIds); numerics
    float32 as they are."""
    return tf.TensorSpec((None, entries(feature)), tf.float32 if feature.kind == "numeric" else tf.int64)


def id_input(feature: Feature) -> keras.KerasTensor:
    """The id model's input of a feature (`id_spec`), named as the feature."""
    spec = id_spec(feature)
    return keras.Input(shape=spec.shape[1:], dtype=spec.dtype.name, name=feature.name)


def bucket_ids(feature: Feature, ids: keras.KerasTensor) -> BucketIds:
    checked, present = CheckedIds(feature.buckets, name=f"{feature.name}_ids")(ids)
    return BucketIds(checked, present)


def served_model(id_model: keras.Model, features: Iterable[Feature]) -> keras.Model:
    """The model as served and saved: raw features by name (strings as they are), each string feature hashed to
    its ids (HashedIds), then the id model that trains. Training steps run the id model on ids hashed ahead."""
    by_name = {f.name: f for f in features}
    raw = {spec.name: raw_input(by_name[spec.name]) for spec in id_model.inputs}
    ids = {name: HashedIds(by_name[name].buckets, name=f"{name}_hashed")(value)
           if by_name[name].kind != "numeric" and by_name[name].dtype not in INT_DTYPES else value
           for name, value in raw.items()}
    outputs = id_model(ids)
    # Named layers: Keras names a model's outputs after the layers that make them (else the id model's name).
    return keras.Model(raw, {name: keras.layers.Identity(name=name)(outputs[name]) for name in id_model.output_names},
                       name=id_model.name)


def id_model_of(model: keras.Model) -> keras.Model:
    """The id model inside a served model (`served_model`); a model saved without one is its own id model."""
    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), model)


def standardized(features: Sequence[Feature], raw: Sequence[keras.KerasTensor], stats: Mapping[str, NumericStats]
                 ) -> keras.KerasTensor:
    """(batch, 2n): the n numeric features' raw inputs standardised by one layer, [value, missing flag] each."""
    values = keras.layers.Concatenate(name="numerics")(list(raw)) if len(raw) > 1 else raw[0]
    return Standardize([stats[f.name].mean for f in features], [stats[f.name].variance for f in features],
                       [f.log1p for f in features], name="numerics_standardized")(values)


def model_inputs(model: keras.Model, batch: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
    """A batch of padded columns as the model's inputs: only its features, as tensors of its input shapes and dtypes.

    Keras 3 rejects numpy string arrays in fit/predict and misassigns a dict input that has extra keys.
    """
    return input_tensors(model.inputs, batch)


def dense_column(values) -> np.ndarray:
    """A column as one array; a list column that came as one list per cell (pandas) is stacked."""
    values = np.asarray(values)
    if values.dtype == object and values.size and isinstance(values.flat[0], (list, tuple, np.ndarray)):
        return np.stack(values)
    return values


def input_tensors(specs: Iterable, batch: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
    """Tensors for input specs with a name, shape and dtype: a Keras model's inputs or a SavedModel signature's.

    A list column may also come as one list per cell (pandas), as long as the lists are padded to one length.
    """
    tensors = {}
    for spec in specs:
        values = dense_column(batch[spec.name])
        tensor = tf.convert_to_tensor(values.reshape((-1, *spec.shape[1:])))
        tensors[spec.name] = tensor if spec.dtype == "string" else tf.cast(tensor, spec.dtype)
    return tensors

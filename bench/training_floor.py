"""The machine's floor for a ranker's shape: a plain Keras model with the product model's tables (embeddings, wide
weights), MLP (its dropout too) and FM, on ids hashed to int buckets up front, from memory, with sparse (lazy) Adam
updates and tables read row by row (models.tables.SparseReadEmbedding). bench.training_speed runs it next to the
product's training path."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import keras
import numpy as np
import pyarrow as pa
import tensorflow as tf

from models.optimizers import LazyAdam
from models.tables import SparseReadEmbedding

STEPS_PER_EXECUTION = 16  # as conf/base.yaml sets for the product


def floor_model(model_name: str, spec, dropout: float) -> keras.Model:
    """The same tables and MLP on int ids, with no preprocessing layers: the machine's floor for this shape."""
    categorical = [f for f in spec.features if f.kind != "numeric"]
    numerics = [f for f in spec.features if f.kind == "numeric"]
    ids = {f.name: keras.Input((f.max_length or 1,), dtype="int64", name=f.name) for f in categorical}
    dense = keras.Input((2 * len(numerics),), dtype="float32", name="numerics")  # values, then missing flags
    pooled, wide = [], []
    for f in categorical:
        pooled.append(keras.ops.mean(SparseReadEmbedding(f.buckets, f.embedding_dim)(ids[f.name]), axis=1))
        wide.append(keras.ops.sum(SparseReadEmbedding(f.buckets, 1)(ids[f.name]), axis=1))
    hidden = keras.layers.Concatenate()([*pooled, dense])
    for units in (64, 32):
        hidden = keras.layers.Dropout(dropout)(keras.layers.Dense(units, activation="relu")(hidden))
    logit = keras.layers.Add()([keras.layers.Dense(1)(hidden), *wide])
    if model_name == "deepfm":
        fields = keras.ops.stack(pooled, axis=1)
        square_of_sum, sum_of_squares = keras.ops.square(keras.ops.sum(fields, 1)), keras.ops.sum(fields ** 2, 1)
        fm = 0.5 * keras.ops.sum(square_of_sum - sum_of_squares, axis=1, keepdims=True)
        logit = keras.layers.Add()([logit, fm])
    model = keras.Model([*ids.values(), dense], keras.layers.Activation("sigmoid")(logit))
    model.compile(optimizer=LazyAdam(1e-3), loss="binary_crossentropy", steps_per_execution=STEPS_PER_EXECUTION)
    return model


def floor_data(spec, samples: Path, first_day: dt.date, last_day: dt.date, batch: int) -> tf.data.Dataset:
    """The samples of [first_day, last_day] as the floor model takes them: every id hashed to its bucket once, up
    front (the same ids, so a batch touches as many table rows as the product's), numerics with NaN as 0 next to
    their missing flags, all as tensors in memory."""
    from models.feature_arrays import feature_arrays
    from models.sample_batches import latest_snapshot, record_batches

    columns = [*spec.names, "label_like"]
    table = pa.Table.from_batches(record_batches(latest_snapshot(str(samples)), first_day, last_day, columns,
                                                 batch_size=65536))
    arrays = feature_arrays(table.combine_chunks().to_batches()[0], spec.features)
    x = {}
    for f in spec.features:
        if f.kind != "numeric":
            x[f.name] = tf.strings.to_hash_bucket_fast(arrays[f.name], f.buckets)
    values = np.hstack([arrays[f.name] for f in spec.features if f.kind == "numeric"])
    x["numerics"] = np.hstack([np.nan_to_num(values), np.isnan(values)]).astype(np.float32)
    y = table.column("label_like").to_numpy().astype(np.float32).reshape(-1, 1)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).cache()

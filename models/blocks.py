"""Named blocks the rankers are built from: pooled embeddings, linear (wide) part, MLP, FM interaction, task heads,
MMoE's mixture of experts and DIN's attention over the user's history."""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from features.spec import Feature
from models.preprocessing import BucketIds
from models.tables import PooledEmbedding, present_rows


def lookup_penalty(values: keras.KerasTensor, present: keras.KerasTensor) -> keras.KerasTensor:
    """Mean over the batch of the squared values a row looked up (absent entries excluded).

    The L2 of `ranker.l2` penalises only what a batch uses, so the gradient of a 100k-bucket table stays sparse
    (a whole-table penalty would update every row every step).
    """
    mask = ops.cast(present, values.dtype)
    if len(values.shape) > len(mask.shape):
        mask = ops.expand_dims(mask, axis=-1)
    squares = ops.square(values) * mask
    return ops.sum(squares) / ops.cast(ops.shape(values)[0], values.dtype)


@keras.saving.register_keras_serializable(package="dailyrec")
class MaskedMeanPooling(keras.layers.Layer):
    """(batch, entries, dim) vectors and (batch, entries) present flags -> the mean of the present vectors.

    A row with nothing present pools to zeros. With `l2` > 0 the present vectors are penalised (`lookup_penalty`).
    """

    def __init__(self, l2: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.l2 = l2

    def call(self, vectors: keras.KerasTensor, present: keras.KerasTensor) -> keras.KerasTensor:
        if self.l2:
            self.add_loss(self.l2 * lookup_penalty(vectors, present))
        weights = ops.expand_dims(ops.cast(present, vectors.dtype), axis=-1)
        count = ops.sum(weights, axis=1)
        return ops.sum(vectors * weights, axis=1) / ops.maximum(count, 1.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "l2": self.l2}


def pooled_embedding(feature: Feature, ids: BucketIds, l2: float = 0.0) -> keras.KerasTensor:
    """(batch, embedding_dim): the feature's embedding, averaged over its present entries."""
    if feature.embedding_dim <= 0:
        raise ValueError(f"feature {feature.name!r} needs an embedding_dim to be embedded")
    table = PooledEmbedding(feature.buckets, feature.embedding_dim, l2, name=f"{feature.name}_embedding")
    return table(ids.ids, ids.present)


@keras.saving.register_keras_serializable(package="dailyrec")
class Linear(keras.layers.Layer):
    """Wide part: bias + one scalar weight per bucket of each feature, summed over the present entries -> (batch, 1).

    With `l2` > 0 the present entries' weights are penalised (`lookup_penalty`).
    """

    def __init__(self, buckets: Sequence[int], l2: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buckets, self.l2 = list(buckets), l2
        # Zeros, as in a logistic regression: the model starts at the bias and grows only what the data supports.
        self.bucket_weights = [
            self.add_weight(shape=(n,), initializer="zeros", name=f"bucket_weights_{i}")
            for i, n in enumerate(self.buckets)
        ]
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias")

    def call(self, ids: Sequence[keras.KerasTensor], present: Sequence[keras.KerasTensor]) -> keras.KerasTensor:
        logit = self.bias
        for weights, feature_ids, feature_present in zip(self.bucket_weights, ids, present, strict=True):
            # The present entries' weights only: the gradient stays sparse and holds only the weights in use.
            rows = present_rows(weights, feature_ids, feature_present)
            if self.l2:
                self.add_loss(self.l2 * rows.penalty())
            logit = logit + ops.expand_dims(rows.summed(), axis=-1)
        return logit

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets, "l2": self.l2}


@keras.saving.register_keras_serializable(package="dailyrec")
class MLP(keras.layers.Layer):
    """ReLU dense layers of the given widths, each followed by dropout."""

    def __init__(self, units: Sequence[int], dropout: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units, self.dropout = list(units), dropout
        self.hidden = [keras.layers.Dense(n, activation="relu") for n in self.units]
        self.dropouts = [keras.layers.Dropout(dropout) for _ in self.units]

    def build(self, input_shape: tuple) -> None:
        for dense in self.hidden:
            dense.build(input_shape)
            input_shape = (*input_shape[:-1], dense.units)

    def call(self, inputs: keras.KerasTensor, training: bool | None = None) -> keras.KerasTensor:
        outputs = inputs
        for dense, dropout in zip(self.hidden, self.dropouts, strict=True):
            outputs = dropout(dense(outputs), training=training)
        return outputs

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="dailyrec")
class FMInteraction(keras.layers.Layer):
    """FM second-order term over field embeddings (batch, fields, dim) -> (batch, 1).

    sum_{i<j} <v_i, v_j> = 0.5 * sum_k((sum_i v_ik)^2 - sum_i v_ik^2): linear in the number of fields.
    """

    def call(self, fields: keras.KerasTensor) -> keras.KerasTensor:
        square_of_sum = ops.square(ops.sum(fields, axis=1))
        sum_of_squares = ops.sum(ops.square(fields), axis=1)
        return 0.5 * ops.sum(square_of_sum - sum_of_squares, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="dailyrec")
class MixtureOfExperts(keras.layers.Layer):
    """MMoE's gate of one task: (batch, width) shared input and (batch, experts, units) expert outputs ->
    (batch, units), the experts mixed by softmax(Dense(shared)), one weight per expert and row (Ma et al., 2018)."""

    def __init__(self, experts: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.experts = experts
        self.gate = keras.layers.Dense(experts, activation="softmax")

    def build(self, shared_shape: tuple, experts_shape: tuple) -> None:
        self.gate.build(shared_shape)

    def call(self, shared: keras.KerasTensor, experts: keras.KerasTensor) -> keras.KerasTensor:
        weights = ops.expand_dims(self.gate(shared), axis=-1)
        return ops.sum(weights * experts, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "experts": self.experts}


@keras.saving.register_keras_serializable(package="dailyrec")
class AttentionPooling(keras.layers.Layer):
    """DIN's local activation unit (Zhou et al., 2018): a candidate (batch, dim), its history (batch, entries, dim)
    and the history's present flags -> (batch, dim), sum_j a(h_j, c) * h_j over the present entries.

    a is a small MLP over [h, c, h - c, h * c] ending in one linear unit. As in the paper there is no softmax: the
    weights need not sum to one, so how much of the history matches the candidate is kept. Absent entries weigh 0.
    With `l2` > 0 the present history vectors are penalised (`lookup_penalty`).
    """

    def __init__(self, units: Sequence[int], l2: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units, self.l2 = list(units), l2
        self.hidden = [keras.layers.Dense(n, activation="relu") for n in self.units]
        self.score = keras.layers.Dense(1)

    def build(self, candidate_shape: tuple, history_shape: tuple, present_shape: tuple) -> None:
        shape = (*history_shape[:-1], 4 * history_shape[-1])
        for dense in self.hidden:
            dense.build(shape)
            shape = (*shape[:-1], dense.units)
        self.score.build(shape)

    def call(self, candidate: keras.KerasTensor, history: keras.KerasTensor, present: keras.KerasTensor
             ) -> keras.KerasTensor:
        if self.l2:
            self.add_loss(self.l2 * lookup_penalty(history, present))
        candidates = ops.broadcast_to(ops.expand_dims(candidate, axis=1), ops.shape(history))
        scores = ops.concatenate([history, candidates, history - candidates, history * candidates], axis=-1)
        for dense in self.hidden:
            scores = dense(scores)
        weights = self.score(scores) * ops.expand_dims(ops.cast(present, history.dtype), axis=-1)
        return ops.sum(weights * history, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "l2": self.l2}


def task_head(
    hidden: keras.KerasTensor, name: str, extra_logits: Sequence[keras.KerasTensor] = ()
) -> keras.KerasTensor:
    """Probability output `name`: sigmoid of a dense logit over `hidden`, plus logits of other parts (wide, FM)."""
    logit = keras.layers.Dense(1, name=f"{name}_logit")(hidden)
    if extra_logits:
        logit = keras.layers.Add(name=f"{name}_logit_sum")([logit, *extra_logits])
    return keras.layers.Activation("sigmoid", name=name)(logit)

"""The two-tower recall model (DSSM-style; Yi et al. 2019, "Sampling-bias-corrected neural modeling for large
corpus item recommendations"): a user tower and an item tower map raw string ids to unit vectors whose dot product
scores a (user, item) pair, trained with an in-batch softmax corrected by each item's log sampling probability.

User tower: user id, the user's last R items (mean of their id embeddings, the table the item tower uses) and those
items' categories (mean of category embeddings) -> MLP -> unit vector. Item tower: item id, the item's categories and
its activity in the history (two_tower_data.item_stats) -> MLP -> unit vector. Ids and categories go in as strings
("" pads a list): each tower looks them up itself, so the exported user tower serves raw ids.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import keras
from keras import ops

from models.blocks import MLP, MaskedMeanPooling
from models.tables import SparseReadEmbedding
from models.two_tower_data import ITEM_STATS

USER_INPUTS = ("user_id", "recent_items", "recent_categories")
ITEM_INPUTS = ("item_id", "item_categories", "item_stats")


@dataclass(frozen=True)
class Vocabularies:
    users: Sequence[str]
    items: Sequence[str]
    categories: Sequence[str]


@dataclass(frozen=True)
class Towers:
    both: keras.Model  # user and item inputs -> (user vectors, item vectors): what training updates
    user: keras.Model
    item: keras.Model


def _lookup(vocabulary: Sequence[str], name: str) -> keras.layers.StringLookup:
    # Index 0 is the padding "" (absent), 1 an id not in the vocabulary, then the vocabulary in the order given.
    return keras.layers.StringLookup(vocabulary=list(vocabulary), mask_token="", num_oov_indices=1, name=name)


def _pooled(ids: keras.KerasTensor, lookup: keras.layers.StringLookup, table: SparseReadEmbedding,
            name: str) -> keras.KerasTensor:
    indices = lookup(ids)
    present = ops.not_equal(indices, 0)  # padding is not looked up, so it gets no (zero) gradient
    return MaskedMeanPooling(name=name)(table(indices, present), present)


def build_towers(vocabularies: Vocabularies, dim: int, hidden_units: Sequence[int], recent_items: int,
                 max_categories: int, name: str = "") -> Towers:
    """`name` prefixes the three models' names (an ensemble's members need names of their own)."""
    item_lookup = _lookup(vocabularies.items, "item_lookup")
    category_lookup = _lookup(vocabularies.categories, "category_lookup")
    user_lookup = _lookup(vocabularies.users, "user_lookup")
    # Tables read by rows, so that a step's gradient holds only the rows its batch uses and LazyAdam moves only those.
    item_table = SparseReadEmbedding(item_lookup.vocabulary_size(), dim, name="item_embedding")
    category_table = SparseReadEmbedding(category_lookup.vocabulary_size(), dim, name="category_embedding")
    user_table = SparseReadEmbedding(user_lookup.vocabulary_size(), dim, name="user_embedding")

    user_id = keras.Input((), dtype="string", name="user_id")
    recent = keras.Input((recent_items,), dtype="string", name="recent_items")
    recent_categories = keras.Input((recent_items * max_categories,), dtype="string", name="recent_categories")
    user_parts = [user_table(user_lookup(user_id)), _pooled(recent, item_lookup, item_table, "recent_items_mean"),
                  _pooled(recent_categories, category_lookup, category_table, "recent_categories_mean")]
    user_vector = _head(user_parts, hidden_units, dim, "user")

    item_id = keras.Input((), dtype="string", name="item_id")
    item_categories = keras.Input((max_categories,), dtype="string", name="item_categories")
    item_stats = keras.Input((ITEM_STATS,), dtype="float32", name="item_stats")
    item_parts = [item_table(item_lookup(item_id)),
                  _pooled(item_categories, category_lookup, category_table, "item_categories_mean"), item_stats]
    item_vector = _head(item_parts, hidden_units, dim, "item")

    user_inputs = {"user_id": user_id, "recent_items": recent, "recent_categories": recent_categories}
    item_inputs = {"item_id": item_id, "item_categories": item_categories, "item_stats": item_stats}
    return Towers(both=keras.Model({**user_inputs, **item_inputs}, [user_vector, item_vector], name=f"{name}two_tower"),
                  user=keras.Model(user_inputs, user_vector, name=f"{name}user_tower"),
                  item=keras.Model(item_inputs, item_vector, name=f"{name}item_tower"))


def ensemble(members: Sequence[Towers]) -> Towers:
    """Towers trained alike from different seeds, as one: each side's member vectors side by side, scaled by
    1/sqrt(K), so that the joined vectors have unit length and a (user, item) dot product is the mean of the K
    members' cosines. One seed's towers, trained on a few thousand rows, rank differently from another's by about as
    much as a setting changes them; the mean of several is steadier. One member is returned as it is."""
    if len(members) == 1:
        return members[0]
    user, item = _joined([m.user for m in members], "user_tower"), _joined([m.item for m in members], "item_tower")
    both = keras.Model({**user.input, **item.input}, [user.output, item.output], name="two_tower")
    return Towers(both=both, user=user, item=item)


def _joined(models: Sequence[keras.Model], name: str) -> keras.Model:
    inputs = {key: keras.Input(tensor.shape[1:], dtype=tensor.dtype, name=key)
              for key, tensor in models[0].input.items()}
    vectors = keras.layers.Concatenate(name=f"{name}_members")([model(inputs) for model in models])
    return keras.Model(inputs, keras.layers.Rescaling(1 / math.sqrt(len(models)), name=f"{name}_mean")(vectors),
                       name=name)


def _head(parts: list[keras.KerasTensor], hidden_units: Sequence[int], dim: int, tower: str) -> keras.KerasTensor:
    """The tower's fields -> ReLU MLP -> a linear layer of `dim` -> unit length (the dot product is a cosine)."""
    fields = keras.layers.Concatenate(name=f"{tower}_fields")(parts)
    hidden = MLP(hidden_units, dropout=0.0, name=f"{tower}_mlp")(fields)
    return keras.layers.UnitNormalization(name=f"{tower}_vector")(keras.layers.Dense(dim, name=f"{tower}_out")(hidden))


def in_batch_softmax_loss(users, items, item_ids, log_q, temperature: float):
    """Mean cross-entropy of each user picking its own item among the batch's items, with the log-q correction.

    logits[i, j] = <u_i, v_j> / temperature - log q_j, where q_j is the probability that item j is drawn into a batch
    (its share of the training rows): popular items are in-batch negatives more often than a uniform sample would
    make them, and without the correction the model learns to push them down. A column holding the row's own item
    again (the same item twice in the batch) is not a negative and is masked.
    """
    logits = ops.matmul(users, ops.transpose(items)) / temperature - ops.expand_dims(log_q, 0)
    rows = ops.shape(logits)[0]
    own = ops.eye(rows, dtype="bool")
    same_item = ops.equal(ops.expand_dims(item_ids, 1), ops.expand_dims(item_ids, 0))
    logits = ops.where(ops.logical_and(same_item, ops.logical_not(own)), ops.full_like(logits, -1e9), logits)
    labels = ops.arange(rows)
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))

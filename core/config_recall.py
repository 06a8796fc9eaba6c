"""The `recall` section of the config schema: what an interaction is, and each recall source's knobs."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.config_base import Frozen


class AlsConfig(Frozen):
    rank: int
    alpha: float  # confidence = 1 + alpha * interaction strength (Hu, Koren, Volinsky 2008)
    reg_param: float
    max_iter: int
    blocks: int  # user and item blocks; fixed so that a re-run partitions (and so computes) identically
    seed: int


class ItemCfConfig(Frozen):
    max_history: int  # skew control: only a user's most recent items enter the co-occurrence self-join
    max_item_users: int  # skew control: a very popular item keeps a seeded sample of this many users
    neighbours: int  # M most similar items kept per item
    recent_items: int  # a user's candidates come from the neighbours of their last R items
    half_life_days: float  # recency weight of a recent item = 0.5 ** ((days before D - 1) / half life)


class Item2VecConfig(Frozen):
    vector_size: int
    window: int  # Word2Vec context: this many items either side in a user's sequence
    min_count: int  # items seen fewer times get no vector (and so are never candidates)
    max_iter: int
    step_size: float
    seed: int
    recent_items: int  # a user's candidates are the neighbours of their last R items
    half_life_days: float  # recency weight, as item-CF's


class TwoTowerConfig(Frozen):
    embedding_dim: int  # of ids, categories and the towers' output vectors
    hidden_units: list[int]
    recent_items: int  # the user tower pools the user's last R items and their categories
    max_categories: int  # categories kept per item
    min_item_count: int  # an item id of fewer training rows has no embedding of its own (only its categories)
    temperature: float  # in-batch softmax over cosines / temperature
    batch_size: int  # also the number of in-batch negatives (minus one)
    epochs: int
    learning_rate: float
    seed: int
    # K towers trained alike, member j from seed + 1000 * j (apart, so that neighbouring seeds share no member), as
    # one (models.two_tower.ensemble): a pair's score is the mean of the members' cosines; K times the training.
    ensemble: int = Field(ge=1)
    # Search score = cosine / temperature + popularity_weight * log(the item's share of the training rows): the
    # training's log-q correction takes item popularity out of the cosines; this puts back that much of it (1: all
    # of it), the logit of a softmax over the whole catalogue. 0: the towers alone.
    popularity_weight: float = Field(default=0.0, ge=0.0)


class MergeConfig(Frozen):
    tune_days: int  # the merge's weights are chosen on the candidates of [D-T, D-1] and those days' positives
    tune_k: int  # ... by pooled recall@K


class RecallConfig(Frozen):
    history_days: int  # N: recall as of D learns from the interactions of [D-N, D-1]
    # Interaction strength of a (user, item) = sum over event types of weight * (count, or value sum for
    # `values`, e.g. ratings); only pairs with strength > 0 are interactions.
    strength: Literal["counts", "values"]
    event_weights: dict[str, float]
    exclude_seen: bool  # never recommend an item the user interacted with in [D-N, D-1]
    top_k: int  # candidates per user and source
    eval_k: list[int]
    popular_days: int  # the popularity baseline ranks items by distinct users over [D-P, D-1]
    rrf_k: int  # merge: reciprocal rank fusion, score = sum over sources of 1 / (rrf_k + rank)
    als: AlsConfig
    itemcf: ItemCfConfig
    item2vec: Item2VecConfig
    two_tower: TwoTowerConfig
    merge: MergeConfig

    @model_validator(mode="after")
    def _consistent(self) -> "RecallConfig":
        if not self.event_weights or all(weight <= 0 for weight in self.event_weights.values()):
            raise ValueError("event_weights must give at least one event type a positive weight")
        if any(k < 1 or k > self.top_k for k in [*self.eval_k, self.merge.tune_k]):
            raise ValueError(f"eval_k {self.eval_k} and merge.tune_k {self.merge.tune_k} must lie in 1..top_k "
                             f"({self.top_k})")
        if self.popular_days > self.history_days:
            raise ValueError("popular_days cannot exceed history_days (the interactions read)")
        return self

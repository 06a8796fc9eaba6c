"""The feature spec: every feature of the `samples` table declared once, as one record, for Spark and TF alike.

The spec follows from the config (event types, profile windows, rates, attribute columns), so a dataset
overlay never lists features by hand. build_samples checks that what it writes is exactly this spec; the
GBDT job takes its inputs from the `gbdt` group and the TF input code and models from `wide`, `deep`, `fm`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.config_schema import PipelineConfig

Kind = Literal["numeric", "categorical", "multi_categorical"]
Entity = Literal["user", "item"]
GROUPS = ("wide", "deep", "fm", "gbdt")
GBDT_LEAVES = "gbdt_leaves"


def count_column(event_type: str) -> str:
    """Name of the column counting events of a type, e.g. `n_pv`; rollups, profiles and samples share it."""
    return f"n_{event_type}"


def window_column(name: str, days: int) -> str:
    """Name of a value over an N-day window, e.g. `n_pv_7d`."""
    return f"{name}_{days}d"


def missing_flag(name: str) -> str:
    """The 0/1 column saying numeric feature `name` is missing, e.g. `user_n_pv_7d_missing`."""
    return f"{name}_missing"


def model_input_columns(features) -> list[str]:
    """What a reader of numeric features hands its model: each value, then its missing flag."""
    return [column for f in features for column in (f.name, missing_flag(f.name))]


@dataclass(frozen=True)
class Feature:
    """One feature of the samples.

    Missing has one meaning: a numeric is null exactly when it is unknown (a cold user or item has no history, an
    attribute was not given, a window held no event at all), never when it is zero: a count that is zero by
    construction is written as 0 by build_samples. Every reader encodes a null the same way, as a missing flag of 1
    next to a neutral value: the GBDT takes `model_input_columns` (value with null -> 0, then the flag), the TF
    models standardise to (0, flag = 1) (models.preprocessing.Standardize). A categorical's null is an absent id:
    no embedding, no wide weight.
    """

    name: str
    kind: Kind
    dtype: Literal["double", "bigint", "int", "string"]  # Spark type of the value (of each element, for lists)
    groups: tuple[str, ...]
    # numeric: log1p before normalising (counts and ranks are heavy-tailed).
    log1p: bool = False
    # categorical and multi_categorical: values are hashed into this many buckets, so the mapping is the
    # same every day (warm starts stay valid) and needs no vocabulary file.
    buckets: int = 0
    embedding_dim: int = 0
    max_length: int = 0  # multi_categorical: values kept per row
    window_days: int | None = None  # a value over the N days before D (null when those days hold no event)
    # Null on every row whose user (item) had no event in the profiles' longest window before D: the feature comes
    # from that entity's history (its profile, or its events per category), which a cold entity does not have.
    history_of: Entity | None = None

    def in_group(self, group: str) -> bool:
        return group in self.groups


@dataclass(frozen=True)
class FeatureSpec:
    features: tuple[Feature, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def group(self, group: str) -> tuple[Feature, ...]:
        if group not in GROUPS:
            raise KeyError(f"unknown feature group {group!r}; known: {', '.join(GROUPS)}")
        return tuple(f for f in self.features if f.in_group(group))

    def __getitem__(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"no feature {name!r} in the spec")


def feature_spec(cfg: PipelineConfig, with_gbdt_leaves: bool = False) -> FeatureSpec:
    """The features of the samples of this config, in the order build_samples writes them."""
    knobs = cfg.features
    windows, event_types = cfg.profiles.windows, cfg.dataset.canonical_event_types

    def numeric(name: str, dtype: str = "bigint", log1p: bool = True, days: int | None = None,
                history_of: Entity | None = None) -> Feature:
        return Feature(name, "numeric", dtype, ("deep", "gbdt"), log1p=log1p, window_days=days, history_of=history_of)

    def categorical(name: str, buckets: int) -> Feature:
        return Feature(name, "categorical", "string", ("wide", "deep", "fm"), buckets=buckets,
                       embedding_dim=knobs.embedding_dim)

    def multi(name: str, buckets: int, groups: tuple[str, ...] = ("wide", "deep", "fm"),
              history_of: Entity | None = None) -> Feature:
        return Feature(name, "multi_categorical", "string", groups, buckets=buckets,
                       embedding_dim=knobs.embedding_dim, max_length=knobs.max_list_length, history_of=history_of)

    def profile(entity: Entity) -> list[Feature]:
        columns = []
        for days in windows:
            columns += [numeric(f"{entity}_{window_column(count_column(kind), days)}", days=days, history_of=entity)
                        for kind in event_types]
            columns.append(numeric(f"{entity}_{window_column('active_days', days)}", log1p=False, days=days,
                                   history_of=entity))
        columns.append(numeric(f"{entity}_days_since_last_event", "int", log1p=False, history_of=entity))
        columns += [numeric(f"{entity}_{window_column(rate.name, days)}", "double", log1p=False, days=days,
                            history_of=entity)
                    for rate in cfg.profiles.rates for days in windows]
        return columns

    features = [categorical("user_id", knobs.id_buckets), categorical("item_id", knobs.id_buckets)]
    features += profile("user")
    features += [multi("user_top_categories", knobs.category_buckets, history_of="user"),
                 multi("user_recent_items", knobs.id_buckets, history_of="user")]
    features += profile("item")
    features += [numeric(f"item_{window_column('popularity_rank', days)}", "int", days=days, history_of="item")
                 for days in windows]
    for kind, prefix in (("users", "user_"), ("items", "item_")):
        table = getattr(cfg.dataset.attributes, kind)
        for column in table.keep if table else []:
            name = prefix + column
            if column in table.int_columns:
                features.append(numeric(name, "int", log1p=False))
            elif column in table.list_columns:
                features.append(multi(name, knobs.category_buckets))
            else:
                features.append(categorical(name, knobs.category_buckets))
    if cfg.dataset.item_category is not None:
        features += [numeric(window_column("cross_category_events", days), days=days, history_of="user")
                     for days in windows]
    if with_gbdt_leaves:
        # Global leaf ids are below trees * 2 ** depth; each id gets its own weight in the wide part.
        leaves = cfg.gbdt.num_trees * 2 ** cfg.gbdt.max_depth
        features.append(Feature(GBDT_LEAVES, "multi_categorical", "int", ("wide",), buckets=leaves,
                                max_length=cfg.gbdt.num_trees))
    return FeatureSpec(tuple(features))

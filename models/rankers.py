"""Wide&Deep, DeepFM, ESMM, MMoE and DIN, each built from the feature spec's groups and the shared blocks."""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import keras
from keras import ops

from features.spec import Feature, FeatureSpec
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
from models.preprocessing import BucketIds, NumericStats, bucket_ids, id_input, standardized
from models.tables import SparseReadEmbedding


@dataclass(frozen=True)
class ModelParams:
    """Hyperparameters shared by the rankers; embedding sizes and buckets come from the feature spec."""

    hidden_units: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    learning_rate: float = 1e-3
    l2: float = 0.0  # on the wide weights and embedding vectors a batch looks up (models.blocks.lookup_penalty)
    steps_per_execution: int = 1  # training steps per call into TF's graph: Python's cost per step is paid once


@dataclass(frozen=True)
class EncodedFeatures:
    """An id model's inputs (models.preprocessing.id_input) and what its parts consume; each feature is encoded and
    embedded once, then shared."""

    inputs: dict[str, keras.KerasTensor]
    ids: dict[str, BucketIds]
    numeric_names: tuple[str, ...]
    numerics: keras.KerasTensor | None  # (batch, 2n): every numeric feature standardised, [value, missing flag] each
    embeddings: dict[str, keras.KerasTensor]


def encode_features(spec: FeatureSpec, stats: Mapping[str, NumericStats], groups: Sequence[str], l2: float = 0.0,
                    embedded_by_caller: Collection[str] = ()) -> EncodedFeatures:
    """Inputs for the features of `groups` (in spec order); embeddings for the categoricals of `deep` and `fm`, but
    for those in `embedded_by_caller` (which get their ids only, e.g. DIN's items, looked up in one shared table)."""
    used = [f for f in spec.features if any(f.in_group(g) for g in groups)]
    embedded = {f.name for g in groups if g in ("deep", "fm") for f in spec.group(g)
                if f.kind != "numeric" and f.name not in embedded_by_caller}
    inputs = {f.name: id_input(f) for f in used}
    ids = {f.name: bucket_ids(f, inputs[f.name]) for f in used if f.kind != "numeric"}
    numeric = [f for f in used if f.kind == "numeric"]
    numerics = standardized(numeric, [inputs[f.name] for f in numeric], stats) if numeric else None
    embeddings = {f.name: pooled_embedding(f, ids[f.name], l2) for f in used if f.name in embedded}
    return EncodedFeatures(inputs, ids, tuple(f.name for f in numeric), numerics, embeddings)


def _reject_numerics(features: Sequence[Feature], part: str) -> None:
    numeric = [f.name for f in features if f.kind == "numeric"]
    if numeric:
        raise ValueError(f"the {part} part takes categorical features only; got numeric {', '.join(numeric)}")


def wide_logit(features: Sequence[Feature], encoded: EncodedFeatures, l2: float = 0.0) -> keras.KerasTensor:
    """(batch, 1) logit of the linear part over bucketed features."""
    _reject_numerics(features, "linear")
    ids = [encoded.ids[f.name] for f in features]
    return Linear([f.buckets for f in features], l2, name="linear")([i.ids for i in ids], [i.present for i in ids])


def deep_input(features: Sequence[Feature], encoded: EncodedFeatures, extra: Sequence[keras.KerasTensor] = ()
               ) -> keras.KerasTensor:
    """(batch, width): the embeddings of the categoricals, then the standardised numerics, then `extra`, side by
    side. The numerics come as one block: `features` must hold every numeric the model encoded."""
    numeric = tuple(f.name for f in features if f.kind == "numeric")
    if numeric != encoded.numeric_names:
        raise ValueError(f"the deep part takes every numeric of the model as one block; got {numeric}, "
                         f"encoded {encoded.numeric_names}")
    parts = [encoded.embeddings[f.name] for f in features if f.kind != "numeric"]
    return keras.layers.Concatenate(name="deep_input")([*parts, *([encoded.numerics] if numeric else []), *extra])


def fm_fields(features: Sequence[Feature], encoded: EncodedFeatures) -> keras.KerasTensor:
    """(batch, fields, dim): the embeddings of the FM's fields, which must share one size."""
    _reject_numerics(features, "FM")
    sizes = {f.embedding_dim for f in features}
    if len(sizes) != 1:
        raise ValueError(f"FM fields need one embedding_dim; got {sorted(sizes)}")
    return ops.stack([encoded.embeddings[f.name] for f in features], axis=1)


def build_lr(spec: FeatureSpec, stats: Mapping[str, NumericStats], params: ModelParams) -> keras.Model:
    """The baseline: ctr = sigmoid(linear over `wide` + one weight per standardised numeric of `deep`)."""
    encoded = encode_features(spec, stats, ("wide", "deep"), params.l2)
    linear = [wide_logit(spec.group("wide"), encoded, params.l2)]
    if encoded.numerics is not None:
        linear.append(keras.layers.Dense(1, name="numeric_weights")(encoded.numerics))
    ctr = keras.layers.Activation("sigmoid", name="ctr")(keras.layers.Add(name="logit")(linear) if len(linear) > 1
                                                         else linear[0])
    return keras.Model(encoded.inputs, {"ctr": ctr}, name="lr")


def build_wide_deep(spec: FeatureSpec, stats: Mapping[str, NumericStats], params: ModelParams) -> keras.Model:
    """ctr = sigmoid(linear over `wide` + dense over an MLP of the `deep` group)."""
    encoded = encode_features(spec, stats, ("wide", "deep"), params.l2)
    deep = MLP(params.hidden_units, params.dropout, name="deep")(deep_input(spec.group("deep"), encoded))
    ctr = task_head(deep, "ctr", [wide_logit(spec.group("wide"), encoded, params.l2)])
    return keras.Model(encoded.inputs, {"ctr": ctr}, name="wide_deep")


def build_deepfm(spec: FeatureSpec, stats: Mapping[str, NumericStats], params: ModelParams) -> keras.Model:
    """ctr = sigmoid(first order + FM second order + deep), FM and deep on the same embeddings.

    The first-order term is the linear part over the `wide` group, so GBDT leaves count here too.
    """
    encoded = encode_features(spec, stats, ("wide", "deep", "fm"), params.l2)
    second_order = FMInteraction(name="fm")(fm_fields(spec.group("fm"), encoded))
    deep = MLP(params.hidden_units, params.dropout, name="deep")(deep_input(spec.group("deep"), encoded))
    ctr = task_head(deep, "ctr", [wide_logit(spec.group("wide"), encoded, params.l2), second_order])
    return keras.Model(encoded.inputs, {"ctr": ctr}, name="deepfm")


def build_esmm(spec: FeatureSpec, stats: Mapping[str, NumericStats], params: ModelParams) -> keras.Model:
    """ESMM: a CTR and a CVR tower on shared `deep` embeddings; ctcvr = ctr * cvr, so CVR learns over all exposures."""
    encoded = encode_features(spec, stats, ("deep",), params.l2)
    shared = deep_input(spec.group("deep"), encoded)
    ctr = task_head(MLP(params.hidden_units, params.dropout, name="ctr_tower")(shared), "ctr")
    cvr = task_head(MLP(params.hidden_units, params.dropout, name="cvr_tower")(shared), "cvr")
    ctcvr = keras.layers.Multiply(name="ctcvr")([ctr, cvr])
    return keras.Model(encoded.inputs, {"ctr": ctr, "cvr": cvr, "ctcvr": ctcvr}, name="esmm")


# MMoE's shared experts: a few more than the two tasks, so each gate can keep some experts to its task and share
# others; each expert costs one more MLP per step. A constant, not a config knob, until a dataset shows it matters.
MMOE_EXPERTS = 4


def build_mmoe(spec: FeatureSpec, stats: Mapping[str, NumericStats], params: ModelParams) -> keras.Model:
    """MMoE: MMOE_EXPERTS MLPs on shared `deep` embeddings, mixed per task by its own softmax gate, then a tower per
    task. ctr learns the click and ctcvr click-and-conversion, both over all exposures (no cvr output)."""
    encoded = encode_features(spec, stats, ("deep",), params.l2)
    shared = deep_input(spec.group("deep"), encoded)
    experts = ops.stack([MLP(params.hidden_units, params.dropout, name=f"expert_{i}")(shared)
                         for i in range(MMOE_EXPERTS)], axis=1)
    outputs = {}
    for task in ("ctr", "ctcvr"):
        mixed = MixtureOfExperts(MMOE_EXPERTS, name=f"{task}_gate")(shared, experts)
        # The tower is one layer as wide as an expert's output: the experts already hold the depth.
        outputs[task] = task_head(MLP(params.hidden_units[-1:], params.dropout, name=f"{task}_tower")(mixed), task)
    return keras.Model(encoded.inputs, outputs, name="mmoe")


# DIN's candidate and the history it attends over: both item ids, looked up in one embedding table.
DIN_CANDIDATE, DIN_HISTORY = "item_id", "user_recent_items"
DIN_ATTENTION_UNITS = (16,)  # the activation unit's hidden layer: small, it scores one (history, candidate) pair


def din_item_embedding(spec: FeatureSpec) -> SparseReadEmbedding:
    """The one table of DIN's candidate and history items. Both must be in `deep` and hashed alike (same dtype and
    buckets), so that one item is one row whether it is the candidate or in the history."""
    missing = [n for n in (DIN_CANDIDATE, DIN_HISTORY) if n not in {f.name for f in spec.group("deep")}]
    if missing:
        raise ValueError(f"DIN needs {', '.join(missing)} in the deep group")
    candidate, history = spec[DIN_CANDIDATE], spec[DIN_HISTORY]
    shapes = {(f.dtype, f.buckets, f.embedding_dim) for f in (candidate, history)}
    if len(shapes) != 1 or candidate.embedding_dim <= 0:
        raise ValueError(f"DIN shares one table between {DIN_CANDIDATE} and {DIN_HISTORY}, which need the same "
                         f"dtype, buckets and a (same) embedding_dim; got {sorted(shapes)}")
    return SparseReadEmbedding(candidate.buckets, candidate.embedding_dim, name="item_embedding")


def build_din(spec: FeatureSpec, stats: Mapping[str, NumericStats], params: ModelParams) -> keras.Model:
    """DIN: the user's recent items pooled by their attention to the candidate item, next to the candidate and the
    other `deep` features, through an MLP; ctr = sigmoid(that + the linear part over `wide`), as in Wide&Deep."""
    items = din_item_embedding(spec)
    encoded = encode_features(spec, stats, ("wide", "deep"), params.l2, embedded_by_caller=(DIN_CANDIDATE, DIN_HISTORY))
    candidate_ids, history_ids = encoded.ids[DIN_CANDIDATE], encoded.ids[DIN_HISTORY]
    # An absent candidate pools to zeros (one entry, mean over what is present), so it attends to nothing.
    candidate = MaskedMeanPooling(params.l2, name="candidate_item")(
        items(candidate_ids.ids, candidate_ids.present), candidate_ids.present)
    interest = AttentionPooling(DIN_ATTENTION_UNITS, params.l2, name="user_interest")(
        candidate, items(history_ids.ids, history_ids.present), history_ids.present)
    others = [f for f in spec.group("deep") if f.name not in (DIN_CANDIDATE, DIN_HISTORY)]
    deep = deep_input(others, encoded, [candidate, interest])
    hidden = MLP(params.hidden_units, params.dropout, name="deep")(deep)
    ctr = task_head(hidden, "ctr", [wide_logit(spec.group("wide"), encoded, params.l2)])
    return keras.Model(encoded.inputs, {"ctr": ctr}, name="din")

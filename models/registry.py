"""Rankers by name: how each is built, which outputs carry a loss, and which label each of those learns."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import keras

from features.spec import FeatureSpec
from models.optimizers import LazyAdam
from models.preprocessing import NumericStats, served_model
from models.rankers import ModelParams, build_deepfm, build_din, build_esmm, build_lr, build_mmoe, build_wide_deep


@dataclass(frozen=True)
class Ranker:
    build: Callable[[FeatureSpec, Mapping[str, NumericStats], ModelParams], keras.Model]
    # Output -> position of its label among the samples' label columns (features.samples.label_columns: the
    # click-like label first, then the conversion). Outputs not listed, like ESMM's cvr, get no loss.
    trained_outputs: Mapping[str, int]

    @property
    def learns_ctcvr(self) -> bool:
        """Whether the model scores click-and-conversion over all exposures, so it is judged on ctcvr too."""
        return "ctcvr" in self.trained_outputs


RANKERS: dict[str, Ranker] = {
    "lr": Ranker(build_lr, {"ctr": 0}),  # the baseline every ranker must beat
    "wide_deep": Ranker(build_wide_deep, {"ctr": 0}),
    "deepfm": Ranker(build_deepfm, {"ctr": 0}),
    "esmm": Ranker(build_esmm, {"ctr": 0, "ctcvr": 1}),
    "mmoe": Ranker(build_mmoe, {"ctr": 0, "ctcvr": 1}),
    "din": Ranker(build_din, {"ctr": 0}),
}


def ranker(name: str) -> Ranker:
    if name not in RANKERS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(RANKERS)}")
    return RANKERS[name]


def build_model(name: str, spec: FeatureSpec, stats: Mapping[str, NumericStats], params: ModelParams) -> keras.Model:
    """The ranker as served: raw features in. Its id model (models.preprocessing.id_model_of) is what trains."""
    return served_model(ranker(name).build(spec, stats, params), spec.features)


def output_losses(name: str, model: keras.Model) -> dict[str, str | None]:
    """Binary cross-entropy on the trained outputs, None (no loss) on the others."""
    trained = ranker(name).trained_outputs
    return {output: "binary_crossentropy" if output in trained else None for output in model.output_names}


def compile_model(name: str, model: keras.Model, params: ModelParams) -> None:
    model.compile(optimizer=LazyAdam(params.learning_rate), loss=output_losses(name, model),
                  steps_per_execution=params.steps_per_execution)


def output_labels(name: str, label_columns: Sequence[str]) -> dict[str, str]:
    """Trained output -> the label column it learns, e.g. esmm: ctr <- label_click, ctcvr <- label_conversion."""
    trained = ranker(name).trained_outputs
    if len(label_columns) <= max(trained.values()):
        raise ValueError(f"model {name!r} learns {', '.join(trained)} but the samples only label {list(label_columns)}")
    return {output: label_columns[position] for output, position in trained.items()}

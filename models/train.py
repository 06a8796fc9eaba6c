"""Train a ranker as of D: fit on the samples of [D-M, D-2], early-stop on D-1, evaluate on D.
(When D-1 is an empty day, without samples, the latest earlier day with samples takes its place; with
samples.attribution_days W > 0 the fit and early-stopping days end W days earlier, where labels are known before D.)

    python -m models.train --ds 1998-04-22 --model wide_deep --conf conf/local.yaml,conf/datasets/movielens_100k.yaml

Never reads a sample of D before the model is final. Writes the candidate to
`<artifact_root>/candidates/<model>/<D>/` (model.keras, metrics.json) and its metrics to the Delta table
`ranker_metrics`, with the samples' Delta version and the config hash, so a run says exactly what it used.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import keras
import numpy as np

from core.cli import one_line_errors, parse_day
from core.config import add_conf_option, load_config
from core.config_schema import PipelineConfig
from core.delta_arrow import partition_days
from core.errors import PipelineError
from core.metrics import auc, calibration, gauc, logloss, recalibrate
from core.tables import GBDT_LEAVES_TABLE, RANKER_METRICS_TABLE, SAMPLES_TABLE
from features.samples import label_columns
from features.spec import FeatureSpec, feature_spec
from models.days import TrainingDays
from models.inputs import LeafLookup, TrainingInput
from models.preprocessing import id_model_of, numeric_stats
from models.rankers import ModelParams
from models.registry import build_model, compile_model, output_labels, ranker
from models.sample_batches import Snapshot, latest_snapshot
from models.serving import Scorer, keras_scorer, recalibrated_ctcvr

CANDIDATES = "candidates"


def training_days(cfg: PipelineConfig, ds: dt.date, snapshot: Snapshot) -> TrainingDays:
    """The days of D's training as the samples table stands at `snapshot` (the gate judges on the same ones)."""
    return TrainingDays.as_of(ds, cfg.ranker.train_days, partition_days(snapshot.path, "dt", snapshot.version),
                              cfg.samples.attribution_days)


def config_hash(cfg: PipelineConfig) -> str:
    """A short hash of the merged config (minus where files live), recorded with every model."""
    where = {"sources": True, "lake_root": True, "artifact_root": True, "cache_dir": True, "gate": {"export_root"}}
    values = cfg.model_dump(mode="json", exclude=where)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def model_spec(cfg: PipelineConfig) -> FeatureSpec:
    """The rankers' features: the samples' spec (with GBDT leaves if used) less `ranker.exclude_features`."""
    spec = feature_spec(cfg, with_gbdt_leaves=cfg.ranker.use_gbdt_leaves)
    excluded = set(cfg.ranker.exclude_features)  # names of the spec: core.config checks them when it loads
    return FeatureSpec(tuple(f for f in spec.features if f.name not in excluded))


def task_labels(cfg: PipelineConfig, task: str) -> tuple[str, ...]:
    """The label columns a task learns: `ctr` the sample mode's labels, `cvr` the conversion label alone."""
    labels = label_columns(cfg.samples.mode)
    if task == "ctr":
        return labels
    if len(labels) < 2:
        raise ValueError(f"task cvr needs a conversion label; the samples only label {list(labels)}")
    return labels[1:2]


def model_params(cfg: PipelineConfig) -> ModelParams:
    knobs = cfg.ranker
    return ModelParams(hidden_units=tuple(knobs.hidden_units), dropout=knobs.dropout,
                       learning_rate=knobs.learning_rate, l2=knobs.l2, steps_per_execution=knobs.steps_per_execution)


def training_input(cfg: PipelineConfig, name: str, days: TrainingDays, snapshot: Snapshot,
                   task: str = "ctr") -> TrainingInput:
    """task `cvr`: a single-output model learns the conversion label on clicked rows only (the classic CVR model
    that ESMM is compared with)."""
    spec = model_spec(cfg)
    leaves = None
    if cfg.ranker.use_gbdt_leaves:
        leaves = LeafLookup(latest_snapshot(cfg.table_path(GBDT_LEAVES_TABLE)), days.evaluation, days.fit_first,
                            days.evaluation, cfg.gbdt.num_trees)
    clicked_only = label_columns(cfg.samples.mode)[0] if task == "cvr" else None
    return TrainingInput(snapshot, spec.features, output_labels(name, task_labels(cfg, task)),
                         cfg.ranker.batch_size, cfg.ranker.negative_keep_rate, cfg.ranker.seed, leaves, clicked_only,
                         cache_bytes=cfg.ranker.input_cache_mib << 20)


def warm_start(model: keras.Model, candidates: Path, before: dt.date) -> str | None:
    """Copy the weights of the latest candidate before `before` into model's id model, layer by layer where shapes
    match.

    Ids are hashed into fixed buckets, so an embedding row means the same id every day; normalisation constants
    are not weights, so each day keeps its own statistics.
    """
    earlier = sorted(p for p in candidates.glob("*/model.keras") if p.parent.name < before.isoformat())
    if not earlier:
        return None
    try:
        previous = id_model_of(keras.saving.load_model(earlier[-1], compile=False))
    except Exception as error:  # whatever stops it loading: say so, and start fresh
        # E.g. a candidate saved by code whose model took other inputs (before the id model, HashedIds gave pairs).
        print(f"warm start: none; {earlier[-1]} does not load with this code: {type(error).__name__}: "
              f"{str(error)[:200]}", file=sys.stderr)
        return None
    for layer in id_model_of(model).layers:
        try:
            source = previous.get_layer(layer.name)
        except ValueError:
            continue
        weights = source.get_weights()
        if weights and [w.shape for w in weights] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(weights)
    return earlier[-1].parent.name


def predict_day(score: Scorer, data: TrainingInput, day: dt.date, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Scores of every sample of `day` (negatives all kept), with labels and user ids for the metrics."""
    outputs: dict[str, list] = {}
    for batch, users, label_values in data.evaluation_batches(day, labels):
        for name, values in score(batch).items():
            outputs.setdefault(name, []).append(values)
        outputs.setdefault("user_id", []).append(users)
        for label, values in label_values.items():
            outputs.setdefault(label, []).append(values)
    if not outputs:
        raise PipelineError(f"no samples of {day} to evaluate on")
    return {name: np.concatenate(parts) for name, parts in outputs.items()}


def day_metrics(name: str, scored: Mapping[str, np.ndarray], labels: Sequence[str], keep_rate: float) -> dict:
    """AUC, logloss, GAUC and calibration of ctr on its label; for a model that learns ctcvr (ESMM, MMoE) also
    CTCVR on all rows, and for ESMM CVR on clicked rows. With a conversion label, `conversion_auc` ranks D's
    conversions among all its rows by each model's best score for them: ctcvr where it is learned, ctr otherwise
    (a click model's ranking of what gets bought), so that every model has one figure for conversions."""
    ctr = recalibrate(scored["ctr"], keep_rate)
    click = scored[labels[0]]
    metrics = {"rows": int(len(click)), "label_rate": float(np.mean(click)), "auc": auc(ctr, click),
               "logloss": logloss(ctr, click), "gauc": gauc(ctr, click, scored["user_id"]),
               "calibration": calibration(ctr, click)}
    if ranker(name).learns_ctcvr:
        conversion = scored[labels[1]]
        # The true-rate ctcvr, as models.serving.serving_model serves it.
        ctcvr = recalibrated_ctcvr(scored["ctcvr"], scored["ctr"], keep_rate)
        metrics.update({"ctr_auc": metrics["auc"], "ctcvr_auc": auc(ctcvr, conversion),
                        "ctcvr_logloss": logloss(ctcvr, conversion),
                        "ctcvr_calibration": calibration(ctcvr, conversion)})
    if len(labels) > 1:
        metrics["conversion_auc"] = metrics["ctcvr_auc"] if "ctcvr_auc" in metrics else auc(ctr, scored[labels[1]])
    if "cvr" in scored:  # ESMM
        clicked = click > 0
        metrics["cvr_auc"] = auc(scored["cvr"][clicked], scored[labels[1]][clicked])
    return metrics


def stepped_model(name: str, model: keras.Model, data: TrainingInput, params: ModelParams) -> keras.Model:
    """The compiled model whose steps fit() runs: the id model (models.preprocessing.id_model_of) on the ids the input
    hashed ahead, taking the input's packed blocks (models.input_cache.Packing.model_on_blocks). It shares every
    weight with the served model, which is what is scored, saved and exported."""
    stepped = data.packing().model_on_blocks(id_model_of(model))
    compile_model(name, stepped, params)
    return stepped


def train(cfg: PipelineConfig, ds: dt.date, name: str, task: str = "ctr") -> dict:
    keras.utils.set_random_seed(cfg.ranker.seed)
    snapshot = latest_snapshot(cfg.table_path(SAMPLES_TABLE))
    days = training_days(cfg, ds, snapshot)
    data = training_input(cfg, name, days, snapshot, task)
    began = time.perf_counter()
    stats = numeric_stats(data.features, data.numeric_batches(days.fit_first, days.fit_last))
    params = model_params(cfg)
    model = build_model(name, model_spec(cfg), stats, params)
    candidates = cfg.artifact_path(CANDIDATES, name if task == "ctr" else f"{name}_{task}")
    warm_from = warm_start(model, candidates, ds) if cfg.ranker.warm_start else None
    trained = stepped_model(name, model, data, params)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.ranker.patience, restore_best_weights=True)
    with warnings.catch_warnings():
        # The input streams, so its length is unknown until a pass ends, and Keras warns there that the input "ran
        # out of data". Nothing is cut short: each epoch is one whole pass, and no steps_per_epoch is set.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = trained.fit(data.dataset(days.fit_first, days.fit_last), epochs=cfg.ranker.max_epochs, verbose=0,
                              shuffle=False,  # the input pipeline shuffles across the days, a new order each epoch
                              validation_data=data.dataset(days.validation, days.validation, shuffle=False),
                              callbacks=[stop])
    train_seconds = time.perf_counter() - began
    # Only now, with the model final, are the samples of D read.
    labels = task_labels(cfg, task)
    scored = predict_day(keras_scorer(model), data, ds, labels)
    metrics = day_metrics(name, scored, labels, cfg.ranker.negative_keep_rate)
    record = {"model": candidates.name, "task": task, "ds": ds.isoformat(), **metrics,
              "epochs": len(history.history["loss"]), "train_seconds": round(train_seconds, 1),
              "samples_version": snapshot.version,
              "fit_days": [days.fit_first.isoformat(), days.fit_last.isoformat()],
              "validation_day": days.validation.isoformat(),
              "warm_start_from": warm_from, "config_hash": config_hash(cfg),
              "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    out = candidates / ds.isoformat()
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    (out / "metrics.json").write_text(json.dumps(record, indent=1))
    write_ranker_metrics(cfg.table_path(RANKER_METRICS_TABLE), record)
    return record


def write_ranker_metrics(path: str, record: dict) -> None:
    """Replace this (ds, model)'s row of the ranker_metrics Delta table."""
    import pyarrow as pa

    from core.delta_arrow import replace_rows

    row = {key: (json.dumps(value) if isinstance(value, (list, dict)) else value) for key, value in record.items()}
    replace_rows(path, pa.Table.from_pylist([row]), {"ds": record["ds"], "model": record["model"]}, ["ds"])


@one_line_errors(PipelineError, KeyError, ValueError)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=parse_day, required=True, help="evaluation day D, YYYY-MM-DD")
    parser.add_argument("--model", required=True, help="lr, wide_deep, deepfm, esmm, mmoe or din")
    parser.add_argument("--task", choices=("ctr", "cvr"), default="ctr",
                        help="cvr: learn the conversion label on clicked samples only (a baseline for ESMM's cvr)")
    add_conf_option(parser)
    args = parser.parse_args(argv)
    print(json.dumps(train(load_config(args.conf), args.ds, args.model, args.task)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

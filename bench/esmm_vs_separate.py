"""ESMM next to separately trained CTR and CVR models, scored on the same rows of day D.

    python -m models.train --ds D --model esmm --conf C
    python -m models.train --ds D --model wide_deep --conf C              # the separate CTR model
    python -m models.train --ds D --model wide_deep --task cvr --conf C   # the separate CVR model (clicked rows)
    python -m bench.esmm_vs_separate --ds D --conf C [--truth <synthetic out>/truth.npz]

CTR AUC on every exposure, CVR AUC on clicked exposures, and CTCVR AUC on every exposure: ESMM's ctcvr output
against pCTR x pCVR of the two separate models (the CVR model scores every exposure, as it would in serving,
which is exactly the sample-selection bias ESMM is built to avoid).

With --truth (a synthetic log's hidden model, datasets.synthetic) both pCVRs are also judged on every exposure
against the generator's true conversion probability p(u, i) = P(convert | click, u, i), which exists for unclicked
exposures too. A sampled conversion exists only on clicked rows, so for every exposure the bench draws its own
"had it been clicked, would it convert" label ~ Bernoulli(p) (seeded): AUC against those labels on all, clicked
and unclicked exposures (the unclicked ones are where a model that learned on clicks only is off its training
distribution), next to the oracle's AUC (p itself scoring the same labels: the ceiling, below 1 because the
labels are draws), and the Spearman correlation with p (no sampling noise, ranks every exposure).
"""
from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from bench.common import write_result
from core.cli import parse_day
from core.config import add_conf_option, load_config
from core.config_schema import PipelineConfig
from core.metrics import auc
from core.tables import SAMPLES_TABLE
from datasets.synthetic import load_truth
from features.samples import label_columns
from models.sample_batches import latest_snapshot, record_batches
from models.serving import keras_scorer
from models.train import CANDIDATES, predict_day, training_days, training_input


def day_scores(cfg: PipelineConfig, ds: dt.date, candidate: str, name: str) -> dict[str, np.ndarray]:
    """Every sample of D scored by `candidates/<candidate>/<D>`, with the labels."""
    model = keras.saving.load_model(cfg.artifact_path(CANDIDATES, candidate, ds.isoformat(), "model.keras"),
                                    compile=False)
    snapshot = latest_snapshot(cfg.table_path(SAMPLES_TABLE))
    data = training_input(cfg, name, training_days(cfg, ds, snapshot), snapshot)
    return predict_day(keras_scorer(model), data, ds, label_columns(cfg.samples.mode))


def compare(esmm: dict, ctr: dict, cvr: dict, click: str, conversion: str) -> dict[str, dict[str, float | None]]:
    if not (np.array_equal(esmm["user_id"], ctr["user_id"]) and np.array_equal(esmm["user_id"], cvr["user_id"])):
        raise ValueError("the three models did not score the same rows in the same order")
    clicked = esmm[click] > 0
    return {
        "esmm": {"ctr_auc": auc(esmm["ctr"], esmm[click]),
                 "cvr_auc": auc(esmm["cvr"][clicked], esmm[conversion][clicked]),
                 "ctcvr_auc": auc(esmm["ctcvr"], esmm[conversion])},
        "separate": {"ctr_auc": auc(ctr["ctr"], esmm[click]),
                     "cvr_auc": auc(cvr["ctr"][clicked], esmm[conversion][clicked]),
                     "ctcvr_auc": auc(ctr["ctr"] * cvr["ctr"], esmm[conversion])},
    }


def hidden_indices(ids: np.ndarray, prefix: str) -> np.ndarray:
    """The generator's row numbers of its ids ("u17" -> 17)."""
    return np.array([int(value[len(prefix):]) for value in ids], dtype=np.int64)


def counterfactual_conversions(true_cvr: np.ndarray, seed: int) -> np.ndarray:
    """One seeded Bernoulli(true_cvr) draw per exposure: whether it would convert had it been clicked."""
    return (np.random.default_rng(seed).random(len(true_cvr)) < true_cvr).astype(np.int32)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation with average ranks for ties."""
    return float(np.corrcoef(pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy())[0, 1])


def compare_with_truth(pcvr: dict[str, np.ndarray], true_cvr: np.ndarray, drawn: np.ndarray,
                       clicked: np.ndarray) -> dict[str, dict[str, float | None]]:
    """For each model's pCVR over every exposure (and the oracle true_cvr): AUC against the drawn conversions on
    all, clicked and unclicked exposures, and Spearman with true_cvr."""
    figures = {}
    for name, scores in {**pcvr, "oracle": true_cvr}.items():
        figures[name] = {"auc_truth_all": auc(scores, drawn),
                         "auc_truth_clicked": auc(scores[clicked], drawn[clicked]),
                         "auc_truth_unclicked": auc(scores[~clicked], drawn[~clicked]),
                         "spearman_true_cvr": spearman(scores, true_cvr)}
    return figures


def day_items(cfg: PipelineConfig, ds: dt.date, users: np.ndarray) -> np.ndarray:
    """Item ids of D's samples in the order predict_day scored them (the same file-order read)."""
    snapshot = latest_snapshot(cfg.table_path(SAMPLES_TABLE))
    batches = list(record_batches(snapshot, ds, ds, ["user_id", "item_id"], cfg.ranker.batch_size))
    if not np.array_equal(np.concatenate([b.column("user_id").to_numpy(zero_copy_only=False) for b in batches]),
                          users):
        raise ValueError("D's samples were read in another order than they were scored")
    return np.concatenate([b.column("item_id").to_numpy(zero_copy_only=False) for b in batches])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=parse_day, required=True)
    add_conf_option(parser)
    parser.add_argument("--ctr-model", default="wide_deep", help="the separate CTR model (task ctr)")
    parser.add_argument("--truth", type=Path, default=None,
                        help="a synthetic log's truth.npz: also judge both pCVRs against the true conversion")
    parser.add_argument("--seed", type=int, default=0, help="seed of the conversions drawn from the truth")
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    click, conversion = label_columns(cfg.samples.mode)[:2]
    scored = {"esmm": day_scores(cfg, args.ds, "esmm", "esmm"),
              "ctr": day_scores(cfg, args.ds, args.ctr_model, args.ctr_model),
              "cvr": day_scores(cfg, args.ds, f"{args.ctr_model}_cvr", args.ctr_model)}
    figures = compare(scored["esmm"], scored["ctr"], scored["cvr"], click, conversion)
    extra = {}
    if args.truth is not None:
        truth = load_truth(args.truth)
        users = scored["esmm"]["user_id"]
        true_cvr = truth.conversion_probability(hidden_indices(users, "u"),
                                                hidden_indices(day_items(cfg, args.ds, users), "i"))
        clicked = scored["esmm"][click] > 0
        extra = {"truth": compare_with_truth({"esmm": scored["esmm"]["cvr"], "separate": scored["cvr"]["ctr"]},
                                             true_cvr, counterfactual_conversions(true_cvr, args.seed), clicked),
                 "truth_file": str(args.truth), "clicked_rows": int(clicked.sum()),
                 "mean_true_cvr": {"clicked": float(true_cvr[clicked].mean()),
                                   "unclicked": float(true_cvr[~clicked].mean())}}
    for side, values in {**figures, **extra.get("truth", {})}.items():
        print(f"{side:<9} " + " ".join(f"{k}={v:.4f}" for k, v in values.items() if v is not None))
    write_result(f"esmm_vs_separate_{cfg.dataset.name}", dataset=cfg.dataset.name, days=[args.ds, args.ds],
                 rows=int(len(scored["esmm"]["user_id"])), compared="ESMM vs separate CTR and CVR models on D",
                 figures=figures, seconds=None,
                 ratio={k: round(figures["esmm"][k] / figures["separate"][k], 3) for k in figures["esmm"]}, **extra)


if __name__ == "__main__":
    main()

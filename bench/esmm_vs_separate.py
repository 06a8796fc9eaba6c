"""ESMM next to separately trained CTR and CVR models, scored on the same rows of day D.

    python -m models.train --ds D --model esmm --conf C
    python -m models.train --ds D --model wide_deep --conf C              # the separate CTR model
    python -m models.train --ds D --model wide_deep --task cvr --conf C   # the separate CVR model (clicked rows)
    python -m bench.esmm_vs_separate --ds D --conf C

CTR AUC on every exposure, CVR AUC on clicked exposures, and CTCVR AUC on every exposure: ESMM's ctcvr output
against pCTR x pCVR of the two separate models (the CVR model scores every exposure, as it would in serving,
which is exactly the sample-selection bias ESMM is built to avoid).
"""
from __future__ import annotations

import argparse
import datetime as dt

import keras
import numpy as np

from bench.common import write_result
from core.cli import parse_day
from core.config import PipelineConfig, add_conf_option, load_config
from core.metrics import auc
from core.tables import SAMPLES_TABLE
from features.samples import label_columns
from models.inputs import latest_snapshot
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=parse_day, required=True)
    add_conf_option(parser)
    parser.add_argument("--ctr-model", default="wide_deep", help="the separate CTR model (task ctr)")
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    click, conversion = label_columns(cfg.samples.mode)[:2]
    scored = {"esmm": day_scores(cfg, args.ds, "esmm", "esmm"),
              "ctr": day_scores(cfg, args.ds, args.ctr_model, args.ctr_model),
              "cvr": day_scores(cfg, args.ds, f"{args.ctr_model}_cvr", args.ctr_model)}
    figures = compare(scored["esmm"], scored["ctr"], scored["cvr"], click, conversion)
    for side, values in figures.items():
        print(f"{side:<9} " + " ".join(f"{k}={v:.4f}" for k, v in values.items()))
    write_result(f"esmm_vs_separate_{cfg.dataset.name}", dataset=cfg.dataset.name, days=[args.ds, args.ds],
                 rows=int(len(scored["esmm"]["user_id"])), compared="ESMM vs separate CTR and CVR models on D",
                 figures=figures, seconds=None,
                 ratio={k: round(figures["esmm"][k] / figures["separate"][k], 3) for k in figures["esmm"]})


if __name__ == "__main__":
    main()

"""Gate a candidate ranker of day D and publish it for serving only if every check passes.

    python -m models.validate_and_export --ds 1998-04-22 --model wide_deep --conf conf/local.yaml,...

1. Data: day D's samples against a row floor, label-rate bounds, null-rate ceilings, and PSI drift against D-1 (or,
   when D-1 is an empty day, against the latest earlier day with samples, the one the candidate early-stopped on).
   A feature over a window of days without any event (the 1-day ones after an empty day of a dump) is null by
   right: its null rate is noted, not held to a ceiling. A feature taken from a user's (item's) history is held to
   its ceiling on the rows whose user (item) had an event in the profiles' longest window before D: a newcomer's
   row is null by right (models.gate_data reads all this).
2. Model: the candidate (`models.train`'s `candidates/<model>/<D>/model.keras`) scored on D against absolute
   bounds, and against the blessed version re-scored on the same rows through its export (the first model of a
   name has no baseline; the record says so). ESMM is held to this on ctr and ctcvr.
3. Serving: the candidate is exported as a SavedModel into a hidden staging directory, loaded in a fresh
   `python -I` process where this project cannot be imported, and must score golden rows of D like the training
   process (within gate.parity_tolerance) and rows of missing and unknown values without failing.
4. Publish: only then is the staging directory renamed to `<export_root>/<model>/<next version>/` (TensorFlow
   Serving's layout: the highest version is served, and it is the blessed one), keeping the newest
   gate.keep_versions.

Fail closed: any failed check (or error while checking) leaves the published versions untouched. A rejection
exits 2 (core.errors.GATE_REJECTED_EXIT) with one line naming the check, its value and threshold; exit 1 means the
gate could not run. Every decision, pass or fail, is appended to the Delta table
`model_registry` and written in full to `<artifact_root>/gate/<model>/<D>/report.json`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np

from core.cli import one_line_errors, parse_day
from core.config import add_conf_option, load_config
from core.config_schema import PipelineConfig
from core.errors import GATE_REJECTED_EXIT, PipelineError
from core.tables import SAMPLES_TABLE
from features.samples import label_columns
from models.checks import Check, model_checks, noted, serving_checks
from models.gate_data import check_data
from models.gate_decision import Decision, record
from models.inputs import TrainingInput
from models.registry import ranker
from models.sample_batches import latest_snapshot
from models.serving import (
    blessed_as_of,
    directory_bytes,
    edge_rows,
    export_inputs,
    json_rows,
    keras_scorer,
    probe_in_fresh_process,
    publish,
    published_as,
    saved_model_scorer,
    serving_model,
    staging_dir,
    version_info,
    versions,
    weights_digest,
    write_version_info,
)
from models.train import CANDIDATES, day_metrics, predict_day, training_days, training_input


def checked_prefixes(name: str) -> tuple[str, ...]:
    return ("", "ctcvr_") if ranker(name).learns_ctcvr else ("",)


def golden_rows(data: TrainingInput, ds: dt.date, labels: list[str], count: int) -> dict[str, np.ndarray]:
    """The first `count` samples of D, as the model's raw inputs."""
    parts: dict[str, list] = {}
    taken = 0
    for batch, _, _ in data.evaluation_batches(ds, labels):
        for name, values in batch.items():
            parts.setdefault(name, []).append(values[:count - taken])
        taken += len(next(iter(batch.values())))
        if taken >= count:
            break
    return {name: np.concatenate(values) for name, values in parts.items()}


def check_serving(model: keras.Model, staging: Path, golden: dict[str, np.ndarray], tolerance: float) -> list[Check]:
    model.export(str(staging), format="tf_saved_model", verbose=False)
    names = list(export_inputs(model))
    try:
        probe = probe_in_fresh_process(staging, {"golden": json_rows(golden, names), "edge": edge_rows(model)})
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        return [Check("serving_load", None, f"loads and scores in a fresh TF-only process ({err})", False)]
    expected = keras_scorer(model)(golden)
    return serving_checks(expected, probe["scores"]["golden"], probe["scores"]["edge"],
                          probe["project_modules_loaded"], tolerance)


def score_candidate_and_blessed(cfg: PipelineConfig, name: str, ds: dt.date, model: keras.Model,
                                data: TrainingInput, model_dir: Path, blessed: int | None,
                                checks: list[Check]) -> tuple[dict, dict | None]:
    """Day-D metrics of the candidate and of the blessed export on the same rows; appends the model checks.
    A candidate that cannot be scored at all gets a failed check instead of metrics."""
    labels = list(label_columns(cfg.samples.mode))
    keep_rate = cfg.ranker.negative_keep_rate
    try:
        metrics = day_metrics(name, predict_day(keras_scorer(model), data, ds, labels), labels, keep_rate)
    except PipelineError as err:
        checks.append(Check("candidate_scoring", None, f"scores the samples of D ({err})", False))
        return {}, None
    baseline = None
    if blessed is not None:
        try:
            # An export serves recalibrated probabilities already (serving_model): no second recalibration.
            baseline = day_metrics(name, predict_day(saved_model_scorer(model_dir / str(blessed)), data, ds, labels),
                                   labels, keep_rate=1.0)
        except (KeyError, OSError, ValueError) as err:  # e.g. it takes a feature the samples no longer have
            checks.append(Check("blessed_rescoring", None, f"blessed v{blessed} loads and scores D ({err!r})",
                                False))
    checks += model_checks(metrics, baseline, blessed, checked_prefixes(name), cfg.gate.model)
    return metrics, baseline


def validate_and_export(cfg: PipelineConfig, ds: dt.date, name: str) -> Decision:
    began = time.perf_counter()
    candidate_path = cfg.artifact_path(CANDIDATES, name, ds.isoformat(), "model.keras")
    if not candidate_path.is_file():
        raise PipelineError(f"no candidate at {candidate_path}; run `python -m models.train --ds {ds} --model {name}`")
    model_dir = Path(cfg.gate.export_root) / name
    served = max(versions(model_dir), default=None)
    blessed = blessed_as_of(model_dir, ds.isoformat())
    snapshot = latest_snapshot(cfg.table_path(SAMPLES_TABLE))
    checks = check_data(cfg, snapshot, ds)

    model = keras.saving.load_model(candidate_path, compile=False)
    data = training_input(cfg, name, training_days(cfg, ds, snapshot), snapshot)
    labels = list(label_columns(cfg.samples.mode))
    metrics, baseline = score_candidate_and_blessed(cfg, name, ds, model, data, model_dir, blessed, checks)
    size, version = None, None
    if not all(c.passed for c in checks):  # fail fast: the export and its probe cost more than all the rest
        checks.append(noted("serving", "not checked: an earlier check failed"))
    else:
        staging = staging_dir(model_dir)
        try:
            checks += check_serving(serving_model(model, cfg.ranker.negative_keep_rate), staging,
                                    golden_rows(data, ds, labels, cfg.gate.golden_rows), cfg.gate.parity_tolerance)
            size = directory_bytes(staging)
            digest = weights_digest(model)
            already = published_as(model_dir, digest)
            if already is not None:
                checks.append(noted("publish", f"v{already} holds these weights already: no new version"))
            served_ds = version_info(model_dir, served).get("ds", "") if served is not None else ""
            if already is None and served_ds > ds.isoformat():
                checks.append(noted("publish", f"v{served} of {served_ds} is newer and stays served: a backfilled "
                                               "day is gated, not published"))
            elif all(c.passed for c in checks):
                write_version_info(staging, {"model": name, "ds": ds.isoformat(), "weights_digest": digest,
                                             "metrics": metrics})
                version = already or publish(staging, model_dir, cfg.gate.keep_versions)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone after a publish; a failed or crashed check leaves nothing
    decision = Decision(name, ds, checks, {**metrics, "blessed_metrics": baseline, "samples_version": snapshot.version},
                        blessed, version, max(versions(model_dir), default=None), size,
                        time.perf_counter() - began)
    record(cfg, decision)
    return decision


@one_line_errors(PipelineError, KeyError, ValueError)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=parse_day, required=True, help="evaluation day D of the candidate, YYYY-MM-DD")
    parser.add_argument("--model", required=True, help="a ranker name trained by models.train")
    add_conf_option(parser)
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    decision = validate_and_export(cfg, args.ds, args.model)
    where = Path(cfg.gate.export_root) / args.model
    if not decision.passed:
        print(f"gate failed for {args.model} {args.ds}: {decision.reason}; blessed stays "
              f"v{decision.blessed_version}", file=sys.stderr)
        return GATE_REJECTED_EXIT
    print(f"gate passed for {args.model} {args.ds}: published {where / str(decision.version)} "
          f"({decision.export_bytes} bytes, parity error {decision.parity_error():.2g}, {decision.seconds:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

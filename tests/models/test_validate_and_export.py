"""The gate end to end on a small samples lake: real training, real SavedModel export, real fresh-process probe."""
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake

from core.config import load_config
from core.delta_arrow import delta_dataset
from core.errors import GATE_REJECTED_EXIT
from core.tables import MODEL_REGISTRY_TABLE
from datasets.synthetic import synthetic_samples
from features.spec import feature_spec
from models.gate_data import check_data, eventless_features, warm_rows
from models.sample_batches import latest_snapshot
from models.serving import BLOCK_PROJECT, STAGING_PREFIX, STALE_STAGING_SECONDS, VERSION_INFO, run_isolated, versions
from models.train import train
from models.validate_and_export import checked_prefixes, main, validate_and_export
from tests.conftest import MOVIELENS, gate_without_named_features, overlays_for
from tests.models.test_train import SMALL, D

# The MovieLens overlay's gate watches 30-day item features: the small models' 7-day profiles plus the 30-day window,
# and the MovieLens gate as it is.
GATE_SMALL = {**{key: value for key, value in SMALL.items() if key != "gate"}, "profiles": {"windows": [7, 30]}}

pytestmark = pytest.mark.slow  # each gate exports a SavedModel and starts a TensorFlow process (~10 s)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A lake with samples, a trained wide_deep candidate ("strong", AUC > 0.6) and the same model with every
    weight zeroed ("weak": a constant 0.5, so AUC exactly 0.5)."""
    root = tmp_path_factory.mktemp("gate")
    cfg = load_config(overlays_for(root, MOVIELENS, **GATE_SMALL))
    samples = synthetic_samples(feature_spec(cfg), 2400, D - dt.timedelta(days=3), 4, seed=1)
    write_deltalake(cfg.table_path("samples"), samples, partition_by=["dt"])
    train(cfg, D, "wide_deep")
    candidate = cfg.artifact_path("candidates", "wide_deep", D.isoformat(), "model.keras")
    shutil.copy(candidate, root / "strong.keras")
    model = keras.saving.load_model(candidate, compile=False)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.save(root / "weak.keras")
    return root


def gate_config(built, tmp_path, candidate="strong", **gate):
    """A copy of the built lake and artifacts under tmp_path (each test has its own registry and exports), with
    `candidate` as the day's wide_deep candidate and `gate` overrides."""
    for folder in ("lake", "artifacts"):
        shutil.copytree(built / folder, tmp_path / folder, dirs_exist_ok=True)
    cfg = load_config(overlays_for(tmp_path, MOVIELENS, **GATE_SMALL, gate=gate))
    use_candidate(cfg, built, candidate)
    return cfg


def run_gate(cfg) -> int:
    """The command line, with the config the test built (its overlay files are still in place)."""
    return main(["--ds", D.isoformat(), "--model", "wide_deep", "--conf", ",".join(cfg.sources[1:])])


def use_candidate(cfg, built, name):
    shutil.copy(built / f"{name}.keras", cfg.artifact_path("candidates", "wide_deep", D.isoformat(), "model.keras"))


def registry(cfg):
    frame = delta_dataset(cfg.table_path(MODEL_REGISTRY_TABLE)).to_table().to_pandas()
    return frame.sort_values("decided_at", kind="stable")


def model_dir(cfg):
    return Path(cfg.gate.export_root) / "wide_deep"


def test_the_first_model_passes_on_absolute_checks_is_published_and_recorded(built, tmp_path):
    cfg = gate_config(built, tmp_path)
    decision = validate_and_export(cfg, D, "wide_deep")
    checks = {c.check: c for c in decision.checks}
    assert decision.passed and decision.version == 1 and decision.blessed_version == 1, decision.reason
    assert checks["auc_vs_blessed"].threshold == "no blessed model yet: absolute checks only"
    assert checks["serving_parity"].value <= 1e-5 and checks["serving_tf_only"].value == 0
    assert checks["serving_edge_rows"].passed  # missing and unknown values score in [0, 1]
    published = model_dir(cfg) / "1"
    assert (published / "saved_model.pb").is_file() and decision.export_bytes > 0
    assert versions(model_dir(cfg)) == [1] and not list(model_dir(cfg).glob(f"{STAGING_PREFIX}*"))
    row = registry(cfg).iloc[-1]
    assert (row.model, row.ds, row.version, row.passed, row.blessed_version) == ("wide_deep", D.isoformat(), 1,
                                                                                 True, 1)
    assert row.reason == "" and row.parity_max_abs_error <= 1e-5
    assert cfg.artifact_path("gate", "wide_deep", D.isoformat(), "report.json").is_file()


@pytest.mark.parametrize("gate, failing", [
    ({"data": {"min_rows": 10**6}}, "rows"),
    ({"data": {"null_rate_ceilings": {"user_age": -1.0}}}, "null_rate:user_age"),
    ({"data": {"label_rate": [0.9, 1.0]}}, "label_rate:label_like"),
    ({"data": {"drift_features": ["user_age"], "max_psi": -1.0}}, "psi:user_age"),
    ({"model": {"min_auc": 0.99}}, "auc"),
    ({"model": {"max_logloss": 0.01}}, "logloss"),
    ({"model": {"calibration": [5.0, 10.0]}}, "calibration"),
    ({"parity_tolerance": -1.0}, "serving_parity"),
])
def test_each_failing_check_alone_stops_publishing(built, tmp_path, capsys, gate, failing):
    cfg = gate_config(built, tmp_path, **gate)
    assert run_gate(cfg) == GATE_REJECTED_EXIT
    reason = capsys.readouterr().err.strip()
    assert reason.startswith(f"gate failed for wide_deep {D}: {failing} = ") and "\n" not in reason
    row = registry(cfg).iloc[-1]
    assert not row.passed and pd.isna(row.version)
    assert [c["check"] for c in json.loads(row.checks) if not c["passed"]] == [failing]
    assert versions(model_dir(cfg)) == [] and not list(model_dir(cfg).glob(f"{STAGING_PREFIX}*"))
    if failing != "serving_parity":  # the costly export is skipped once a check failed, and the report says so
        assert {"check": "serving", "value": None, "threshold": "not checked: an earlier check failed",
                "passed": True} in json.loads(row.checks)


def test_a_better_model_is_blessed_a_worse_one_is_not_and_the_registry_has_both(built, tmp_path, capsys):
    cfg = gate_config(built, tmp_path, candidate="weak", model={"min_auc": 0.4})
    first = validate_and_export(cfg, D, "wide_deep")
    assert first.passed and first.version == 1 and first.metrics["auc"] == 0.5
    use_candidate(cfg, built, "strong")
    better = validate_and_export(cfg, D, "wide_deep")
    assert better.passed and better.version == 2 and better.baseline_version == 1
    assert better.metrics["blessed_metrics"]["auc"] == pytest.approx(0.5)  # v1 re-scored on D through its export
    again = validate_and_export(cfg, D, "wide_deep")  # a re-run with the same weights adds no version
    assert again.passed and again.version == 2 and versions(model_dir(cfg)) == [1, 2]
    use_candidate(cfg, built, "weak")
    assert run_gate(cfg) == GATE_REJECTED_EXIT
    assert "auc_vs_blessed = 0.5, required >= blessed v2" in capsys.readouterr().err
    assert versions(model_dir(cfg)) == [1, 2]  # v2 still served
    rows = registry(cfg)
    assert rows.passed.tolist() == [True, True, True, False]
    assert rows.blessed_version.tolist() == [1, 2, 2, 2]
    assert rows.version.fillna(-1).astype(int).tolist() == [1, 2, 2, -1]


def test_only_the_newest_versions_are_kept(built, tmp_path):
    cfg = gate_config(built, tmp_path, keep_versions=2)
    assert validate_and_export(cfg, D, "wide_deep").version == 1
    for older in ("2", "3"):  # later publications of other weights
        shutil.copytree(model_dir(cfg) / "1", model_dir(cfg) / older)
        (model_dir(cfg) / older / VERSION_INFO).write_text(json.dumps({"weights_digest": f"other{older}"}))
    shutil.rmtree(model_dir(cfg) / "1")
    assert validate_and_export(cfg, D, "wide_deep").version == 4
    assert versions(model_dir(cfg)) == [3, 4]


def test_a_crash_while_exporting_leaves_no_visible_version(built, tmp_path, monkeypatch):
    cfg = gate_config(built, tmp_path)
    stale = model_dir(cfg) / f"{STAGING_PREFIX}killed"  # a run killed mid-export, long ago
    (stale / "variables").mkdir(parents=True)
    os.utime(stale, (time.time() - STALE_STAGING_SECONDS - 60,) * 2)

    def dies_halfway(self, path, **kwargs):
        os.makedirs(path, exist_ok=True)
        open(os.path.join(path, "saved_model.pb"), "wb").write(b"partial")
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(keras.Model, "export", dies_halfway)
    with pytest.raises(RuntimeError, match="killed mid-export"):
        validate_and_export(cfg, D, "wide_deep")
    assert versions(model_dir(cfg)) == [] and sorted(p.name for p in model_dir(cfg).iterdir()) == []


def test_a_failed_rename_publishes_nothing(built, tmp_path, monkeypatch):
    cfg = gate_config(built, tmp_path)

    def refuses(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr("models.serving.os.rename", refuses)
    with pytest.raises(OSError, match="disk gone"):
        validate_and_export(cfg, D, "wide_deep")
    assert versions(model_dir(cfg)) == [] and not list(model_dir(cfg).glob(f"{STAGING_PREFIX}*"))


def test_the_serving_process_cannot_import_this_project(tmp_path):
    blocked = run_isolated(BLOCK_PROJECT + "import models.train\n", [], str(tmp_path), 60)
    assert blocked.returncode != 0 and "is project code" in blocked.stderr
    allowed = run_isolated(BLOCK_PROJECT + "import numpy\nprint('ok')\n", [], str(tmp_path), 60)
    assert allowed.returncode == 0 and allowed.stdout.strip() == "ok"


def test_a_backfilled_day_is_judged_against_what_was_blessed_by_then_and_a_newer_version_stays(built, tmp_path):
    cfg = gate_config(built, tmp_path)
    assert validate_and_export(cfg, D, "wide_deep").version == 1
    earlier = D - dt.timedelta(days=1)
    target = cfg.artifact_path("candidates", "wide_deep", earlier.isoformat(), "model.keras")
    target.parent.mkdir(parents=True)
    shutil.copy(built / "weak.keras", target)  # v1 of D has seen D-1: it would be an unfair baseline
    lenient = load_config(overlays_for(tmp_path, MOVIELENS, **GATE_SMALL, gate={"model": {"min_auc": 0.4}}))
    decision = validate_and_export(lenient, earlier, "wide_deep")
    checks = {c.check: c for c in decision.checks}
    assert decision.passed and decision.baseline_version is None and decision.version is None
    assert checks["auc_vs_blessed"].threshold == "no blessed model yet: absolute checks only"
    assert "stays served" in checks["publish"].threshold and versions(model_dir(cfg)) == [1]


def test_features_over_days_without_events_are_the_eventless_ones(tmp_path):
    cfg = load_config(overlays_for(tmp_path, MOVIELENS))
    spec = feature_spec(cfg)
    events = pa.table({"event_id": ["e1"], "dt": pa.array([D - dt.timedelta(days=3)], pa.date32())})
    write_deltalake(cfg.table_path("events"), events, partition_by=["dt"])
    # Events 3 days before D only: the 1-day windows (D-1) hold none, the 3-, 7- and 30-day ones do.
    assert eventless_features(cfg, spec, D) == {f.name for f in spec.features if f.window_days == 1}
    assert "user_n_rating_1d" in eventless_features(cfg, spec, D) and "user_n_rating_3d" not in \
        eventless_features(cfg, spec, D)
    assert eventless_features(cfg, spec, D - dt.timedelta(days=2)) == set()  # its 1-day window is that day


def test_the_warm_rows_are_those_whose_user_or_item_is_in_the_rollups_of_the_longest_window_before_d(tmp_path):
    cfg = load_config(overlays_for(tmp_path, MOVIELENS, profiles={"windows": [1, 7]},
                                   gate=gate_without_named_features(MOVIELENS)))
    spec = feature_spec(cfg)
    assert not warm_rows(cfg, spec, pa.table({"user_id": ["u1"], "item_id": ["i1"]}), D)  # no rollups: all rows
    days = pa.array([D - dt.timedelta(days=7), D - dt.timedelta(days=8), D], pa.date32())
    # u1 on D-7 (the first day of the window), u2 on D-8 (before it), u3 on D itself (not before D).
    write_deltalake(cfg.table_path("user_daily"), pa.table({"user_id": ["u1", "u2", "u3"], "dt": days}),
                    partition_by=["dt"])
    write_deltalake(cfg.table_path("item_daily"), pa.table({"item_id": ["i1", "i1", "i2"], "dt": days}),
                    partition_by=["dt"])
    today = pa.table({"user_id": ["u1", "u2", "u3", "u1"], "item_id": ["i2", "i1", "i3", "i1"]})
    warm = warm_rows(cfg, spec, today, D)
    assert warm["user_n_rating_7d"].mask.tolist() == [True, False, False, True]
    assert warm["item_popularity_rank_1d"].mask.tolist() == [False, True, False, True]
    assert str(warm["user_n_rating_1d"]) == "rows whose user had an event in the 7 days before D"
    # Every feature taken from a profile or from the user's category history, and nothing else.
    assert {name: w.entity for name, w in warm.items()} == {
        f.name: f.history_of for f in spec.features if f.history_of}
    assert warm["cross_category_events_7d"].entity == "user" and "user_age" not in warm and "user_id" not in warm


def test_drift_after_an_empty_day_is_measured_against_the_day_the_candidate_early_stopped_on(tmp_path):
    cfg = load_config(overlays_for(tmp_path, MOVIELENS, **GATE_SMALL))
    samples = synthetic_samples(feature_spec(cfg), 2400, D - dt.timedelta(days=3), 4, seed=1)
    day_before = pa.scalar(D - dt.timedelta(days=1), pa.date32())
    without_d1 = samples.filter(pc.not_equal(samples["dt"], day_before))  # D-1 is an empty day
    write_deltalake(cfg.table_path("samples"), without_d1, partition_by=["dt"])
    checks = {c.check: c for c in check_data(cfg, latest_snapshot(cfg.table_path("samples")), D)}
    watched = cfg.gate.data.drift_features
    assert watched and all(checks[f"psi:{name}"].value is not None for name in watched)
    assert checks["psi_reference"].threshold == f"D-1 has no samples: drift against {D - dt.timedelta(days=2)}"

    write_deltalake(cfg.table_path("samples"), samples, partition_by=["dt"], mode="overwrite")
    checks = {c.check: c for c in check_data(cfg, latest_snapshot(cfg.table_path("samples")), D)}
    assert "psi_reference" not in checks and all(f"psi:{name}" in checks for name in watched)


def test_models_that_learn_ctcvr_are_gated_on_it_too():
    assert {name: checked_prefixes(name) for name in ("wide_deep", "esmm", "mmoe", "din")} == {
        "wide_deep": ("",), "esmm": ("", "ctcvr_"), "mmoe": ("", "ctcvr_"), "din": ("",)}

import datetime as dt
import json
import warnings

import keras
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake

from core.config import ConfigError
from core.delta_arrow import delta_dataset
from datasets.synthetic import synthetic_samples
from features.spec import feature_spec
from models.days import TrainingDays
from models.rankers import ModelParams
from models.registry import build_model
from models.train import day_metrics, main, model_spec, train, warm_start, write_ranker_metrics
from tests.conftest import MOVIELENS, config_for, gate_without_named_features

D = dt.date(1998, 4, 22)
SMALL = {"ranker": {"train_days": 3, "batch_size": 128, "max_epochs": 4, "hidden_units": [8], "patience": 1,
                    "learning_rate": 0.01},
         "features": {"id_buckets": 1000, "category_buckets": 100, "embedding_dim": 4},
         "profiles": {"windows": [7]}, "gate": gate_without_named_features(MOVIELENS)}


def lake_with_samples(tmp_path, flip_day=None, **ranker):
    cfg = config_for(tmp_path, MOVIELENS, **{**SMALL, "ranker": {**SMALL["ranker"], **ranker}})
    table = synthetic_samples(feature_spec(cfg), 2400, D - dt.timedelta(days=3), 4, seed=1)
    if flip_day is not None:  # turn every label of one day upside down
        on_day = pc.equal(table.column("dt"), pa.scalar(flip_day, pa.date32()))
        flipped = pc.if_else(on_day, pc.subtract(1, table.column("label_like")), table.column("label_like"))
        table = table.set_column(table.schema.get_field_index("label_like"), "label_like", flipped.cast(pa.int32()))
    write_deltalake(cfg.table_path("samples"), table, partition_by=["dt"])
    return cfg


def weights(cfg, name):
    model = keras.saving.load_model(cfg.artifact_path("candidates", name, D.isoformat(), "model.keras"))
    return model.get_weights()


def test_training_days_leave_d_for_evaluation():
    days = TrainingDays.as_of(D, 14)
    assert (days.fit_first, days.fit_last, days.validation, days.evaluation) == (
        dt.date(1998, 4, 8), dt.date(1998, 4, 20), dt.date(1998, 4, 21), D)
    assert TrainingDays.as_of(D, 14, {dt.date(1998, 4, 20), dt.date(1998, 4, 21), D}) == days


def test_an_empty_day_before_d_gives_its_place_as_validation_day_to_the_latest_day_with_samples():
    with_samples = {dt.date(1998, 4, 8), dt.date(1998, 4, 19), dt.date(1998, 4, 20), D}  # 04-21 is an empty day
    days = TrainingDays.as_of(D, 14, with_samples)
    assert (days.fit_first, days.fit_last, days.validation, days.evaluation) == (
        dt.date(1998, 4, 8), dt.date(1998, 4, 19), dt.date(1998, 4, 20), D)
    assert TrainingDays.as_of(D, 14, {dt.date(1998, 4, 8), D}).validation == dt.date(1998, 4, 21)  # D-M is fit only


def test_with_an_attribution_window_fitting_and_early_stopping_end_where_labels_are_known_before_d():
    # W = 2: the labels of 04-20 and 04-21 need the events of D or later; 04-19 is the last day known before D.
    days = TrainingDays.as_of(D, 14, {dt.date(1998, 4, 8), dt.date(1998, 4, 19), dt.date(1998, 4, 20),
                                      dt.date(1998, 4, 21), D}, label_lag=2)
    assert (days.fit_first, days.fit_last, days.validation, days.evaluation) == (
        dt.date(1998, 4, 8), dt.date(1998, 4, 18), dt.date(1998, 4, 19), D)
    assert TrainingDays.as_of(D, "all", {dt.date(1998, 4, 8), D}, label_lag=2).fit_last == dt.date(1998, 4, 18)


def test_train_days_all_fits_on_every_day_with_samples_before_d():
    with_samples = {dt.date(1998, 1, 5), dt.date(1998, 3, 1), dt.date(1998, 4, 21), D, D + dt.timedelta(days=1)}
    days = TrainingDays.as_of(D, "all", with_samples)
    assert (days.fit_first, days.fit_last, days.validation) == (
        dt.date(1998, 1, 5), dt.date(1998, 4, 20), dt.date(1998, 4, 21))


def test_a_whole_history_trains_streamed_and_records_its_days_and_peak_memory(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = train(lake_with_samples(tmp_path, train_days="all"), D, "wide_deep")
    # Every epoch is one whole pass: Keras' alarm for an input cut short is not raised for the end of a pass.
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    assert record["fit_days"] == ["1998-04-19", "1998-04-20"]  # the lake's first day with samples on
    assert record["peak_rss_mib"] > 0
    with pytest.raises(ValueError, match="train_days must be >= 2"):
        config_for(tmp_path / "bad", MOVIELENS, ranker={"train_days": 1})


@pytest.mark.slow
def test_training_never_reads_the_samples_of_d(tmp_path):
    clean = lake_with_samples(tmp_path / "clean")
    record = train(clean, D, "wide_deep")
    assert record["fit_days"] == ["1998-04-19", "1998-04-20"] and record["samples_version"] == 0
    assert record["validation_day"] == "1998-04-21"
    assert record["auc"] > 0.6  # the hidden rule is learnable
    flipped = lake_with_samples(tmp_path / "flipped", flip_day=D)
    other = train(flipped, D, "wide_deep")
    for a, b in zip(weights(clean, "wide_deep"), weights(flipped, "wide_deep")):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert other["auc"] == pytest.approx(1 - record["auc"], abs=1e-6)  # only the evaluation saw D


def test_a_run_writes_its_candidate_and_metrics_record(tmp_path, capsys):
    cfg = lake_with_samples(tmp_path)
    overlays = ",".join(cfg.sources[1:])
    assert main(["--ds", D.isoformat(), "--model", "esmm", "--conf", overlays]) == 1
    assert "'esmm' learns ctr, ctcvr but the samples only label ['label_like']" in capsys.readouterr().err
    assert main(["--ds", D.isoformat(), "--model", "deepfm", "--conf", overlays]) == 0
    record = json.loads(capsys.readouterr().out)
    saved = json.loads(cfg.artifact_path("candidates", "deepfm", D.isoformat(), "metrics.json").read_text())
    assert saved == record and record["model"] == "deepfm" and len(record["config_hash"]) == 12
    rows = delta_dataset(cfg.table_path("ranker_metrics")).to_table().to_pylist()
    assert [(r["model"], r["ds"], r["rows"]) for r in rows] == [("deepfm", D.isoformat(), record["rows"])]
    write_ranker_metrics(cfg.table_path("ranker_metrics"), {**record, "auc": 0.5})  # a re-run replaces its row
    assert [r["auc"] for r in delta_dataset(cfg.table_path("ranker_metrics")).to_table().to_pylist()] == [0.5]


@pytest.mark.slow
def test_excluded_features_are_not_model_inputs_and_unknown_names_are_refused(tmp_path):
    ids = ["user_id", "item_id", "user_recent_items"]
    cfg = lake_with_samples(tmp_path, exclude_features=ids)
    assert set(feature_spec(cfg).names) - set(model_spec(cfg).names) == set(ids)
    record = train(cfg, D, "deepfm")
    model = keras.saving.load_model(cfg.artifact_path("candidates", "deepfm", D.isoformat(), "model.keras"))
    inputs = {tensor.name.split(":")[0] for tensor in model.inputs}
    assert inputs == set(model_spec(cfg).names) and not inputs & set(ids)
    assert record["gauc"] is not None  # user_id still groups the day's rows for GAUC
    with pytest.raises(ConfigError, match="ranker.exclude_features: 'item_idd' is not a feature of the spec"):
        config_for(tmp_path / "typo", MOVIELENS, ranker={"exclude_features": ["item_idd"]})  # refused at load


def test_esmm_metrics_score_cvr_on_clicked_rows_only():
    scored = {"ctr": np.array([0.9, 0.8, 0.2, 0.1]), "cvr": np.array([0.7, 0.1, 0.99, 0.99]),
              "ctcvr": np.array([0.63, 0.08, 0.198, 0.099]), "user_id": np.array(["a", "a", "b", "b"]),
              "label_click": np.array([1, 1, 0, 0]), "label_conversion": np.array([1, 0, 0, 0])}
    got = day_metrics("esmm", scored, ("label_click", "label_conversion"), 1.0)
    # Among the clicked rows the converted one has the higher cvr: CVR AUC 1, although unclicked rows score 0.99.
    assert (got["ctr_auc"], got["cvr_auc"], got["ctcvr_auc"]) == (1.0, 1.0, 1.0)
    assert got["gauc"] is None  # each user saw one class only


def test_mmoe_metrics_score_its_own_ctcvr_recalibrated_on_all_rows():
    scored = {"ctr": np.array([0.5, 0.5, 0.5, 0.5]), "ctcvr": np.array([0.3, 0.15, 0.06, 0.03]),
              "user_id": np.array(["a", "a", "b", "b"]),
              "label_click": np.array([1, 0, 1, 0]), "label_conversion": np.array([1, 0, 0, 0])}
    got = day_metrics("mmoe", scored, ("label_click", "label_conversion"), 0.5)
    # Negatives kept at 0.5: ctcvr / (0.5 + 0.5 / 0.5) = ctcvr / 1.5 -> [0.2, 0.1, 0.04, 0.02]; mean 0.09 over 0.25.
    assert got["ctcvr_logloss"] == pytest.approx(-(np.log(0.2) + np.log(0.9) + np.log(0.96) + np.log(0.98)) / 4)
    assert got["ctcvr_calibration"] == pytest.approx(0.09 / 0.25)
    assert got["ctcvr_auc"] == 1.0 and "cvr_auc" not in got  # no cvr output to score
    click_only = day_metrics("din", scored, ("label_click", "label_conversion"), 0.5)
    assert "ctcvr_auc" not in click_only
    # Every model ranks conversions: MMoE by its ctcvr, DIN by its ctr (all 0.5 here: AUC .5).
    assert got["conversion_auc"] == 1.0 and click_only["conversion_auc"] == 0.5
    assert "conversion_auc" not in day_metrics("din", scored, ("label_click",), 0.5)  # no conversion label


def test_warm_start_copies_the_latest_earlier_candidates_weights(tmp_path, spec, stats):
    def model(seed):
        keras.utils.set_random_seed(seed)
        return build_model("deepfm", spec, stats, ModelParams(hidden_units=(4,)))

    earlier, later = model(1), model(2)
    for day, saved in (("1998-04-20", model(3)), ("1998-04-21", earlier), ("1998-04-22", later)):
        (tmp_path / day).mkdir()
        saved.save(tmp_path / day / "model.keras")
    fresh = model(4)
    assert warm_start(fresh, tmp_path, D) == "1998-04-21"  # D's own candidate is never used
    for a, b in zip(fresh.get_weights(), earlier.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert warm_start(model(5), tmp_path, dt.date(1998, 4, 20)) is None


def test_a_candidate_that_does_not_load_gives_no_warm_start_and_says_why(tmp_path, spec, stats, capsys):
    (tmp_path / "1998-04-21").mkdir()
    (tmp_path / "1998-04-21" / "model.keras").write_bytes(b"saved by other code")
    fresh = build_model("deepfm", spec, stats, ModelParams(hidden_units=(4,)))
    weights = fresh.get_weights()
    assert warm_start(fresh, tmp_path, D) is None
    assert "warm start: none; " in capsys.readouterr().err
    assert all((a == b).all() for a, b in zip(fresh.get_weights(), weights))

from dataclasses import dataclass, replace

import keras
import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf

from features.spec import Feature, FeatureSpec
from models.feature_arrays import feature_arrays
from models.preprocessing import id_model_of, model_inputs
from models.rankers import ModelParams
from models.registry import RANKERS, build_model, compile_model, output_labels
from models.serving import Recalibrated, recalibrated_ctcvr, serving_model
from tests.models.conftest import LABELS

PARAMS = ModelParams(hidden_units=(8,), dropout=0.1, learning_rate=0.05, l2=1e-4)  # l2: exports must cope


@dataclass
class TrainedModel:
    name: str
    model: keras.Model
    loss_before: float
    loss_after: float


def targets(name: str, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {output: batch[column] for output, column in output_labels(name, LABELS).items()}


@pytest.fixture(scope="module", params=list(RANKERS))
def trained(request, spec, batch, stats) -> TrainedModel:
    keras.utils.set_random_seed(7)
    model = build_model(request.param, spec, stats, PARAMS)
    compile_model(request.param, model, PARAMS)
    inputs, labels = model_inputs(model, batch), targets(request.param, batch)
    before = model.evaluate(inputs, labels, verbose=0, return_dict=True)["loss"]
    model.fit(inputs, labels, epochs=8, batch_size=16, verbose=0)
    after = model.evaluate(inputs, labels, verbose=0, return_dict=True)["loss"]
    return TrainedModel(request.param, model, before, after)


def test_each_model_learns_the_tiny_batch(trained):
    assert trained.loss_after < 0.5 * trained.loss_before


def test_exported_saved_model_scores_raw_features_like_the_keras_model(trained, batch, tmp_path):
    inputs = model_inputs(trained.model, batch)
    expected = trained.model.predict(inputs, verbose=0)
    trained.model.export(str(tmp_path / "1"), verbose=False)
    serve = tf.saved_model.load(str(tmp_path / "1")).signatures["serving_default"]
    served = serve(**inputs)
    assert set(served) == set(expected)
    for output, scores in expected.items():
        np.testing.assert_allclose(served[output].numpy(), scores, atol=1e-5)


def test_the_id_model_scores_hashed_training_inputs_as_the_served_model_scores_raw_rows(trained, batch, spec):
    rows = pa.RecordBatch.from_pydict({
        f.name: pa.array([list(row) for row in batch[f.name].tolist()] if f.kind == "multi_categorical"
                         else batch[f.name].tolist()) for f in spec.features})
    served = trained.model.predict(model_inputs(trained.model, feature_arrays(rows, spec.features)), verbose=0)
    id_model = id_model_of(trained.model)
    assert id_model is not trained.model and {spec.dtype for spec in id_model.inputs} == {"int64", "float32"}
    trained_on = id_model.predict(model_inputs(id_model, feature_arrays(rows, spec.features, hashed=True)), verbose=0)
    assert set(served) == set(trained_on)
    for output, scores in served.items():
        np.testing.assert_allclose(trained_on[output], scores, atol=1e-6)


def test_recalibration_maps_downsampled_probabilities_back_to_the_true_rate():
    # w = 0.5: 0.5 -> 0.5 / (0.5 + 0.5 / 0.5) = 1/3; 0.2 -> 0.2 / (0.2 + 0.8 / 0.5) = 1/9; 0 and 1 stay.
    served = Recalibrated(0.5)(np.array([[0.5], [0.2], [0.0], [1.0]], dtype="float32"))
    np.testing.assert_allclose(np.asarray(served).ravel(), [1 / 3, 1 / 9, 0.0, 1.0], rtol=1e-6)


def test_ctcvr_recalibration_divides_by_the_factor_that_recalibrates_ctr():
    # w = 0.5, ctr 0.5: 0.5 + 0.5 / 0.5 = 1.5, so ctcvr 0.3 -> 0.2 (the recalibrated ctr, 1/3, x cvr 0.6 for ESMM).
    np.testing.assert_allclose(recalibrated_ctcvr(np.array([0.3, 0.0]), np.array([0.5, 0.5]), 0.5), [0.2, 0.0])
    np.testing.assert_allclose(recalibrated_ctcvr(np.array([0.3]), np.array([0.5]), 1.0), [0.3])


def test_the_export_of_a_model_trained_on_downsampled_negatives_serves_recalibrated_ctr(trained, batch, tmp_path):
    inputs = model_inputs(trained.model, batch)
    raw = trained.model.predict(inputs, verbose=0)
    assert serving_model(trained.model, 1.0) is trained.model  # nothing to undo
    serving_model(trained.model, 0.25).export(str(tmp_path / "1"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "1")).signatures["serving_default"](**inputs)
    assert set(served) == set(raw)
    ctr = raw["ctr"].astype("float64")
    np.testing.assert_allclose(served["ctr"].numpy(), ctr / (ctr + (1 - ctr) / 0.25), atol=1e-5)
    if "cvr" in raw:  # ESMM: cvr as trained, and ctcvr = the recalibrated ctr x cvr
        np.testing.assert_allclose(served["cvr"].numpy(), raw["cvr"], atol=1e-5)
        np.testing.assert_allclose(served["ctcvr"].numpy(), served["ctr"].numpy() * raw["cvr"], atol=1e-5)
    elif "ctcvr" in raw:  # MMoE: its own ctcvr scaled by the factor that recalibrates ctr
        np.testing.assert_allclose(served["ctcvr"].numpy(), raw["ctcvr"] / (ctr + (1 - ctr) / 0.25), atol=1e-5)


def test_keras_archive_reloads_with_the_same_scores(trained, batch, tmp_path):
    inputs = model_inputs(trained.model, batch)
    trained.model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    expected, scores = trained.model.predict(inputs, verbose=0), reloaded.predict(inputs, verbose=0)
    for output in expected:
        np.testing.assert_allclose(scores[output], expected[output], atol=1e-6)


def test_missing_unknown_and_out_of_range_values_still_score(trained):
    rows = {
        "user_id": np.array(["", "never_seen_user"], dtype=object),
        "item_id": np.array(["", "never_seen_item"], dtype=object),
        "user_n_click_7d": np.array([np.nan, 1e12]),
        "item_ctr_7d": np.array([np.nan, -3.0]),
        "item_genres": np.array([["", "", ""], ["unknown_genre", "", ""]], dtype=object),
        "user_recent_items": np.array([["", "", ""], ["never_seen_item", "", ""]], dtype=object),
        "gbdt_leaves": np.array([[-1, -1], [99, 3]]),
    }
    for output, scores in trained.model.predict(model_inputs(trained.model, rows), verbose=0).items():
        assert scores.shape == (2, 1) and np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1)), output


def test_esmm_ctcvr_is_exactly_ctr_times_cvr(spec, batch, stats):
    model = build_model("esmm", spec, stats, PARAMS)
    scores = model.predict(model_inputs(model, batch), verbose=0)
    np.testing.assert_array_equal(scores["ctcvr"], scores["ctr"] * scores["cvr"])
    assert not np.allclose(scores["ctr"], scores["cvr"])


def test_models_take_the_features_of_their_groups(spec, stats):
    inputs = {name: sorted(t.name for t in build_model(name, spec, stats, PARAMS).inputs) for name in RANKERS}
    everything = sorted(spec.names)
    assert inputs == {"lr": everything, "wide_deep": everything, "deepfm": everything,
                      "esmm": sorted(set(everything) - {"gbdt_leaves"}),
                      "mmoe": sorted(set(everything) - {"gbdt_leaves"}), "din": everything}


def test_deepfm_fm_and_deep_parts_share_one_embedding_per_feature(spec, stats):
    model = id_model_of(build_model("deepfm", spec, stats, PARAMS))
    embeddings = sorted(layer.name for layer in model.layers if isinstance(layer, keras.layers.Embedding))
    assert embeddings == ["item_genres_embedding", "item_id_embedding", "user_id_embedding",
                          "user_recent_items_embedding"]


def test_din_looks_up_the_candidate_and_the_history_in_one_item_table(spec, stats):
    model = id_model_of(build_model("din", spec, stats, PARAMS))
    embeddings = sorted(layer.name for layer in model.layers if isinstance(layer, keras.layers.Embedding))
    assert embeddings == ["item_embedding", "item_genres_embedding", "user_id_embedding"]
    assert model.get_layer("item_embedding").input_dim == 97  # no item_id_embedding nor user_recent_items_embedding


def test_din_needs_the_candidate_and_history_hashed_alike(spec, stats):
    other_buckets = FeatureSpec(tuple(replace(f, buckets=50) if f.name == "user_recent_items" else f
                                      for f in spec.features))
    with pytest.raises(ValueError, match="DIN shares one table between item_id and user_recent_items"):
        build_model("din", other_buckets, stats, PARAMS)
    without_history = FeatureSpec(tuple(f for f in spec.features if f.name != "user_recent_items"))
    with pytest.raises(ValueError, match="DIN needs user_recent_items in the deep group"):
        build_model("din", without_history, stats, PARAMS)


def test_mmoe_has_a_gate_and_tower_per_task_over_shared_experts(spec, stats):
    model = id_model_of(build_model("mmoe", spec, stats, PARAMS))
    names = {layer.name for layer in model.layers}
    assert {"expert_0", "expert_3", "ctr_gate", "ctcvr_gate", "ctr_tower", "ctcvr_tower"} <= names
    assert "expert_4" not in names and sorted(model.output_names) == ["ctcvr", "ctr"]


def test_builds_are_deterministic_under_the_callers_seed(spec, batch, stats):
    def scores(seed: int) -> np.ndarray:
        keras.utils.set_random_seed(seed)
        model = build_model("deepfm", spec, stats, PARAMS)
        return model.predict(model_inputs(model, batch), verbose=0)["ctr"]

    np.testing.assert_array_equal(scores(3), scores(3))
    assert not np.array_equal(scores(3), scores(4))


def test_the_linear_part_refuses_numeric_features(spec, stats):
    widened = FeatureSpec(tuple(replace(f, groups=("wide", "deep")) if f.name == "item_ctr_7d" else f
                                for f in spec.features))
    with pytest.raises(ValueError, match="linear part takes categorical features only; got numeric item_ctr_7d"):
        build_model("wide_deep", widened, stats, PARAMS)


def test_fm_fields_need_one_embedding_size(spec, stats):
    wider = Feature("user_city", "categorical", "string", ("fm",), buckets=7, embedding_dim=8)
    with pytest.raises(ValueError, match=r"FM fields need one embedding_dim; got \[4, 8\]"):
        build_model("deepfm", FeatureSpec((*spec.features, wider)), stats, PARAMS)


def whole_table_reads(model: keras.Model) -> set[str]:
    """The embedding and wide-weight tables that one traced training step (forward and gradients) reads whole."""
    tables = [v for v in model.trainable_variables if "embedding" in v.path or "bucket_weights" in v.path]
    inputs = {t.name: tf.TensorSpec(t.shape, t.dtype) for t in model.inputs}

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_sum(y) for y in tf.nest.flatten(model(x, training=True))])
        return tape.gradient(loss, [v.value for v in tables])

    graph = step.get_concrete_function(inputs).graph
    table_of_handle = {id(v.value.handle): v.path for v in tables}
    table_of_placeholder = {inner.op.name: table_of_handle[id(outer)] for outer, inner in graph.captures
                            if id(outer) in table_of_handle}
    assert set(table_of_placeholder.values()) == {v.path for v in tables}  # the check below sees every table
    return {table_of_placeholder[op.inputs[0].op.name] for op in graph.get_operations()
            if op.type == "ReadVariableOp" and op.inputs[0].op.name in table_of_placeholder}


@pytest.mark.parametrize("name", list(RANKERS))
def test_a_training_step_reads_only_the_table_rows_it_looks_up(name, spec, stats):
    # A whole read of a table would cost a copy of the table every step: LazyAdam scatter-updates the tables, which
    # puts them in TensorFlow's copy-on-read mode.
    assert whole_table_reads(id_model_of(build_model(name, spec, stats, PARAMS))) == set()

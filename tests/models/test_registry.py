import pytest

from models.preprocessing import model_inputs
from models.rankers import ModelParams
from models.registry import RANKERS, build_model, compile_model, output_labels, output_losses, ranker
from tests.models.conftest import LABELS


def test_an_unknown_model_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown model 'dcn'; known: lr, wide_deep, deepfm, esmm, mmoe, din"):
        ranker("dcn")
    assert list(RANKERS) == ["lr", "wide_deep", "deepfm", "esmm", "mmoe", "din"]
    assert [name for name, r in RANKERS.items() if r.learns_ctcvr] == ["esmm", "mmoe"]


def test_build_model_picks_the_builder_by_name(spec, stats):
    models = {name: build_model(name, spec, stats, ModelParams(hidden_units=(4,))) for name in RANKERS}
    assert {name: (m.name, sorted(m.output_names)) for name, m in models.items()} == {
        "lr": ("lr", ["ctr"]),
        "wide_deep": ("wide_deep", ["ctr"]),
        "deepfm": ("deepfm", ["ctr"]),
        "esmm": ("esmm", ["ctcvr", "ctr", "cvr"]),
        "mmoe": ("mmoe", ["ctcvr", "ctr"]),
        "din": ("din", ["ctr"]),
    }


def test_output_labels_map_outputs_to_the_samples_label_columns():
    assert output_labels("esmm", LABELS) == {"ctr": "label_click", "ctcvr": "label_conversion"}
    assert output_labels("deepfm", ("label_like",)) == {"ctr": "label_like"}
    with pytest.raises(ValueError, match=r"'esmm' learns ctr, ctcvr but the samples only label \['label_like'\]"):
        output_labels("esmm", ("label_like",))


def test_esmm_learns_ctr_and_ctcvr_over_all_exposures_and_cvr_only_through_ctcvr(spec, batch, stats):
    params = ModelParams(hidden_units=(4,))
    model = build_model("esmm", spec, stats, params)
    assert output_losses("esmm", model) == {"ctr": "binary_crossentropy", "cvr": None, "ctcvr": "binary_crossentropy"}
    compile_model("esmm", model, params)
    labels = {output: batch[column] for output, column in output_labels("esmm", LABELS).items()}
    losses = model.evaluate(model_inputs(model, batch), labels, verbose=0, return_dict=True)
    assert set(losses) == {"loss", "ctr_loss", "ctcvr_loss"}
    assert losses["loss"] == pytest.approx(losses["ctr_loss"] + losses["ctcvr_loss"], rel=1e-5)

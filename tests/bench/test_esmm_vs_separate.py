import numpy as np
import pytest

from bench.esmm_vs_separate import compare, compare_with_truth, counterfactual_conversions, hidden_indices, spearman

USERS = np.array(["a", "a", "b", "b"], dtype=object)
CLICK = np.array([1, 1, 1, 0])
CONVERSION = np.array([1, 0, 0, 0])


def test_ctcvr_of_separate_models_is_the_product_and_cvr_is_judged_on_clicked_rows():
    esmm = {"user_id": USERS, "click": CLICK, "conv": CONVERSION, "ctr": np.array([0.9, 0.8, 0.7, 0.1]),
            "cvr": np.array([0.2, 0.3, 0.1, 0.9]), "ctcvr": np.array([0.5, 0.1, 0.2, 0.3])}
    ctr = {"user_id": USERS, "ctr": np.array([0.1, 0.8, 0.7, 0.9])}
    cvr = {"user_id": USERS, "ctr": np.array([0.9, 0.1, 0.2, 0.1])}
    figures = compare(esmm, ctr, cvr, "click", "conv")
    assert figures["esmm"]["ctr_auc"] == 1.0  # the unclicked row scores lowest
    assert figures["esmm"]["cvr_auc"] == 0.5  # clicked rows only: 0.2 vs (0.3, 0.1); row 4's 0.9 is ignored
    assert figures["esmm"]["ctcvr_auc"] == 1.0
    assert figures["separate"]["ctr_auc"] == 0.0
    assert figures["separate"]["cvr_auc"] == 1.0
    # products 0.09, 0.08, 0.14, 0.09: the converted row is above 0.08 and tied with 0.09 -> (1 + 0.5 + 0) / 3
    assert figures["separate"]["ctcvr_auc"] == pytest.approx(0.5)


def test_rows_scored_in_another_order_are_refused():
    esmm = {"user_id": USERS, "click": CLICK, "conv": CONVERSION}
    with pytest.raises(ValueError, match="same rows"):
        compare(esmm, {"user_id": USERS[::-1]}, {"user_id": USERS}, "click", "conv")


def test_generator_ids_map_back_to_its_row_numbers():
    np.testing.assert_array_equal(hidden_indices(np.array(["u17", "u0", "u3"], dtype=object), "u"), [17, 0, 3])


def test_conversions_drawn_from_certain_probabilities_are_certain_and_the_draw_is_seeded():
    np.testing.assert_array_equal(counterfactual_conversions(np.array([0.0, 1.0, 0.0, 1.0]), seed=5), [0, 1, 0, 1])
    halves = np.full(50, 0.5)
    np.testing.assert_array_equal(counterfactual_conversions(halves, 1), counterfactual_conversions(halves, 1))


def test_spearman_is_one_for_the_same_order_and_minus_one_reversed():
    assert spearman(np.array([1.0, 2.0, 9.0]), np.array([0.1, 0.5, 0.6])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2.0, 9.0]), np.array([0.6, 0.5, 0.1])) == pytest.approx(-1.0)


def test_each_pcvr_is_judged_on_clicked_and_unclicked_exposures_against_the_drawn_conversions():
    true_cvr = np.array([0.9, 0.1, 0.8, 0.2])
    drawn = np.array([1, 0, 1, 0])
    clicked = np.array([True, True, False, False])
    # ESMM ranks both halves right; the clicks-only model ranks the clicked half right, the unclicked half wrong.
    figures = compare_with_truth({"esmm": np.array([0.7, 0.2, 0.6, 0.3]),
                                  "separate": np.array([0.9, 0.1, 0.2, 0.8])}, true_cvr, drawn, clicked)
    assert figures["esmm"] == {"auc_truth_all": 1.0, "auc_truth_clicked": 1.0, "auc_truth_unclicked": 1.0,
                               "spearman_true_cvr": pytest.approx(1.0)}
    assert figures["separate"]["auc_truth_clicked"] == 1.0
    assert figures["separate"]["auc_truth_unclicked"] == 0.0
    # positives 0.9, 0.2 vs negatives 0.1, 0.8: 0.9 beats both, 0.2 beats 0.1 -> 3 / 4
    assert figures["separate"]["auc_truth_all"] == 0.75
    # ranks (4, 1, 2, 3) vs (4, 1, 3, 2): 1 - 6 * 2 / (4 * 15) = 0.8
    assert figures["separate"]["spearman_true_cvr"] == pytest.approx(0.8)
    assert figures["oracle"]["auc_truth_all"] == 1.0

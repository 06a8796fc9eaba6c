import numpy as np
import pytest

from bench.esmm_vs_separate import compare

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

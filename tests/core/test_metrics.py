import numpy as np
import pytest

from core.metrics import auc, calibration, gauc, logloss, psi, recalibrate


def test_auc_by_hand():
    label = np.array([0, 1, 0, 1])
    assert auc(np.array([1.0, 2.0, 3.0, 4.0]), label) == 0.75  # positive ranks 2 + 4 - 3 = 3 of 4
    assert auc(np.array([5.0, 5.0, 5.0, 5.0]), label) == 0.5
    assert auc(np.array([np.nan, 9.0, np.nan, 8.0]), label) == 1.0  # missing ranks lowest
    assert auc(np.array([1.0, 2.0]), np.array([1, 1])) is None


def test_gauc_weights_each_users_auc_by_impressions_and_skips_one_class_users():
    scores = np.array([0.9, 0.1, 0.2, 0.8, 0.3, 0.5, 0.5])
    labels = np.array([1, 0, 1, 0, 0, 1, 1])
    users = np.array(["a", "a", "b", "b", "b", "c", "c"])
    # a: AUC 1 over 2 rows; b: its positive (0.2) is below both negatives, AUC 0 over 3 rows; c: one class only.
    assert gauc(scores, labels, users) == pytest.approx((1.0 * 2 + 0.0 * 3) / 5)
    assert gauc(scores[5:], labels[5:], users[5:]) is None


def test_logloss_and_calibration_by_hand():
    p, y = np.array([0.8, 0.4]), np.array([1, 0])
    assert logloss(p, y) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    assert logloss(np.array([1.0]), np.array([0])) == pytest.approx(-np.log(1e-7))  # clipped, not infinite
    assert calibration(p, y) == pytest.approx(0.6 / 0.5)
    assert calibration(p, np.array([0, 0])) is None


def test_recalibration_undoes_negative_downsampling():
    # True rate 1/11; keeping 1 negative in 10 makes the training rate 1/2: p' = 0.5 maps back to 1/11.
    assert recalibrate(np.array([0.5]), 0.1)[0] == pytest.approx(1 / 11)
    assert recalibrate(np.array([0.3]), 1.0)[0] == pytest.approx(0.3)


def test_psi_by_hand():
    # edges from expected's quantiles at 1/2: [2.5]; counts (below, above, missing) expected (2, 2, 0), actual
    # (1, 2, 1); each plus a half row, over 4 + 1.5 rows
    expected = np.array([1.0, 2.0, 3.0, 4.0])
    actual = np.array([1.0, 3.0, 4.0, np.nan])
    e = np.array([2.5, 2.5, 0.5]) / 5.5
    a = np.array([1.5, 2.5, 1.5]) / 5.5
    assert psi(expected, actual, bins=2) == pytest.approx(float(np.sum((a - e) * np.log(a / e))))


def test_psi_is_zero_for_the_same_distribution_and_none_without_data():
    values = np.arange(100.0)
    assert psi(values, values.copy()) == pytest.approx(0.0, abs=1e-12)
    assert psi(values, np.array([])) is None

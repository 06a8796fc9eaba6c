import math

import numpy as np
import pyarrow as pa
import pytest

from core.config_gate import DataChecks, ModelChecks
from core.metrics import psi
from models.checks import WarmRows, at_least, at_most, data_checks, model_checks, serving_checks, within

PASSING = dict(min_rows=3, label_rate=[0.1, 0.9], max_null_rate=0.4, null_rate_ceilings={"genre": 0.6},
               drift_bins=2, max_psi=0.5, drift_features=["clicks"])
TODAY = pa.table({"clicks": [1.0, None, 3.0, 4.0], "genre": ["x", "y", None, None], "label": [0, 1, 1, 0]})
YESTERDAY = pa.table({"clicks": [1.0, 2.0, 3.0, 4.0]})


def failed(checks):
    return {c.check for c in checks if not c.passed}


def test_bounds_and_unmeasurable_values():
    assert at_least("auc", 0.6, 0.6).passed and not at_least("auc", 0.59, 0.6).passed
    assert at_most("logloss", 0.7, 0.7).passed and not at_most("logloss", 0.71, 0.7).passed
    assert within("calibration", 2.0, [0.5, 2.0]).passed and not within("calibration", 0.49, [0.5, 2.0]).passed
    assert not at_least("auc", None, 0.5).passed  # cannot be measured: does not pass
    assert at_most("psi:clicks", 0.3, 0.25).reason() == "psi:clicks = 0.3, required <= 0.25"


def test_data_checks_by_hand():
    checks = {c.check: c for c in data_checks(TODAY, YESTERDAY, ["clicks", "genre"], ["label"], DataChecks(**PASSING))}
    assert checks["rows"].value == 4 and checks["label_rate:label"].value == 0.5
    assert checks["null_rate:clicks"].value == 0.25 and checks["null_rate:clicks"].threshold == "<= 0.4"
    assert checks["null_rate:genre"].value == 0.5 and checks["null_rate:genre"].threshold == "<= 0.6"  # its own
    # yesterday's median 2.5 splits the bins: today (1 below, 2 above, 1 missing) vs (2, 2, 0)
    assert checks["psi:clicks"].value == pytest.approx(psi(np.array([1.0, 2, 3, 4]), np.array([1.0, np.nan, 3, 4]), 2))
    assert all(c.passed for c in checks.values())


@pytest.mark.parametrize("change, today, yesterday, fails", [
    ({"min_rows": 5}, TODAY, YESTERDAY, {"rows"}),
    ({"label_rate": [0.6, 0.9]}, TODAY, YESTERDAY, {"label_rate:label"}),
    ({"null_rate_ceilings": {"genre": 0.4}}, TODAY, YESTERDAY, {"null_rate:genre"}),
    ({}, TODAY, pa.table({"clicks": [10.0, 20.0, 30.0, 40.0]}), {"psi:clicks"}),  # every value now below D-1's
])
def test_each_data_check_fails_on_its_own(change, today, yesterday, fails):
    limits = DataChecks(**{**PASSING, **change})
    assert failed(data_checks(today, yesterday, ["clicks", "genre"], ["label"], limits)) == fails


def test_drift_is_noted_not_failed_without_a_previous_day_or_drift_features():
    first_day = data_checks(TODAY, None, ["clicks"], ["label"], DataChecks(**PASSING))
    assert [c.threshold for c in first_day if c.check == "psi"] == [
        "no samples of D-1 or of an earlier day in the training window: drift not checked"]
    unwatched = data_checks(TODAY, YESTERDAY, ["clicks"], ["label"], DataChecks(**{**PASSING, "drift_features": []}))
    assert [c.threshold for c in unwatched if c.check == "psi"] == ["no drift features configured"]
    assert not failed(first_day) and not failed(unwatched)


def test_a_feature_over_a_window_without_events_may_be_null():
    all_null = TODAY.set_column(0, "clicks", pa.array([None] * 4, pa.float64()))
    assert failed(data_checks(all_null, None, ["clicks"], ["label"], DataChecks(**PASSING))) == {"null_rate:clicks"}
    checks = data_checks(all_null, None, ["clicks"], ["label"], DataChecks(**PASSING), eventless={"clicks"})
    assert not failed(checks)
    assert [c.threshold for c in checks if c.check == "null_rate:clicks"] == ["its window has no event: null expected"]


def test_a_history_feature_is_held_to_its_ceiling_on_the_rows_whose_user_has_a_history():
    # Rows 0 and 1 are newcomers' (no event in the 30 days before D): a profile feature is null there by right.
    warm = {"clicks": WarmRows("user", 30, np.array([False, False, True, True]))}
    newcomers_null = TODAY.set_column(0, "clicks", pa.array([None, None, 3.0, 4.0]))
    assert failed(data_checks(newcomers_null, None, ["clicks"], ["label"], DataChecks(**PASSING))) == {
        "null_rate:clicks"}  # 0.5 of all rows > 0.4
    checks = {c.check: c for c in data_checks(newcomers_null, None, ["clicks"], ["label"], DataChecks(**PASSING),
                                              warm_rows=warm)}
    assert checks["null_rate:clicks"].value == 0.0 and checks["null_rate:clicks"].passed
    assert checks["null_rate:clicks"].threshold == \
        "<= 0.4 on the 2 of 4 rows whose user had an event in the 30 days before D"
    # A join gone wrong nulls rows that have a history too: 1 of the 2 is 0.5 > 0.4.
    broken = TODAY.set_column(0, "clicks", pa.array([None, None, None, 4.0]))
    broken_checks = data_checks(broken, None, ["clicks"], ["label"], DataChecks(**PASSING), warm_rows=warm)
    assert failed(broken_checks) == {"null_rate:clicks"}
    assert [c.value for c in broken_checks if c.check == "null_rate:clicks"] == [0.5]


def test_a_history_feature_on_a_day_of_newcomers_only_is_noted():
    all_null = TODAY.set_column(0, "clicks", pa.array([None] * 4, pa.float64()))
    newcomers = {"clicks": WarmRows("item", 7, np.zeros(4, dtype=bool))}
    checks = data_checks(all_null, None, ["clicks"], ["label"], DataChecks(**PASSING), warm_rows=newcomers)
    assert not failed(checks)
    assert [c.threshold for c in checks if c.check == "null_rate:clicks"] == [
        "no row is one of the rows whose item had an event in the 7 days before D: null expected"]


def test_an_empty_day_fails_rows_and_label_rate():
    empty = TODAY.slice(0, 0)
    assert failed(data_checks(empty, YESTERDAY, ["clicks"], ["label"], DataChecks(**PASSING))) == {
        "rows", "label_rate:label", "null_rate:clicks", "psi:clicks"}
    no_rows_to_judge = {"clicks": WarmRows("user", 30, np.zeros(0, dtype=bool))}  # unmeasured, so not passed
    assert "null_rate:clicks" in failed(data_checks(empty, YESTERDAY, ["clicks"], ["label"], DataChecks(**PASSING),
                                                    warm_rows=no_rows_to_judge))


LIMITS = ModelChecks(min_auc=0.6, max_logloss=0.7, calibration=[0.5, 2.0], max_auc_drop=0.02)
GOOD = {"auc": 0.72, "logloss": 0.6, "calibration": 1.1, "ctcvr_auc": 0.65, "ctcvr_logloss": 0.05,
        "ctcvr_calibration": 0.9}


@pytest.mark.parametrize("change, fails", [
    ({"auc": 0.59}, {"auc"}),
    ({"logloss": 0.71}, {"logloss"}),
    ({"calibration": 2.1}, {"calibration"}),
    ({"auc": None}, {"auc"}),  # a one-class day has no AUC
])
def test_each_absolute_model_check_fails_on_its_own(change, fails):
    assert failed(model_checks({**GOOD, **change}, None, None, ("",), LIMITS)) == fails


def test_the_first_model_passes_on_absolute_checks_and_says_so():
    checks = model_checks(GOOD, None, None, ("",), LIMITS)
    assert [(c.check, c.passed, c.threshold) for c in checks if c.check == "auc_vs_blessed"] == [
        ("auc_vs_blessed", True, "no blessed model yet: absolute checks only")]


def test_non_regression_against_the_blessed_model_on_the_same_day():
    better_blessed = model_checks(GOOD, {"auc": 0.75}, 3, ("",), LIMITS)  # 0.72 < 0.75 - 0.02
    assert failed(better_blessed) == {"auc_vs_blessed"}
    assert "blessed v3 0.7500 - 0.02" in next(c.threshold for c in better_blessed if c.check == "auc_vs_blessed")
    assert not failed(model_checks(GOOD, {"auc": 0.74}, 3, ("",), LIMITS))  # within the tolerance


def test_esmm_is_held_to_its_ctcvr_output_too():
    checks = model_checks({**GOOD, "ctcvr_auc": 0.55}, {"auc": 0.7, "ctcvr_auc": 0.6}, 1, ("", "ctcvr_"), LIMITS)
    assert failed(checks) == {"ctcvr_auc", "ctcvr_auc_vs_blessed"}
    assert {c.check for c in checks} >= {"ctcvr_logloss", "ctcvr_calibration"}


def test_serving_checks_by_hand():
    expected = {"ctr": np.array([0.25, 0.5])}
    checks = {c.check: c for c in serving_checks(expected, {"ctr": [0.25, 0.500002]}, {"ctr": [0.1, 0.9]}, [], 1e-5)}
    assert checks["serving_parity"].value == pytest.approx(2e-6) and not failed(checks.values())
    assert failed(serving_checks(expected, {"ctr": [0.25, 0.51]}, {"ctr": [0.1]}, [], 1e-5)) == {"serving_parity"}
    assert failed(serving_checks(expected, {"ctr": [0.25, 0.5]}, {"ctr": [math.nan]}, [], 1e-5)) == {
        "serving_edge_rows"}
    assert failed(serving_checks(expected, {"ctr": [0.25, 0.5]}, {"ctr": [0.1]}, ["models"], 1e-5)) == {
        "serving_tf_only"}
    assert failed(serving_checks(expected, {"cvr": [0.1, 0.1]}, {"ctr": [0.1]}, [], 1e-5)) == {"serving_outputs"}

"""Comparing two runs' rows: exact digests, and metric rows that may differ only in their floats' last bits."""
import math

from ops.digests import float_deviation

ROWS = [{"model": "gbdt", "auc": 0.5, "rows": 536}, {"model": "lr_raw", "auc": 0.8, "rows": 536}]


def test_rows_differing_only_in_floats_give_the_largest_relative_difference_in_any_order():
    other = [{"model": "lr_raw", "auc": 0.8 * (1 + 2e-12), "rows": 536}, {"model": "gbdt", "auc": 0.5, "rows": 536}]
    assert math.isclose(float_deviation(ROWS, other), 2e-12, rel_tol=1e-3)
    assert float_deviation(ROWS, ROWS) == 0.0


def test_any_other_difference_is_not_a_float_deviation():
    assert float_deviation(ROWS, ROWS[:1]) is None  # a row missing
    assert float_deviation(ROWS, [ROWS[0], {**ROWS[1], "rows": 535}]) is None  # an exact value differs
    assert float_deviation(ROWS, [ROWS[0], {**ROWS[1], "auc": math.nan}]) is None  # NaN against a number
    assert float_deviation([{"auc": math.nan}], [{"auc": math.nan}]) == 0.0

import pytest

from bench.day_stats import paired_differences, seed_mean, seed_spread
from bench.quality_diff import quality_diff


def record(auc, gauc, rows=100):
    return {"auc": auc, "gauc": gauc, "logloss": 0.5, "train_seconds": 2.0, "rows": rows}


def test_a_days_figure_is_the_mean_over_seeds_and_the_spread_is_over_the_seeds_means_of_the_days():
    day = seed_mean([record(0.70, 0.60), record(0.74, None)])
    assert day["auc"] == pytest.approx(0.72) and day["gauc"] == pytest.approx(0.60) and day["rows"] == 100
    # Seed 7's days average .70 and seed 8's .74 (AUC): sd of (.70, .74) = .02 * sqrt(2).
    by_seed = {7: [record(0.68, 0.60), record(0.72, 0.62)], 8: [record(0.73, 0.61), record(0.75, 0.61)]}
    spread = seed_spread(by_seed)
    assert spread["auc"] == pytest.approx(0.02 * 2 ** 0.5) and spread["gauc"] == pytest.approx(0.0)
    assert seed_spread({7: by_seed[7]}) == {"auc": 0.0, "gauc": 0.0}  # one seed: no spread to speak of


def test_paired_differences_are_over_days_with_the_standard_error_of_their_mean():
    model = [record(0.72, 0.60), record(0.70, 0.64), record(0.71, 0.62)]
    baseline = [record(0.70, 0.60), record(0.70, 0.60), record(0.70, 0.60)]
    got = paired_differences(model, baseline)
    # Daily AUC differences .02, .00, .01: mean .01, sd .01, se .01 / sqrt(3).
    assert got["auc"]["mean"] == pytest.approx(0.01) and got["auc"]["se"] == pytest.approx(0.01 / 3 ** 0.5)
    assert got["gauc"]["mean"] == pytest.approx(0.02) and got["auc"]["days"] == 3


def test_two_runs_compare_model_by_model_on_the_same_days():
    before = {"days": ["1998-04-09", "1998-04-11"], "per_day": {
        "lr": [record(0.70, 0.60), record(0.70, 0.60), record(0.70, 0.60)], "din": [record(0.5, 0.5)] * 3}}
    after = {"days": ["1998-04-09", "1998-04-11"], "per_day": {
        "lr": [record(0.72, 0.60), record(0.70, 0.64), record(0.71, 0.62)]}}
    got = quality_diff(before, after)
    assert list(got) == ["lr"]  # a model of one run only is left out
    assert got["lr"]["auc"]["mean"] == pytest.approx(0.01) and got["lr"]["gauc"]["mean"] == pytest.approx(0.02)
    with pytest.raises(SystemExit, match="different days"):
        quality_diff(before, {**after, "days": ["1998-04-09", "1998-04-10"]})

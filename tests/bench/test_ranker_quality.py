import datetime as dt
import math
from types import SimpleNamespace

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from bench.day_stats import paired_difference, paired_differences, seed_mean, seed_spread
from bench.quality_diff import quality_diff
from bench.ranker_quality import baseline_metrics


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
    assert "conversion_auc" not in got  # the samples label no conversion


def test_conversion_auc_is_averaged_over_seeds_and_paired_over_days_where_both_sides_have_it():
    def converting(auc, conversion):
        return {**record(auc, 0.6), "conversion_auc": conversion}

    assert seed_mean([converting(0.7, 0.80), converting(0.7, 0.84)])["conversion_auc"] == pytest.approx(0.82)
    assert seed_mean([record(0.7, 0.6)])["conversion_auc"] is None
    got = paired_differences([converting(0.7, 0.80), converting(0.7, 0.90), converting(0.7, 0.75)],
                             [converting(0.7, 0.70), converting(0.7, 0.70), record(0.7, 0.6)])
    # The third day's reference has no conversion figure: two days, differences .10 and .20.
    assert got["conversion_auc"]["mean"] == pytest.approx(0.15) and got["conversion_auc"]["days"] == 2
    assert got["conversion_auc"]["se"] == pytest.approx(0.05)


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


def test_the_popularity_baseline_ranks_clicks_and_conversions_by_rank_one_first(tmp_path):
    day = dt.date(2017, 12, 3)
    # Ranks 1..4: the clicked rows are ranks 1 and 3, the one conversion rank 2; a row of the day before is not read.
    write_deltalake(str(tmp_path / "samples"), pa.table({
        "dt": pa.array([day] * 4 + [day - dt.timedelta(days=1)], pa.date32()), "user_id": ["a", "a", "b", "b", "a"],
        "item_popularity_rank_30d": [1, 2, 3, 4, 9], "label_click": [1, 0, 1, 0, 0],
        "label_conversion": [0, 1, 0, 0, 1]}), partition_by=["dt"])
    cfg = SimpleNamespace(samples=SimpleNamespace(mode="sampled_negatives"),
                          table_path=lambda _: str(tmp_path / "samples"))
    got = baseline_metrics(cfg, day)
    # Clicks: pairs (1,2) (1,4) (3,4) right, (3,2) wrong: 3/4. Per user: a (1 over 2) 1, b (3 over 4) 1.
    # Conversions: rank 2 is above ranks 3 and 4 and below 1: 2/3.
    assert got == {"auc": 0.75, "gauc": 1.0, "logloss": None, "conversion_auc": pytest.approx(2 / 3)}


def test_the_paired_difference_is_the_mean_of_the_differences_and_its_standard_error():
    # Differences 1, 0, 0, 3: mean 1, sample variance (0 + 1 + 1 + 4) / 3 = 2, standard error sqrt(2 / 4).
    mean, error = paired_difference([0.0, 1.0, 0.5, 0.0], [1.0, 1.0, 0.5, 3.0])
    assert mean == 1.0 and error == pytest.approx(math.sqrt(0.5))
    assert all(math.isnan(value) for value in paired_difference([0.0], [1.0]))
    with pytest.raises(ValueError, match="unpaired lists: 2 and 1"):
        paired_difference([0.0, 1.0], [1.0])

import datetime as dt

import numpy as np
import pyarrow.csv as pacsv
import pytest

from datasets.synthetic import SyntheticSpec, day_events, hidden_model, load_truth, write_synthetic

SMALL = SyntheticSpec(users=200, items=100, categories=5, days=2, impressions_per_day=5_000, seed=3)


def test_a_day_is_the_same_for_the_same_seed_and_differs_across_days():
    model = hidden_model(SMALL)
    first = day_events(model, dt.date(2024, 1, 1), 5_000, seed=3)
    assert first.equals(day_events(hidden_model(SMALL), dt.date(2024, 1, 1), 5_000, seed=3))
    assert not first.equals(day_events(model, dt.date(2024, 1, 2), 5_000, seed=3))


def test_events_form_a_funnel_inside_the_day():
    table = day_events(hidden_model(SMALL), dt.date(2024, 1, 1), 5_000, seed=3).to_pydict()
    types = np.array(table["event_type"])
    counts = {name: int((types == name).sum()) for name in ("impression", "click", "conversion")}
    assert counts["impression"] == 5_000
    assert 0 < counts["conversion"] < counts["click"] < counts["impression"]
    times = np.array(table["ts_ms"])
    assert (np.diff(times) >= 0).all()
    assert times.min() >= 1704067200000 and times.max() < 1704067200000 + 86_400_000  # 2024-01-01 UTC


def test_clicks_follow_the_hidden_preferences():
    model = hidden_model(SMALL)
    table = day_events(model, dt.date(2024, 1, 1), 20_000, seed=3).to_pydict()
    users = np.array([int(u[1:]) for u in table["user_id"]])
    items = np.array([int(i[1:]) for i in table["item_id"]])
    types = np.array(table["event_type"])
    shown = types == "impression"
    p = model.click_probability(users[shown], items[shown])
    clicked_pairs = set(zip(users[types == "click"], items[types == "click"]))
    was_clicked = np.array([(u, i) in clicked_pairs for u, i in zip(users[shown], items[shown])])
    # Impressions the hidden model favours are clicked far more often than the ones it does not.
    high, low = p > np.quantile(p, 0.8), p < np.quantile(p, 0.2)
    assert was_clicked[high].mean() > 2 * was_clicked[low].mean()


def test_files_follow_the_dataset_layout(tmp_path):
    files = write_synthetic(tmp_path, SMALL)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "events/dt=2024-01-01/part-00000.csv", "events/dt=2024-01-02/part-00000.csv"]
    header = files[0].read_text().splitlines()[0]
    assert header == "user_id,item_id,event_type,ts_ms"
    assert pacsv.read_csv(tmp_path / "items.csv").num_rows == 100


def _affinity_correlation(selection_bias: float) -> float:
    model = hidden_model(SyntheticSpec(users=400, items=300, categories=5, seed=3, selection_bias=selection_bias))
    pairs = np.random.default_rng(0).integers(0, 300, (2, 20_000))  # users and items < 300
    users, items = pairs
    click = np.einsum("ij,ij->i", model.user_click[users], model.item_click[items])
    convert = np.einsum("ij,ij->i", model.user_convert[users], model.item_convert[items])
    return float(np.corrcoef(click, convert)[0, 1])


def test_selection_bias_ties_conversion_affinity_to_click_affinity():
    # The docstring's corr ~ b^2: 0 without the knob, ~0.81 at 0.9, exactly 1 when the factors are the click ones.
    assert abs(_affinity_correlation(0.0)) < 0.05
    assert 0.7 < _affinity_correlation(0.9) < 0.9
    assert _affinity_correlation(1.0) > 0.999


def test_under_selection_bias_clicked_impressions_convert_more_than_unclicked_ones_would():
    def true_cvr_clicked_and_not(selection_bias):
        model = hidden_model(SyntheticSpec(users=200, items=100, categories=5, seed=3, selection_bias=selection_bias))
        table = day_events(model, dt.date(2024, 1, 1), 20_000, seed=3).to_pydict()
        types = np.array(table["event_type"])
        users = np.array([int(u[1:]) for u in table["user_id"]])
        items = np.array([int(i[1:]) for i in table["item_id"]])
        clicked_pairs = set(zip(users[types == "click"], items[types == "click"]))
        shown = types == "impression"
        was_clicked = np.array([(u, i) in clicked_pairs for u, i in zip(users[shown], items[shown])])
        p = model.conversion_probability(users[shown], items[shown])
        return p[was_clicked].mean(), p[~was_clicked].mean()

    clicked, unclicked = true_cvr_clicked_and_not(0.0)
    assert abs(clicked - unclicked) < 0.01
    clicked, unclicked = true_cvr_clicked_and_not(0.9)
    assert clicked > unclicked + 0.03


def test_selection_bias_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="selection_bias"):
        hidden_model(SyntheticSpec(users=10, items=10, selection_bias=1.5))


def test_the_saved_truth_gives_back_the_conversion_probabilities(tmp_path):
    spec = SyntheticSpec(users=50, items=40, categories=3, days=1, impressions_per_day=100, seed=3,
                         selection_bias=0.5)
    write_synthetic(tmp_path, spec)
    users, items = np.array([0, 7, 49]), np.array([39, 2, 0])
    np.testing.assert_array_equal(load_truth(tmp_path / "truth.npz").conversion_probability(users, items),
                                  hidden_model(spec).conversion_probability(users, items))

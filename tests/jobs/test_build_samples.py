import datetime as dt

import pandas as pd
import pytest

from core.config_schema import SampleConfig
from core.errors import PipelineError
from features.samples import feature_columns
from features.schema import EVENTS
from features.spec import feature_spec
from jobs import build_samples as build_samples_module
from jobs.build_daily_rollups import rollup, with_item_category
from jobs.build_samples import (
    build_samples,
    check_against_spec,
    leak_check_batches,
    user_category_history,
    with_features,
)
from jobs.label_leak import LabelLeakError, check_label_leak
from jobs.sample_labels import funnel_samples, positive_item_weights, rating_samples, sample_negatives
from tests.conftest import SYNTHETIC, config_for

D = dt.date(2024, 1, 2)
FUNNEL = SampleConfig(mode="impressions", like_threshold=None, exposure_type="impression", click_type="click",
                      conversion_type="conversion", negatives_per_click=2, attribution_days=1,
                      leak_auc_threshold=0.99, missing_auc_threshold=0.75)


def events(spark, rows):
    """rows: (user, item, type, day, value)."""
    return spark.createDataFrame(
        [(f"e{i}", u, i_, t, dt.datetime(day.year, day.month, day.day, 12, i % 60), v, day)
         for i, (u, i_, t, day, v) in enumerate(rows)], EVENTS)


def pairs(frame, *columns):
    return sorted(tuple(row[c] for c in ("user_id", "item_id", *columns)) for row in frame.collect())


def test_every_rating_of_the_day_is_a_sample_liked_at_the_threshold(spark):
    day = events(spark, [("u1", "m1", "rating", D, 4.0), ("u1", "m2", "rating", D, 3.0),
                         ("u2", "m1", "rating", D, 5.0)])
    assert pairs(rating_samples(day, 4.0), "label_like") == [("u1", "m1", 1), ("u1", "m2", 0), ("u2", "m1", 1)]


def test_impressions_get_click_and_click_through_conversion_labels(spark):
    next_day = D + dt.timedelta(days=1)
    log = events(spark, [
        ("u1", "i1", "impression", D, None), ("u1", "i1", "click", D, None), ("u1", "i1", "conversion", D, None),
        ("u1", "i2", "impression", D, None), ("u1", "i2", "click", D, None),
        ("u1", "i2", "conversion", next_day, None),  # inside the 1-day attribution window
        ("u1", "i3", "impression", D, None), ("u1", "i3", "conversion", D, None),  # no click: no CTCVR
        ("u2", "i1", "impression", D, None), ("u2", "i1", "impression", D, None),  # one sample per pair
        ("u2", "i4", "click", D, None),  # clicked without an impression: not an exposure
    ])
    got = funnel_samples(log.where(log.dt == D), log, FUNNEL)
    assert pairs(got, "label_click", "label_conversion") == [
        ("u1", "i1", 1, 1), ("u1", "i2", 1, 1), ("u1", "i3", 0, 0), ("u2", "i1", 0, 0)]


def test_funnel_labels_of_two_days_in_one_pass_equal_each_day_on_its_own(spark):
    next_day, third = D + dt.timedelta(days=1), D + dt.timedelta(days=2)
    log = events(spark, [
        ("u1", "i1", "impression", D, None), ("u1", "i1", "click", D, None),
        ("u1", "i1", "impression", next_day, None), ("u1", "i1", "click", next_day, None),
        ("u1", "i1", "conversion", third, None),  # attributed to next_day's sample only (W = 1)
        ("u2", "i2", "impression", D, None), ("u2", "i2", "click", D, None),
        ("u2", "i2", "conversion", next_day, None),  # attributed to D's sample (and next_day's, which has none)
    ])
    both = funnel_samples(log.where(log.dt.isin([D, next_day])), log, FUNNEL)
    one_by_one = [row for day in (D, next_day) for row in pairs(funnel_samples(
        log.where(log.dt == day), log.where(log.dt.between(day, day + dt.timedelta(days=1))), FUNNEL),
        "dt", "label_click", "label_conversion")]
    assert pairs(both, "dt", "label_click", "label_conversion") == sorted(one_by_one) == [
        ("u1", "i1", D, 1, 0), ("u1", "i1", next_day, 1, 1), ("u2", "i2", D, 1, 1)]


def test_negatives_are_seeded_by_day_popular_and_never_touched_items(spark):
    popularity = pd.DataFrame({"item_id": [f"i{n}" for n in range(50)], "weight": [1000] + [1] * 49})
    rows = [(f"u{u}", "i1", "pv", D, None) for u in range(30)] + [(f"u{u}", "i0", "cart", D, None) for u in range(15)]
    day = events(spark, rows)
    positives = day.where("event_type = 'pv'").select("user_id", "item_id", "dt").distinct()
    first = pairs(sample_negatives(positives, day, popularity.assign(dt=D), 2))
    assert first == pairs(sample_negatives(positives, day, popularity.assign(dt=D), 2))  # a re-run draws the same
    next_day = D + dt.timedelta(days=1)
    moved = [(user, item, kind, next_day, value) for user, item, kind, _, value in rows]
    later = sample_negatives(events(spark, moved).where("event_type = 'pv'").select("user_id", "item_id", "dt"),
                             events(spark, moved), popularity.assign(dt=next_day), 2)
    assert first != pairs(later)
    per_user = pd.Series([u for u, _ in first]).value_counts()
    assert len(per_user) == 30 and (per_user == 2).all()
    assert all(item != "i1" for _, item in first)  # the clicked item itself
    assert all(item != "i0" for user, item in first if int(user[1:]) < 15)  # touched (cart) items too
    # i0 holds ~95% of the weight: every user who did not touch it draws it.
    assert sum(item == "i0" for user, item in first if int(user[1:]) >= 15) == 15


def test_cross_features_count_the_users_past_events_in_the_items_categories(spark):
    log = events(spark, [("u1", "i1", "pv", D - dt.timedelta(days=1), None),
                         ("u1", "i2", "pv", D - dt.timedelta(days=3), None),
                         ("u1", "i3", "pv", D, None)])  # the last is on D: never a feature of D
    categories = spark.createDataFrame([("i1", ["a"]), ("i2", ["a", "b"]), ("i3", ["a"]), ("i9", ["b"])],
                                       "item_id string, category array<string>")
    daily = rollup(with_item_category(log, categories, "category"), ["user_id", "category"], ["pv"])
    sample_pairs = log.sparkSession.createDataFrame([("u1", "i3", D), ("u1", "i9", D)],
                                                    "user_id string, item_id string, dt date")
    got = user_category_history(daily, sample_pairs, categories, [D], [1, 7], ["pv"])
    assert pairs(got, "cross_category_events_1d", "cross_category_events_7d") == [
        ("u1", "i3", 1, 2), ("u1", "i9", 0, 1)]


def test_a_user_with_a_history_but_none_in_the_items_categories_counts_zero_and_a_cold_user_null(spark):
    # The same literal rows as the GBDT's and the TF model's tests of missing values: u1 has a history (a profile),
    # none of it in i9's categories (0, a real zero); u2 has no history at all (null, unknown).
    labeled = spark.createDataFrame([("u1", "i3", D, 1), ("u1", "i9", D, 0), ("u2", "i3", D, 1)],
                                    "user_id string, item_id string, dt date, label_like int")
    profile = spark.createDataFrame([("u1", 3, 1, D)],
                                    "user_id string, n_pv_7d bigint, days_since_last_event int, as_of date")
    items = spark.createDataFrame([("i3", 5, D), ("i9", 2, D)], "item_id string, n_pv_7d bigint, as_of date")
    cross = spark.createDataFrame([("u1", "i3", D, 2)],
                                  "user_id string, item_id string, dt date, cross_category_events_7d bigint")
    got = with_features(labeled, profile, items, None, None, cross)
    assert pairs(got, "user_n_pv_7d", "cross_category_events_7d") == [
        ("u1", "i3", 3, 2), ("u1", "i9", 3, 0), ("u2", "i3", None, None)]


def test_negatives_share_the_positives_item_distribution_new_items_included(spark):
    # i_new has no past (no profile before D): popularity before D could never draw it, so it was a positive only.
    rows = [(f"u{u}", "i_new", "pv", D, None) for u in range(20)]
    rows += [(f"u{u}", "i_old", "pv", D, None) for u in range(20, 40)]
    day = events(spark, rows)
    positives = day.select("user_id", "item_id", "dt").distinct()
    weights = positive_item_weights(positives)
    assert weights.to_dict("list") == {"dt": [D, D], "item_id": ["i_new", "i_old"], "weight": [20, 20]}
    negatives = pairs(sample_negatives(positives, day, weights, 1))
    # Each user touched one of the two items, so its one negative is the other: both items are drawn 20 times,
    # as often as each is a positive.
    assert negatives == sorted([(f"u{u}", "i_old") for u in range(20)] + [(f"u{u}", "i_new") for u in range(20, 40)])


def test_a_feature_that_predicts_the_label_fails_the_day_and_is_named():
    four = pd.DataFrame({"user_n_pv_7d": [3, 1, 2, 5], "item_label_copy": [0.1, 0.9, 0.2, 0.8],
                         "label_like": [0, 1, 0, 1]})
    rows = pd.concat([four] * 10, ignore_index=True)
    check_label_leak(rows, ["user_n_pv_7d"], ["label_like"], 0.99, 0.75)
    with pytest.raises(LabelLeakError, match="feature item_label_copy predicts label_like with univariate AUC 1.0000"):
        check_label_leak(rows, ["user_n_pv_7d", "item_label_copy"], ["label_like"], 0.99, 0.75)
    # On the four rows alone AUC 1 is 1.5 standard errors from 0.5 (sqrt(5 / 48) = 0.32): a chance ranking of a tiny
    # day (MovieLens 1997-12-25: 4 ratings), not a leak; on the forty above it is 5.4.
    check_label_leak(four, ["item_label_copy"], ["label_like"], 0.99, 0.75)


def test_a_feature_missing_on_one_label_only_fails_the_day():
    # The old Taobao negatives, in eight rows repeated 20 times: items new on D (no profile) were clicked, never
    # drawn as negatives. The values themselves (AUC 0.19: 1 - AUC 0.81 < 0.99) pass; whether they are missing
    # separates the labels: missing rates 3/4 vs 0, 9.8 standard errors apart over 160 rows.
    eight = pd.DataFrame({"item_n_pv_1d": [None, None, None, 4.0, 1.0, 2.0, 3.0, 5.0],
                          "label_click": [1, 1, 1, 1, 0, 0, 0, 0]})
    rows = pd.concat([eight] * 20, ignore_index=True)
    with pytest.raises(LabelLeakError, match="whether feature item_n_pv_1d is missing predicts label_click with "
                                             "univariate AUC 0.8750"):
        check_label_leak(rows, ["item_n_pv_1d"], ["label_click"], 0.99, 0.75)
    # The same gap on the eight rows alone is 2.2 standard errors: a small day's chance pattern, not a leak.
    check_label_leak(eight, ["item_n_pv_1d"], ["label_click"], 0.99, 0.75)
    # Missing on a quarter of each label: no signal in missingness (AUC 0.5), the day passes.
    rows["item_n_pv_1d"] = [None, 1.0, 2.0, 4.0, None, 2.0, 3.0, 5.0] * 20
    check_label_leak(rows, ["item_n_pv_1d"], ["label_click"], 0.99, 0.75)


def test_a_few_users_rows_count_as_a_few_units_not_as_many_rows():
    # MovieLens 1998-01-29 in small: two users new that day (no profile) like most of what they rate, two with a
    # profile dislike most. Per row the missing flag is 7.6 standard errors from no gap; per user, 4 units, 1.4.
    def user(name, cold, likes, dislikes):
        return [(name, None if cold else 3.0, label) for label in [1] * likes + [0] * dislikes]
    few = pd.DataFrame(user("u1", True, 30, 10) + user("u2", True, 15, 5) + user("u3", False, 1, 39)
                       + user("u4", False, 3, 17), columns=["user_id", "user_n_rating_1d", "label_like"])
    check_label_leak(few, ["user_id", "user_n_rating_1d"], ["label_like"], 0.99, 0.75)
    # The same rows from 120 different users: the same gap is now a pattern of the whole day, and it fails.
    many = few.assign(user_id=[f"u{n}" for n in range(len(few))])
    with pytest.raises(LabelLeakError, match="whether feature user_n_rating_1d is missing predicts label_like"):
        check_label_leak(many, ["user_n_rating_1d"], ["label_like"], 0.99, 0.75)


def test_a_text_feature_constant_within_each_label_fails_the_day():
    four = pd.DataFrame({"item_source": ["clicked", "clicked", "drawn", "drawn"],
                         "item_category_id": ["c1", "c2", "c1", "c2"], "user_n_pv_1d": [None] * 4,
                         "label_click": [1, 1, 0, 0]})
    check_label_leak(four, ["item_source"], ["label_click"], 0.99, 0.75)  # two rows a label: too few to tell
    rows = pd.concat([four] * 10, ignore_index=True)  # 20 rows a label
    check_label_leak(rows, ["item_category_id", "user_n_pv_1d"], ["label_click"], 0.99, 0.75)  # missing everywhere
    with pytest.raises(LabelLeakError, match="feature item_source is 'drawn' on every row where label_click is 0 "
                                             "and 'clicked' on every row where it is 1"):
        check_label_leak(rows, ["item_category_id", "item_source"], ["label_click"], 0.99, 0.75)


def test_leak_check_batches_fetch_small_days_together_and_a_large_day_alone():
    days = [dt.date(2024, 1, n) for n in range(1, 7)]
    sizes = dict(zip(days, [5, 4, 20, 1, 9, 2]))
    assert leak_check_batches(sizes, 10) == [days[0:2], [days[2]], days[3:5], [days[5]]]
    assert leak_check_batches({}, 10) == []


def test_a_range_checks_each_large_days_seeded_sample_and_every_row_of_a_small_day(spark, monkeypatch):
    # Day 1: 400 rows, over the 100-row cap, so about 100 of them are checked; day 2: 60 rows, all checked.
    def day_rows(day, n, leak):
        return [(f"u{k}", f"i{k}", float(k % 7), float(k % 2) if leak else float(k % 5), k % 2, day)
                for k in range(n)]
    columns = ["user_id", "item_id", "user_n_rating_7d", "item_score", "label_like", "dt"]
    first, second = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    rules = SampleConfig(mode="ratings", like_threshold=4, exposure_type=None, click_type=None, conversion_type=None,
                         negatives_per_click=1, attribution_days=0, leak_auc_threshold=0.99,
                         missing_auc_threshold=0.75)
    checked = {}
    real_check_days = build_samples_module._check_days

    def spy(rows, features, labels, rules):
        checked.update(rows.groupby("dt").size().to_dict())
        real_check_days(rows, features, labels, rules)
    monkeypatch.setattr(build_samples_module, "LEAK_CHECK_ROWS", 100)
    monkeypatch.setattr(build_samples_module, "_check_days", spy)
    clean = spark.createDataFrame(day_rows(first, 400, False) + day_rows(second, 60, False), columns)
    build_samples_module._check_leaks(clean, rules)
    drawn = checked.pop(first)
    assert checked == {second: 60} and 60 <= drawn <= 140, (drawn, checked)  # binomial(400, 1/4): 100 +- 8.7
    build_samples_module._check_leaks(clean, rules)
    assert checked[first] == drawn  # seeded: a re-run checks the same rows
    leaky = spark.createDataFrame(day_rows(first, 400, True) + day_rows(second, 60, False), columns)
    with pytest.raises(LabelLeakError, match="samples of 2024-01-01: feature item_score predicts label_like"):
        build_samples_module._check_leaks(leaky, rules)


def test_the_spec_tells_features_from_keys_labels_and_bookkeeping():
    columns = ["user_id", "item_id", "dt", "label_click", "label_conversion", "is_sampled_negative", "user_n_pv_7d",
               "item_genres", "cross_category_events_7d"]
    assert feature_columns(columns) == ["user_id", "item_id", "user_n_pv_7d", "item_genres", "cross_category_events_7d"]


def test_samples_that_differ_from_the_feature_spec_are_refused(tmp_path):
    spec = feature_spec(config_for(tmp_path, SYNTHETIC))
    columns = ["dt", "label_click", *spec.names]
    check_against_spec(columns, spec)
    with pytest.raises(PipelineError, match=r"missing \['user_id'\], unexpected \['user_key'\]"):
        check_against_spec(["user_key"] + columns[3:], spec)
    with pytest.raises(PipelineError, match="order differs"):
        check_against_spec([columns[3], columns[2], *columns[4:]], spec)


def test_samples_wait_for_the_attribution_window_to_close(spark, tmp_path):
    cfg = config_for(tmp_path, SYNTHETIC, samples={"attribution_days": 1})
    events(spark, [("u1", "i1", "impression", D, None)]).write.format("delta").partitionBy("dt") \
        .save(cfg.table_path("events"))
    with pytest.raises(PipelineError, match="labels of 2024-01-02 are not mature: they need the events of 2024-01-03"):
        build_samples(spark, cfg, D)


def test_a_day_without_the_event_type_samples_are_made_from_fails_clearly(spark, tmp_path):
    cfg = config_for(tmp_path, SYNTHETIC)  # impressions mode: one sample per impression of D
    events(spark, [("u1", "i1", "click", D, None)]).write.format("delta").partitionBy("dt") \
        .save(cfg.table_path("events"))
    with pytest.raises(PipelineError, match="no samples of 2024-01-02: samples mode 'impressions' makes them from "
                                            "the 'impression' events of the day, and 2024-01-02 has none"):
        build_samples(spark, cfg, D)

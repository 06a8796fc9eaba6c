import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs.recall_common import read_candidates, write_candidates
from jobs.recall_merge import MERGED_SOURCES, UNIFORM, choose_weighting, fuse, paired_gain, recall_merge, tune_weights
from tests.conftest import MOVIELENS, config_for
from tests.jobs.recall_fixtures import collect, write_user_item_daily

D = dt.date(2017, 12, 3)
DAY = dt.timedelta(days=1)


def candidates(spark, rows):
    """rows: (source, user, item, rank)."""
    return spark.createDataFrame(rows, "source string, user_id string, item_id string, rank int")


def weights(spark, **by_source):
    return spark.createDataFrame(list(by_source.items()), "source string, weight double")


def write_lists(spark, cfg, as_of, rows):
    """rows: (source, user, item, rank) -> each source's candidates of as_of, as the recall jobs write them."""
    union = candidates(spark, rows)
    for source in sorted({row[0] for row in rows}):
        mine = union.where(F.col("source") == source).drop("source").withColumn("score", -F.col("rank") * 1.0)
        write_candidates(spark, cfg, mine, as_of, source)


def test_merge_fuses_ranks_reciprocally_by_weight_and_lists_the_sources(spark):
    union = candidates(spark, [("als", "u1", "A", 1), ("als", "u1", "B", 2), ("itemcf", "u1", "B", 1),
                               ("popular", "u1", "C", 1), ("merged", "u1", "Z", 1)])  # an old merge is ignored
    equal = collect(fuse(union, weights(spark, als=1.0, itemcf=1.0, popular=1.0), rrf_k=60, k=3),
                    "rank", "item_id", "score", "sources")
    assert equal == [(1, "B", pytest.approx(1 / 62 + 1 / 61), ["als", "itemcf"]),
                     (2, "A", pytest.approx(1 / 61), ["als"]), (3, "C", pytest.approx(1 / 61), ["popular"])]
    # popular weighs 3: C (3/61) overtakes B (1/62 + 1/61); itemcf weighs 0: it neither scores nor is listed.
    weighted = collect(fuse(union, weights(spark, als=1.0, itemcf=0.0, popular=3.0), rrf_k=60, k=3),
                       "rank", "item_id", "score", "sources")
    assert weighted == [(1, "C", pytest.approx(3 / 61), ["popular"]), (2, "A", pytest.approx(1 / 61), ["als"]),
                        (3, "B", pytest.approx(1 / 62), ["als"])]


def test_merge_of_a_day_without_itemcf_candidates_fuses_the_others_and_says_so(spark, tmp_path):
    cfg = config_for(tmp_path, MOVIELENS)
    write_lists(spark, cfg, D, [("als", "u1", "A", 1), ("popular", "u1", "C", 1)])
    assert recall_merge(spark, cfg, D) == (
        f"recall_merge {D}: 2 candidates from als, popular (none from itemcf, item2vec, two_tower); "
        "plain RRF (no earlier day with candidates to tune on)")
    merged = read_candidates(spark, cfg, D).where(F.col("source") == "merged")
    assert collect(merged, "rank", "item_id", "sources") == [(1, "A", ["als"]), (2, "C", ["popular"])]


def tuning_lake(spark, tmp_path, d_minus_1_lists):
    """u1 has history on D-2 and one new item, X, on D-1: the one positive of the tuning day D-1."""
    cfg = config_for(tmp_path, MOVIELENS, recall={"merge": {"tune_days": 2, "tune_k": 1}})
    write_user_item_daily(spark, cfg, [("u1", "H", "rating", D - 2 * DAY, 9, 4.0),
                                       ("u1", "X", "rating", D - DAY, 9, 4.0)])
    write_lists(spark, cfg, D - DAY, d_minus_1_lists)
    return cfg


# On D-1, recall@1: als 0 (Y first), itemcf 1, popular 0. Fused equally Y (2/61) beats X (1/62 + 1/61): 0.
D_MINUS_1 = [("als", "u1", "Y", 1), ("als", "u1", "X", 2), ("itemcf", "u1", "X", 1), ("popular", "u1", "Y", 1)]


def test_the_weights_are_tuned_on_the_days_before_d_by_hand(spark, tmp_path):
    cfg = tuning_lake(spark, tmp_path, D_MINUS_1)
    # D-2 has lists too, but no positive: u1 has no history before it. It is a tuning day that scores nobody.
    write_lists(spark, cfg, D - 2 * DAY, [("als", "u1", "H", 1)])
    chosen, by_source, tried, days = tune_weights(spark, cfg, D, MERGED_SOURCES)
    assert days == [D - 2 * DAY, D - DAY]
    assert tried == {"uniform": 0.0, "by_recall": 1.0, "by_recall_squared": 1.0, "als": 0.0, "itemcf": 1.0,
                     "popular": 0.0, "item2vec": 0.0, "two_tower": 0.0}
    # The mixes by recall tie with itemcf (they weigh itemcf alone), so they gain nothing over it: itemcf it is.
    assert chosen == "itemcf"
    assert by_source == {"als": 0.0, "itemcf": 1.0, "popular": 0.0, "item2vec": 0.0, "two_tower": 0.0}


def test_the_weights_do_not_depend_on_day_d_and_the_merge_records_them(spark, tmp_path):
    cfg = tuning_lake(spark, tmp_path, D_MINUS_1)
    before = tune_weights(spark, cfg, D, MERGED_SOURCES)
    # D's own lists and interactions: ALS would be perfect on D. The weights must not move.
    write_lists(spark, cfg, D, [("als", "u1", "Z", 1), ("itemcf", "u1", "W", 1), ("popular", "u1", "Z", 2)])
    write_user_item_daily(spark, cfg, [("u1", "Z", "rating", D, 9, 5.0)])
    assert tune_weights(spark, cfg, D, MERGED_SOURCES) == before
    report = recall_merge(spark, cfg, D)
    assert "weights itemcf (als 0.00, itemcf 1.00, popular 0.00, item2vec 0.00, two_tower 0.00)" in report
    merged = read_candidates(spark, cfg, D).where(F.col("source") == "merged")
    assert collect(merged, "rank", "item_id", "sources") == [(1, "W", ["itemcf"])]
    kept = spark.read.format("delta").load(cfg.table_path("recall_merge_weights")).where(F.col("as_of") == D)
    assert dict(collect(kept, "source", "weight")) == before[1]


def test_a_different_day_before_d_changes_the_weights(spark, tmp_path):
    # The control of the test above: ALS ranking X first on D-1 makes ALS the best source instead.
    cfg = tuning_lake(spark, tmp_path, [("als", "u1", "X", 1), ("itemcf", "u1", "Y", 1), ("popular", "u1", "Y", 1)])
    chosen, by_source, _, _ = tune_weights(spark, cfg, D, MERGED_SOURCES)
    assert chosen == "als" and by_source["als"] == 1.0 and by_source["itemcf"] == 0.0


def test_a_mix_that_beats_every_source_on_the_days_before_d_is_taken(spark, tmp_path):
    # u1's positives on D-1 at recall@2: X and Y. ALS finds X (then Z), item-CF finds Y (then W): 1/2 each. Fused
    # equally, X and Y (1/61 each) lead Z and W (1/62): 2/2, a gain of 1/2 on the one (day, user).
    cfg = config_for(tmp_path, MOVIELENS, recall={"merge": {"tune_days": 2, "tune_k": 2}})
    write_user_item_daily(spark, cfg, [("u1", "H", "rating", D - 2 * DAY, 9, 4.0),
                                       ("u1", "X", "rating", D - DAY, 9, 4.0), ("u1", "Y", "rating", D - DAY, 9, 4.0)])
    write_lists(spark, cfg, D - DAY, [("als", "u1", "X", 1), ("als", "u1", "Z", 2),
                                      ("itemcf", "u1", "Y", 1), ("itemcf", "u1", "W", 2)])
    chosen, by_source, tried, _ = tune_weights(spark, cfg, D, MERGED_SOURCES)
    assert (tried["als"], tried["itemcf"], tried["uniform"]) == (0.5, 0.5, 1.0)
    assert chosen == "uniform" and by_source == {source: 1.0 for source in MERGED_SOURCES}


# Recall of each weighting on four (day, user) units. The mix's gains over als: 1/2, 1/2, 1/2, 0; mean 3/8;
# deviations 1/8, 1/8, 1/8, -3/8, sample variance (3/64 + 9/64) / 3 = 1/16, standard error sqrt(1/16 / 4) = 1/8.
UNITS = [("d1", "u1"), ("d1", "u2"), ("d2", "u1"), ("d2", "u2")]
RECALLS = {"uniform": dict(zip(UNITS, [0.5, 1.0, 0.5, 1.0])), "als": dict(zip(UNITS, [0.0, 0.5, 0.0, 1.0])),
           "itemcf": dict(zip(UNITS, [0.0, 0.0, 0.5, 0.0]))}


def test_paired_gain_is_the_mean_difference_and_its_standard_error_by_hand():
    assert paired_gain(RECALLS["uniform"].values(), RECALLS["als"].values()) == (0.375, 0.125)
    assert paired_gain([0.5], [0.0]) == (0.5, 0.0)  # one unit: no error to speak of
    assert paired_gain([], []) == (0.0, 0.0)


@pytest.mark.parametrize("margin_se, chosen", [(0.0, "uniform"), (2.9, "uniform"), (3.0, "als"), (5.0, "als")])
def test_a_mix_is_chosen_only_when_it_beats_the_best_source_by_more_than_the_margin(margin_se, chosen):
    # The gain 3/8 is exactly 3 standard errors: at 3 the mix does not beat als by more than the margin.
    assert choose_weighting(RECALLS, ["uniform"], ["als", "itemcf"], margin_se) == chosen


def test_without_a_hit_on_the_tuning_days_every_source_weighs_alike():
    nothing = {name: dict.fromkeys(UNITS, 0.0) for name in ("uniform", "als", "itemcf")}
    assert choose_weighting(nothing, ["uniform"], ["als", "itemcf"], 1.0) == UNIFORM


def test_ties_go_to_the_first_listed_and_a_source_without_candidates_counts_zero():
    # itemcf ties als; two_tower proposed nothing, so it has no units at all.
    tied = {"uniform": RECALLS["als"], "als": RECALLS["als"], "itemcf": RECALLS["als"], "two_tower": {}}
    assert choose_weighting(tied, ["uniform"], ["two_tower", "itemcf", "als"], 0.0) == "itemcf"

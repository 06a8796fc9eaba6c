import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs.recall_common import read_candidates, write_candidates
from jobs.recall_merge import MERGED_SOURCES, fuse, recall_merge, tune_weights
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
                     "popular": 0.0}
    # Weights proportional to each source's recall: itemcf alone (a fusion wins a tie with a single source).
    assert chosen == "by_recall"
    assert by_source == {"als": 0.0, "itemcf": 1.0, "popular": 0.0, "item2vec": 0.0, "two_tower": 0.0}


@pytest.mark.slow
def test_the_weights_do_not_depend_on_day_d_and_the_merge_records_them(spark, tmp_path):
    cfg = tuning_lake(spark, tmp_path, D_MINUS_1)
    before = tune_weights(spark, cfg, D, MERGED_SOURCES)
    # D's own lists and interactions: ALS would be perfect on D. The weights must not move.
    write_lists(spark, cfg, D, [("als", "u1", "Z", 1), ("itemcf", "u1", "W", 1), ("popular", "u1", "Z", 2)])
    write_user_item_daily(spark, cfg, [("u1", "Z", "rating", D, 9, 5.0)])
    assert tune_weights(spark, cfg, D, MERGED_SOURCES) == before
    report = recall_merge(spark, cfg, D)
    assert "weights by_recall (als 0.00, itemcf 1.00, popular 0.00, item2vec 0.00, two_tower 0.00)" in report
    merged = read_candidates(spark, cfg, D).where(F.col("source") == "merged")
    assert collect(merged, "rank", "item_id", "sources") == [(1, "W", ["itemcf"])]
    kept = spark.read.format("delta").load(cfg.table_path("recall_merge_weights")).where(F.col("as_of") == D)
    assert dict(collect(kept, "source", "weight")) == before[1]


def test_a_different_day_before_d_changes_the_weights(spark, tmp_path):
    # The control of the test above: ALS ranking X first on D-1 makes ALS the best source instead.
    cfg = tuning_lake(spark, tmp_path, [("als", "u1", "X", 1), ("itemcf", "u1", "Y", 1), ("popular", "u1", "Y", 1)])
    chosen, by_source, _, _ = tune_weights(spark, cfg, D, MERGED_SOURCES)
    assert chosen == "by_recall" and by_source["als"] == 1.0 and by_source["itemcf"] == 0.0

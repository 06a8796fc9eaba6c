import datetime as dt

import pytest

from core.errors import PipelineError
from features.schema import EVENTS
from jobs.build_daily_rollups import build_daily_rollups, rollup, with_item_category
from tests.conftest import TAOBAO, config_for

D = dt.date(2017, 11, 25)


def at(hour, minute=0):
    return dt.datetime(2017, 11, 25, hour, minute)


def events_frame(spark, rows):
    return spark.createDataFrame([(f"e{i}", *row, D) for i, row in enumerate(rows)], EVENTS)


EVENT_ROWS = [  # user, item, type, time, value
    ("u1", "i1", "pv", at(1), None),
    ("u1", "i1", "pv", at(2), None),
    ("u1", "i2", "buy", at(3), None),
    ("u2", "i1", "cart", at(4), None),
]


def as_tuples(frame, columns):
    return sorted((tuple(row[c] for c in columns) for row in frame.collect()), key=repr)


def test_user_rollup_counts_each_type_and_keeps_first_and_last_time(spark):
    got = rollup(events_frame(spark, EVENT_ROWS), ["user_id"], ["pv", "cart", "fav", "buy"])
    columns = ["user_id", "dt", "n_pv", "n_cart", "n_fav", "n_buy", "value_count", "value_sum",
               "first_event_time", "last_event_time"]
    assert got.columns == columns
    assert as_tuples(got, columns) == [
        ("u1", D, 2, 0, 0, 1, 0, None, at(1), at(3)),
        ("u2", D, 0, 1, 0, 0, 0, None, at(4), at(4)),
    ]


def test_values_are_counted_and_summed(spark):
    rows = [("u1", "m1", "rating", at(1), 4.0), ("u1", "m2", "rating", at(2), 2.0), ("u2", "m1", "rating", at(3), 5.0)]
    got = rollup(events_frame(spark, rows), ["item_id"], ["rating"])
    assert as_tuples(got, ["item_id", "n_rating", "value_count", "value_sum"]) == [
        ("m1", 2, 2, 9.0), ("m2", 1, 1, 2.0)]


def test_list_categories_are_exploded_and_unknown_items_keep_a_null_category(spark):
    rows = [("u1", "m1", "rating", at(1), 4.0), ("u1", "m2", "rating", at(2), 2.0), ("u1", "m9", "rating", at(3), 1.0)]
    items = spark.createDataFrame([("m1", ["Action", "Comedy"]), ("m2", ["Comedy"])],
                                  "item_id string, genres array<string>")
    got = rollup(with_item_category(events_frame(spark, rows), items, "genres"), ["user_id", "category"], ["rating"])
    assert as_tuples(got, ["user_id", "category", "n_rating", "value_sum"]) == sorted([
        ("u1", "Action", 1, 4.0), ("u1", "Comedy", 2, 6.0), ("u1", None, 1, 1.0)], key=repr)


def test_job_writes_three_partitions_from_events_and_item_snapshot(spark, tmp_path):
    cfg = config_for(tmp_path, TAOBAO)
    events_frame(spark, EVENT_ROWS).write.format("delta").partitionBy("dt").save(cfg.table_path("events"))
    spark.createDataFrame([("i1", "c1", D), ("i2", "c2", D)], "item_id string, category_id string, dt date") \
        .write.format("delta").partitionBy("dt").save(cfg.table_path("item_attributes"))
    assert build_daily_rollups(spark, cfg, D) == (
        "build_daily_rollups 2017-11-25: user_daily=2 item_daily=2 user_category_daily=3 user_item_daily=3")
    by_category = spark.read.format("delta").load(cfg.table_path("user_category_daily"))
    assert as_tuples(by_category, ["user_id", "category", "n_pv", "n_cart", "n_buy"]) == [
        ("u1", "c1", 2, 0, 0), ("u1", "c2", 0, 0, 1), ("u2", "c1", 0, 1, 0)]
    with pytest.raises(PipelineError, match="no events of 2017-11-26 .* run ingest_events for 2017-11-26 first"):
        build_daily_rollups(spark, cfg, dt.date(2017, 11, 26))


def test_a_missing_input_table_names_the_job_to_run(spark, tmp_path):
    with pytest.raises(PipelineError, match="no table at .*/lake/events; run ingest_events for 2017-11-25 first"):
        build_daily_rollups(spark, config_for(tmp_path, TAOBAO), D)

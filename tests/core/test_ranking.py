import re
from contextlib import contextmanager

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from core.ranking import row_numbers

SCHEMA = "id string, count int, day string"
# Ties on count (a, c at 5; b, e, f at 3) are broken by id; g has no day, a group of its own.
ROWS = [("a", 5, "d1"), ("b", 3, "d1"), ("c", 5, "d2"), ("d", 1, "d2"), ("e", 3, "d1"), ("f", 3, "d2"), ("g", 4, None)]

# By (count desc, id): a 5, c 5, g 4, b 3, e 3, f 3, d 1.
GLOBAL = {"a": 1, "c": 2, "g": 3, "b": 4, "e": 5, "f": 6, "d": 7}
# d1: a 5, b 3, e 3; d2: c 5, f 3, d 1; null day: g.
BY_DAY = {"a": 1, "b": 2, "e": 3, "c": 1, "f": 2, "d": 3, "g": 1}


def order():
    """(count desc, id): a function, since a Column needs a running session."""
    return [F.col("count").desc(), F.col("id")]


def numbers(frame, name="rank"):
    return {row["id"]: row[name] for row in frame.collect()}


@contextmanager
def sort_partitions(spark, count):
    """Sorts into exactly `count` partitions: without this the tiny test frames end up in one, after adaptive
    execution merged the small ones, and the offsets of the partitions before a row would always be 0."""
    keys = {"spark.sql.shuffle.partitions": str(count), "spark.sql.adaptive.coalescePartitions.enabled": "false"}
    previous = {key: spark.conf.get(key) for key in keys}
    for key, value in keys.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)


def single_partition(plan: str) -> bool:
    """An exchange to one partition (a window without partitionBy, repartition(1)) or a coalesce(1), in a plan
    as the status store keeps it (explain's formatted mode: each node's arguments on lines under its name)."""
    coalesce_1 = re.search(r"\) Coalesce\b.*\n(Input .*\n)?Arguments: 1$", plan, re.MULTILINE)
    return "SinglePartition" in plan or coalesce_1 is not None


def plans_of(spark, action) -> list[str]:
    """The physical plans of every SQL query `action` ran, the sort inside row_numbers included."""
    store = spark._jsparkSession.sharedState().statusStore()
    bus = spark.sparkContext._jsc.sc().listenerBus()

    def executions():
        bus.waitUntilEmpty()  # the status store is fed by the listener bus, asynchronously
        listed = store.executionsList()
        return {listed.apply(i).executionId(): listed.apply(i) for i in range(listed.size())}

    before = set(executions())
    action()
    return [execution.physicalPlanDescription() for key, execution in executions().items() if key not in before]


def test_a_global_ranking_breaks_ties_on_count_by_id(spark):
    ranked = row_numbers(spark.createDataFrame(ROWS, SCHEMA), order(), "rank")
    assert numbers(ranked) == GLOBAL
    assert ranked.columns == ["id", "count", "day", "rank"] and ranked.schema["rank"].dataType.typeName() == "long"


def test_within_restarts_at_one_in_every_day(spark):
    assert numbers(row_numbers(spark.createDataFrame(ROWS, SCHEMA), order(), "rank", within=["day"])) == BY_DAY


@pytest.mark.parametrize("partitions", [3, 16])  # several rows a partition; more partitions than rows
def test_many_partitions_give_the_numbers_of_the_window(spark, partitions):
    frame = spark.createDataFrame(ROWS, SCHEMA).repartition(7)
    with sort_partitions(spark, partitions):
        assert frame.orderBy(*order()).rdd.getNumPartitions() > 1  # else the offsets would not be tested
        for within, expected in (([], GLOBAL), (["day"], BY_DAY)):
            window = Window.partitionBy(*within).orderBy(*order())
            assert numbers(frame.withColumn("rank", F.row_number().over(window))) == expected
            assert numbers(row_numbers(frame, order(), "rank", within)) == expected


def test_an_empty_frame_gets_an_empty_column(spark):
    for within in ([], ["day"]):
        ranked = row_numbers(spark.createDataFrame([], SCHEMA), order(), "rank", within)
        assert ranked.collect() == [] and ranked.columns == ["id", "count", "day", "rank"]


def test_no_query_moves_the_rows_to_a_single_partition(spark):
    frame = spark.createDataFrame(ROWS, SCHEMA).repartition(7)
    # What the test would catch: a window without partitionBy, a coalesce(1).
    window = frame.withColumn("rank", F.row_number().over(Window.orderBy(*order())))
    assert any(single_partition(plan) for plan in plans_of(spark, window.collect))
    assert any(single_partition(plan) for plan in plans_of(spark, frame.orderBy(*order()).coalesce(1).collect))
    for within in ([], ["day"]):
        plans = plans_of(spark, lambda: row_numbers(frame, order(), "rank", within).collect())
        assert len(plans) == 3  # the sort, the partition sizes, the numbering
        assert not any(single_partition(plan) for plan in plans), plans

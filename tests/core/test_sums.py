from pyspark.sql import functions as F

from core.sums import exact_avg, exact_sum, fixed_point, order_free_sum

# (0.1 + 0.2) + 0.3 = 0.6000000000000001 but (0.3 + 0.2) + 0.1 = 0.6: a double sum depends on the order.
# In units of 2 ** -32 the terms round to 429496730, 858993459 and 1288490189, which add up to 2576980378.
TERMS = [0.1, 0.2, 0.3]
FIXED_POINT_SUM = 2576980378 / 2 ** 32


def one_partition(spark, values):
    return spark.createDataFrame([(v,) for v in values], "x double").coalesce(1)


def test_a_plain_double_sum_depends_on_the_order_of_the_rows(spark):
    forward = one_partition(spark, TERMS).agg(F.sum("x")).first()[0]
    backward = one_partition(spark, TERMS[::-1]).agg(F.sum("x")).first()[0]
    assert forward != backward  # what exact_sum is for


def test_exact_sum_is_the_same_bits_in_any_order_and_partitioning(spark):
    orders = [one_partition(spark, TERMS), one_partition(spark, TERMS[::-1]),
              spark.createDataFrame([(v,) for v in TERMS[::-1]], "x double").repartition(3)]
    assert {frame.agg(exact_sum("x")).first()[0] for frame in orders} == {FIXED_POINT_SUM}
    assert one_partition(spark, TERMS).agg(exact_avg("x")).first()[0] == FIXED_POINT_SUM / 3


def test_nulls_are_skipped_and_all_null_is_null(spark):
    frame = spark.createDataFrame([(0.5, None), (None, None), (0.25, None)], "x double, y double")
    assert frame.agg(exact_sum("x"), exact_avg("x"), exact_sum("y")).first() == (0.75, 0.375, None)


def test_order_free_sum_keeps_integer_sums_integer(spark):
    frame = spark.createDataFrame([(3, 0.5), (4, 0.25)], "n long, x double")
    summed = frame.agg(order_free_sum(frame, "n").alias("n"), order_free_sum(frame, "x").alias("x"))
    assert summed.first() == (7, 0.75)
    assert dict(summed.dtypes) == {"n": "bigint", "x": "double"}


def test_a_fold_of_fixed_point_terms_equals_their_exact_sum(spark):
    frame = one_partition(spark, TERMS)
    folded = F.aggregate(F.collect_list(fixed_point(F.col("x"))), F.lit(0.0), lambda total, x: total + x)
    assert frame.agg(folded).first()[0] == FIXED_POINT_SUM

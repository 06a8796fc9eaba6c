"""Row numbers over a sort order without moving every row to one partition.

`F.row_number().over(Window.orderBy(...))` has no partition to split the work by, so Spark moves all rows to a
single task ("No Partition Defined for Window operation!"): at millions of rows that one task is the whole job.
Here the rows are sorted once by a range-partitioned global sort (every task sorts its own key range), each row
learns its partition and its place in it, and a row's number is the count of rows in the partitions before its
own plus its place: the same number the window gives, computed by as many tasks as the sort has partitions.
"""
from __future__ import annotations

from functools import reduce
from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# monotonically_increasing_id() is (partition index << 33) + the row's position in its partition.
_POSITION_BITS = 33
_PART, _POS, _INDEX, _START = "__rank_part", "__rank_pos", "__rank_index", "__rank_start"


def row_numbers(frame: DataFrame, order: Sequence[Column], name: str, within: Sequence[str] = ()) -> DataFrame:
    """`frame` with a long column `name`: the 1-based number of each row in `order`, restarting at 1 in every
    group of the columns `within` (nulls form a group, as in a window; the groups must be few enough to broadcast,
    such as the days of a range), i.e. the values of
    `F.row_number().over(Window.partitionBy(*within).orderBy(*order))`.

    `order` must be a total order within each group: ties are numbered in whatever order the sort left them,
    which can differ between runs, so the caller breaks them (e.g. by an id as the last column of `order`).
    Runs two Spark jobs when called: the sort, kept as a local checkpoint (executor memory and disk, freed when
    the returned frame is garbage-collected), and the count of its partitions' sizes.
    """
    keys = [F.col(column) for column in within] + list(order)
    # The position must be taken on the sorted rows themselves, in the same stage as the sort, so it follows
    # the sort order. localCheckpoint (eager) runs the sort once and cuts the lineage: the sizes counted below
    # and the rows numbered with them are the same partitions. With persist() instead, an evicted or unpersisted
    # cache would let the caller's plan run the sort again, whose range partitioner samples again and may cut
    # the rows at other bounds: the offsets would belong to another partitioning. The price: a checkpoint block
    # lost with its executor fails the query instead of being recomputed.
    placed = (frame.orderBy(*keys)
              .withColumn(_PART, F.spark_partition_id())
              .withColumn(_POS, F.monotonically_increasing_id().bitwiseAND((1 << _POSITION_BITS) - 1))
              .localCheckpoint(eager=True))
    # One row per non-empty partition (at most spark.sql.shuffle.partitions): small enough for the driver.
    sizes = dict(placed.groupBy(_PART).count().collect())
    offsets, total = [], 0
    for part in range(max(sizes, default=0) + 1):
        offsets.append(total)
        total += sizes.get(part, 0)
    # A literal array indexed by partition: no join and no shuffle to attach each row's offset.
    offset = F.get(F.array(*[F.lit(value).cast("long") for value in offsets]), F.col(_PART))
    indexed = placed.withColumn(_INDEX, offset + F.col(_POS))
    if not within:
        return indexed.withColumn(name, F.col(_INDEX) + 1).drop(_PART, _POS, _INDEX)
    # A group's rows are consecutive in the global order, so a row's number is its distance from the group's
    # first row: the smallest index of the group (one row per group, pre-aggregated in every task), broadcast back.
    # The groups are few (days of a range): a shuffle join would send each group's rows to one task again.
    group_keys = [f"__rank_key{i}" for i in range(len(within))]
    starts = indexed.groupBy(*[F.col(c).alias(k) for c, k in zip(within, group_keys)]).agg(F.min(_INDEX).alias(_START))
    # <=> rather than =: a window puts null keys in a group of their own, an equi-join would drop them.
    same_group = reduce(Column.__and__, [F.col(c).eqNullSafe(F.col(k)) for c, k in zip(within, group_keys)])
    return (indexed.join(F.broadcast(starts), same_group)
            .withColumn(name, F.col(_INDEX) - F.col(_START) + 1)
            .drop(_PART, _POS, _INDEX, _START, *group_keys))

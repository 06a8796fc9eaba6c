"""Sums that come out the same to the last bit whatever order Spark adds the rows in.

A double sum rounds after every addition, so its last bits depend on which rows each task saw and in which order
the partial sums were merged: file order in a Delta snapshot, the partition count, shuffle fetch order. A re-run of
a day must write the very same rows (backfills are checked by checksum), and a near-tie between two candidates must
not swap on a re-run. So sums of fractional values go through fixed point: each term is rounded to a multiple of
2 ** -FRACTION_BITS and the terms are added as 64-bit integers, which is exact, hence the same, in any order.
Integer columns are summed as they are (already exact).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, FloatType

# Terms are kept to about 2.3e-10; a sum must stay below 2 ** (63 - FRACTION_BITS), about 2.1e9: Spark's ANSI mode
# (Spark 4's default, set in conf/base.yaml) raises on a larger one rather than wrapping. The largest sum here is a
# profile prior, the values of every key over the longest window (ratings: about 5e5 on MovieLens 100k).
FRACTION_BITS = 32
_SCALE = float(1 << FRACTION_BITS)


def exact_sum(column: Column | str) -> Column:
    """sum(column) as a double, each term rounded to 2 ** -FRACTION_BITS; null when every term is null."""
    value = F.col(column) if isinstance(column, str) else column
    return F.sum(_units(value)) / _SCALE


def fixed_point(column: Column) -> Column:
    """The term as exact_sum counts it: rounded to a multiple of 2 ** -FRACTION_BITS. Adding a few such terms in
    double (below 2 ** (53 - FRACTION_BITS)) is exact too, so a fold over them equals exact_sum of them."""
    return _units(column) / _SCALE


def _units(value: Column) -> Column:
    # rint (round half to even on the double) is deterministic and, unlike round, needs no BigDecimal per row.
    return F.rint(value * _SCALE).cast("long")


def exact_avg(column: Column | str) -> Column:
    """avg(column) over its non-null terms, from exact_sum."""
    value = F.col(column) if isinstance(column, str) else column
    return exact_sum(value) / F.count(value)


def order_free_sum(frame: DataFrame, name: str, column: Column | None = None) -> Column:
    """sum of `column` (default: the column `name` of frame): exact_sum when `name` is fractional, else F.sum."""
    value = F.col(name) if column is None else column
    fractional = isinstance(frame.schema[name].dataType, (DoubleType, FloatType))  # decimal sums are exact
    return exact_sum(value) if fractional else F.sum(value)

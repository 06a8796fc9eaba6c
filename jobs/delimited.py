"""Reading delimited text as raw lines and splitting them into named string columns."""
from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

FIELD_COUNT = "_field_count"


def read_lines(spark: SparkSession, path: str, header: bool) -> DataFrame:
    """Each line of the file(s) at path as a `raw` string, without header lines and trailing CRs.

    The raw line is kept so that a rejected row can be quarantined exactly as it arrived.
    """
    # Filters test the line as read and the CR is trimmed once, after them: a regex replace per line, or filters on
    # the trimmed line (which the optimizer rewrites to trim again per filter), made reading 10M lines 3x slower.
    lines = spark.read.text(path).where(~F.col("value").isin("", "\r"))
    if header:
        # Spark packs files by size, but every file of a source starts with the same header line,
        # and partition 0 starts at the beginning of a file, so the first line is a header.
        first = lines.first()
        if first is not None:
            name_line = first["value"].rstrip("\r")
            lines = lines.where(~F.col("value").isin(name_line, name_line + "\r"))
    return lines.select(F.rtrim("value", F.lit("\r")).alias("raw"))


def split_columns(lines: DataFrame, delimiter: str, columns: list[str]) -> DataFrame:
    """Add one trimmed string column per name (null when empty) and the number of fields found."""
    fields = F.split("raw", re.escape(delimiter), -1)
    return lines.select(
        "raw",
        F.size(fields).alias(FIELD_COUNT),
        # try_element_at: a short row yields nulls instead of failing under ANSI mode.
        *[_blank_to_null(F.trim(F.try_element_at(fields, F.lit(i + 1)))).alias(name) for i, name in enumerate(columns)],
    )


# Epoch seconds of 0001-01-02 and 9999-12-30 23:59:59 UTC: Spark's timestamp range less a day at each end, so that
# the local day is a valid date in any time zone. Outside it an epoch is a bad time; unchecked, a large one overflowed
# a long in timestamp_seconds/millis, an error that failed the whole job instead of one row.
FIRST_EPOCH_SECOND, LAST_EPOCH_SECOND = -62_135_510_400, 253_402_214_399


def epoch_timestamp(text: Column, time_unit: str) -> Column:
    """A timestamp from an epoch string in seconds ("s") or milliseconds ("ms"); null when it is not one."""
    per_second = 1 if time_unit == "s" else 1000
    # Integers only: "1.5e9" or "2017-11-25" are bad times, not silently truncated ones.
    as_long = F.when(text.rlike(r"^-?\d{1,18}$"), text.try_cast("long"))
    in_range = as_long.between(FIRST_EPOCH_SECOND * per_second, LAST_EPOCH_SECOND * per_second + per_second - 1)
    as_long = F.when(in_range, as_long)
    return F.timestamp_seconds(as_long) if per_second == 1 else F.timestamp_millis(as_long)


def local_day(timestamp: Column, timezone: str) -> Column:
    """The calendar day of a (UTC) timestamp in the dataset's time zone: the day an event or attribute row is of."""
    return F.to_date(F.from_utc_timestamp(timestamp, timezone))


def _blank_to_null(column: Column) -> Column:
    return F.when(column == "", None).otherwise(column)

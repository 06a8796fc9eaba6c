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


def _blank_to_null(column: Column) -> Column:
    return F.when(column == "", None).otherwise(column)

"""Delta table I/O under the lake root: replace exactly one partition, read explicit partitions."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.errors import PipelineError


def replace_partition(df: DataFrame, path: str, column: str, value: dt.date) -> None:
    """Write df as the whole `column = value` partition of the Delta table at path, nothing else.

    replaceWhere makes a re-run of a day idempotent and leaves every other day untouched; Delta also
    rejects rows of df that fall outside the partition, so a bug cannot overwrite a neighbour.
    """
    (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", f"{column} = DATE'{value.isoformat()}'")
        .partitionBy(column)
        .save(path)
    )


def read_partitions(spark: SparkSession, path: str, column: str, start: dt.date, end: dt.date) -> DataFrame:
    """Rows of the Delta table whose partition `column` lies in [start, end]."""
    return spark.read.format("delta").load(path).where(F.col(column).between(F.lit(start), F.lit(end)))


def require_table(spark: SparkSession, path: str, producer: str) -> None:
    """Fail with the job to run when an input table has never been written."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        raise PipelineError(f"no table at {path}; run {producer} first")

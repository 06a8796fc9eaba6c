"""Delta table I/O under the lake root: replace exactly one partition, read explicit partitions."""
from __future__ import annotations

import datetime as dt
from typing import Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.errors import PipelineError


def replace_partition(df: DataFrame, path: str, partition: Mapping[str, dt.date | str]) -> None:
    """Write df as the whole partition `partition` (e.g. {"dt": D} or {"as_of": D, "source": "als"}), nothing else.

    replaceWhere makes a re-run of a day idempotent and leaves every other partition untouched; Delta also
    rejects rows of df that fall outside the partition, so a bug cannot overwrite a neighbour.
    """
    condition = " AND ".join(f"{column} = {_sql_literal(value)}" for column, value in partition.items())
    (
        df.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", condition)
        .partitionBy(*partition)
        .save(path)
    )


def _sql_literal(value: dt.date | str) -> str:
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def read_partitions(spark: SparkSession, path: str, column: str, start: dt.date, end: dt.date) -> DataFrame:
    """Rows of the Delta table whose partition `column` lies in [start, end]."""
    return spark.read.format("delta").load(path).where(F.col(column).between(F.lit(start), F.lit(end)))


def require_table(spark: SparkSession, path: str, producer: str) -> None:
    """Fail with the job to run when an input table has never been written."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        raise PipelineError(f"no table at {path}; run {producer} first")

"""Delta table I/O under the lake root: replace exactly one partition, read explicit partitions."""
from __future__ import annotations

import datetime as dt
from typing import Mapping, Sequence

import pyarrow as pa
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from core.delta_arrow import delta_dataset, is_delta_table, replace_rows
from core.errors import PipelineError


class ForeignLakeError(PipelineError):
    """The lake holds the tables of another dataset."""


def claim_lake(path: str, dataset: str) -> None:
    """Record at `path` (the lake's `lake_dataset` table) that the lake holds `dataset`, or fail when it holds
    another: the days of two datasets would mix in its tables. Called by the jobs that bring data in (ingest)."""
    if is_delta_table(path):
        held = set(delta_dataset(path).to_table(columns=["dataset"]).column("dataset").to_pylist())
        if held == {dataset}:
            return
        if held:
            raise ForeignLakeError(f"the lake at {path.rsplit('/', 1)[0]} holds dataset {', '.join(sorted(held))}, "
                                   f"not {dataset}: give this dataset a lake_root of its own (the default, "
                                   f"{{repo}}/lake/{{dataset}}, is one per dataset)")
    replace_rows(path, pa.table({"dataset": [dataset]}), {"dataset": dataset}, [])


def replace_partition(df: DataFrame, path: str, partition: Mapping[str, dt.date | str]) -> None:
    """Write df as the whole partition `partition` (e.g. {"dt": D} or {"as_of": D, "source": "als"}), nothing else.

    replaceWhere makes a re-run of a day idempotent and leaves every other partition untouched; Delta also
    rejects rows of df that fall outside the partition, so a bug cannot overwrite a neighbour.
    """
    condition = " AND ".join(f"{column} = {_sql_literal(value)}" for column, value in partition.items())
    _overwrite_where(df, path, condition, list(partition))


def replace_days(df: DataFrame, path: str, column: str, days: Sequence[dt.date]) -> None:
    """Write df as the whole partitions of `days` in day column `column`, nothing else: a range job's counterpart of
    replace_partition. A day of `days` without a row of df is left with none, as its daily job would leave it."""
    listed = ", ".join(_sql_literal(day) for day in sorted(set(days)))
    _overwrite_where(df, path, f"{column} IN ({listed})", [column])


# What Delta raises at the writer that loses a race to create a table: two writers that both found no table (the DAG's
# recall sources, each writing its own partition of recall_candidates on a new lake) both commit version 0, and the
# later one finds the earlier one's protocol (docs.delta.io, concurrency control). The table then exists, so the same
# write again is an ordinary commit to its own partitions. The class name is in the message both in a classic session
# (a Py4JJavaError) and as a Spark Connect client.
LOST_CREATION_RACE = "[DELTA_PROTOCOL_CHANGED]"


def _overwrite_where(df: DataFrame, path: str, condition: str, partition_columns: list[str]) -> None:
    def write() -> None:
        (df.write.format("delta").mode("overwrite").option("replaceWhere", condition)
         .partitionBy(*partition_columns).save(path))

    try:
        write()
    except Exception as err:  # noqa: BLE001 - re-raised unless it is the race above
        if LOST_CREATION_RACE not in str(err):
            raise
        write()


def _sql_literal(value: dt.date | str) -> str:
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def read_partitions(spark: SparkSession, path: str, column: str, start: dt.date, end: dt.date) -> DataFrame:
    """Rows of the Delta table whose partition `column` lies in [start, end]."""
    return spark.read.format("delta").load(path).where(F.col(column).between(F.lit(start), F.lit(end)))


def read_days(spark: SparkSession, path: str, column: str, days: Sequence[dt.date]) -> DataFrame:
    """Rows of the Delta table whose partition `column` is one of `days`."""
    return spark.read.format("delta").load(path).where(F.col(column).isin(sorted(set(days))))


def days_label(days: Sequence[dt.date]) -> str:
    """How a job's report names the days it wrote: `2017-11-25`, or `2017-11-25..2017-12-03 (9 days)`."""
    first, last = min(days), max(days)
    return str(first) if len(set(days)) == 1 else f"{first}..{last} ({len(set(days))} days)"


# What Spark says when a path holds no Delta table: nothing there, or files without a _delta_log.
NO_DELTA_TABLE = ("PATH_NOT_FOUND", "DELTA_TABLE_NOT_FOUND", "DELTA_MISSING_DELTA_TABLE")


def delta_table_exists(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table lives at `path`, asked of Spark itself (so of the cluster's file system).

    Through the DataFrame API, not delta's DeltaTable.isDeltaTable: that one needs the JVM of a classic session or
    Delta's own Spark Connect plugin on the server, and the jobs also run as clients of a plain Spark Connect server
    (ops.spark_connect)."""
    try:
        spark.read.format("delta").load(path).columns  # resolving the schema reads the table's log
    except AnalysisException as err:
        if err.getCondition() in NO_DELTA_TABLE:
            return False
        raise
    return True


def require_table(spark: SparkSession, path: str, producer: str) -> None:
    """Fail with the job to run when an input table has never been written."""
    if not delta_table_exists(spark, path):
        raise PipelineError(f"no table at {path}; run {producer} first")

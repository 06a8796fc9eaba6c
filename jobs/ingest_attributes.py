"""Snapshot the dataset's user and item attribute files as of day D into `user_attributes`/`item_attributes`.

A snapshot partition `dt = D` is the catalogue as delivered at the start of D: static metadata such as
a movie's genres or an item's category, never behaviour, so joining it to day D's samples leaks nothing.
"""
from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config import AttributeTable, PipelineConfig
from core.errors import PipelineError
from core.lake import read_partitions, replace_partition, require_table
from core.tables import ATTRIBUTE_TABLES, ATTRIBUTES_QUARANTINE_TABLE
from datasets.fetch import ensure_attribute_file
from jobs.delimited import FIELD_COUNT, read_lines, split_columns


@dataclass(frozen=True)
class AttributeReport:
    table: str
    read: int
    written: int
    malformed: int
    conflicting_ids: int

    def __str__(self) -> str:
        return (f"{self.table}: read={self.read} written={self.written} malformed={self.malformed} "
                f"ids_with_conflicting_rows={self.conflicting_ids}")


def parse_attributes(lines: DataFrame, table: AttributeTable) -> DataFrame:
    """Typed attribute rows keyed by `id`, plus `reason` ('malformed' or null) and the raw line."""
    rows = split_columns(lines, table.delimiter, table.columns)
    for old, new in table.rename.items():
        rows = rows.withColumnRenamed(old, new)
    attributes = [_typed(F.col(name), name, table) for name in table.keep]
    malformed = (F.col(FIELD_COUNT) != len(table.columns)) | F.col(table.id_column).isNull()
    return rows.select(
        "raw",
        F.when(malformed, F.lit("malformed")).alias("reason"),
        F.col(table.id_column).alias("id"),
        *attributes,
    )


def one_row_per_id(parsed: DataFrame, keep: list[str]) -> DataFrame:
    """Well-formed rows, one per id: the most frequent distinct row, ties broken by the smallest raw line.

    `conflict` is true when an id had more than one distinct attribute row (the loser is counted, not kept).
    """
    good = parsed.where(F.col("reason").isNull())
    distinct = good.groupBy("id", *keep).agg(F.count(F.lit(1)).alias("copies"), F.min("raw").alias("raw"))
    by_id = Window.partitionBy("id")
    ranked = distinct.withColumn(
        "rank", F.row_number().over(by_id.orderBy(F.desc("copies"), F.asc("raw")))
    ).withColumn("variants", F.count(F.lit(1)).over(by_id))
    return ranked.where(F.col("rank") == 1).select("id", *keep, (F.col("variants") > 1).alias("conflict"))


def _typed(column: Column, name: str, table: AttributeTable) -> Column:
    if name in table.int_columns:
        return column.try_cast("int").alias(name)
    if name in table.list_columns:
        return F.split(column, re.escape(table.list_columns[name])).alias(name)  # a separator, not a regex ("|")
    return column.alias(name)


def ingest_attributes(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    reports = []
    for kind, table_name in ATTRIBUTE_TABLES.items():
        table: AttributeTable | None = getattr(cfg.dataset.attributes, kind)
        if table is None:
            continue
        path = ensure_attribute_file(cfg, table)
        parsed = parse_attributes(read_lines(spark, path, table.header), table).persist()
        try:
            snapshot = one_row_per_id(parsed, table.keep).persist()
            replace_partition(
                snapshot.drop("conflict").withColumnRenamed("id", table.id_column).withColumn("dt", F.lit(ds)),
                cfg.table_path(table_name), {"dt": ds},
            )
            bad = parsed.where(F.col("reason").isNotNull()).select(
                "reason", "raw", F.lit(table_name).alias("table"), F.lit(ds).alias("dt"))
            replace_partition(bad, cfg.table_path(f"{ATTRIBUTES_QUARANTINE_TABLE}/{table_name}"), {"dt": ds})
            reports.append(AttributeReport(
                table=table_name, read=parsed.count(), written=snapshot.count(), malformed=bad.count(),
                conflicting_ids=snapshot.where("conflict").count(),
            ))
            snapshot.unpersist()
        finally:
            parsed.unpersist()
    return "ingest_attributes " + str(ds) + ": " + ("; ".join(map(str, reports)) or "no attribute tables")


def read_attribute_snapshot(spark: SparkSession, cfg: PipelineConfig, kind: str, ds: dt.date) -> DataFrame | None:
    """The users/items snapshot of day D keyed by `user_id`/`item_id`; None when the dataset has no such table.

    Fails clearly when D has no snapshot (ingest_attributes for D has not run, or kept no row).
    """
    table: AttributeTable | None = getattr(cfg.dataset.attributes, kind)
    if table is None:
        return None
    path = cfg.table_path(ATTRIBUTE_TABLES[kind])
    require_table(spark, path, f"ingest_attributes for {ds}")
    key = "user_id" if kind == "users" else "item_id"
    snapshot = read_partitions(spark, path, "dt", ds, ds)
    # An empty snapshot would join as "no attributes" and silently null every category or demographic of the day.
    if snapshot.isEmpty():
        raise PipelineError(f"no {kind} snapshot of {ds} in {path}; run ingest_attributes for {ds} first")
    return snapshot.withColumnRenamed(table.id_column, key)


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, ingest_attributes))

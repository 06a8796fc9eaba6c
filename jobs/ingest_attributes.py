"""Snapshot the dataset's user and item attribute files as of day D into `user_attributes`/`item_attributes`.

A snapshot partition `dt = D` is the catalogue as known at the start of D: static metadata such as a movie's
genres or an item's category, never behaviour, so joining it to day D's samples leaks nothing. When the file is a
log (`known_at` names its time column, as for Taobao's items, read from the event dump), only the rows of days
before D count: an item first seen on D or later is not in D's snapshot, and the most frequent category of an item
is counted on the rows before D.
"""
from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass
from typing import Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_dataset import AttributeTable, DatasetConfig
from core.config_schema import PipelineConfig
from core.delta_arrow import partition_days
from core.errors import PipelineError
from core.lake import claim_lake, days_label, read_days, replace_days, require_table
from core.tables import ATTRIBUTE_TABLES, ATTRIBUTES_QUARANTINE_TABLE, LAKE_DATASET_TABLE
from datasets.fetch import ensure_attribute_file
from jobs.delimited import MALFORMED, local_day, parse_columns, raw_timestamp, read_source_lines


@dataclass(frozen=True)
class AttributeReport:
    table: str
    read: int
    written: int
    malformed: int
    conflicting_ids: int
    known_later: int  # rows of a log known on D or later: in a later day's snapshot, not in D's

    def __str__(self) -> str:
        later = f" known_after_start_of_day={self.known_later}" if self.known_later else ""
        return (f"{self.table}: read={self.read} written={self.written} malformed={self.malformed} "
                f"ids_with_conflicting_rows={self.conflicting_ids}{later}")


def parse_attributes(lines: DataFrame, table: AttributeTable, dataset: DatasetConfig) -> DataFrame:
    """Typed attribute rows keyed by `id`, plus `reason` ('malformed' or null), the raw line and `known_day`: the
    local day (dataset time zone) of the row's `known_at` time, null for catalogue rows known on any day."""
    rows = parse_columns(lines, table)
    for old, new in table.rename.items():
        rows = rows.withColumnRenamed(old, new)
    attributes = [_typed(F.col(name), name, table) for name in table.keep]
    known_day = F.lit(None).cast("date")
    malformed = F.col(MALFORMED) | F.col(table.id_column).isNull()
    if table.known_at is not None:
        known_time = raw_timestamp(F.col(table.known_at), dataset)
        known_day = local_day(known_time, dataset.timezone)
        malformed = malformed | known_day.isNull()
    return rows.select(
        "raw",
        F.when(malformed, F.lit("malformed")).alias("reason"),
        F.col(table.id_column).alias("id"),
        known_day.alias("known_day"),
        *attributes,
    )


def known_on(parsed: DataFrame, days: Sequence[dt.date]) -> DataFrame:
    """Each parsed row once for every day of `days` at whose start it is known, that day as `dt`: a catalogue row
    on every day, a log row on the days after its own."""
    wanted = parsed.sparkSession.createDataFrame([(day,) for day in sorted(set(days))], "dt date")
    return parsed.join(F.broadcast(wanted), F.col("known_day").isNull() | (F.col("known_day") < F.col("dt")))


def one_row_per_id(parsed: DataFrame, keep: list[str], days: Sequence[dt.date]) -> DataFrame:
    """Per day of `days` (`dt`), the well-formed rows known at its start, one per id: the most frequent distinct row,
    ties broken by the smallest raw line.

    `conflict` is true when an id had more than one distinct attribute row (the loser is counted, not kept).
    """
    good = parsed.where(F.col("reason").isNull())
    # Counted per day a row became known before being spread over the days that know it: a log holds far fewer
    # distinct (id, attributes, day) than rows.
    by_known_day = good.groupBy("id", *keep, "known_day").agg(F.count(F.lit(1)).alias("copies"),
                                                              F.min("raw").alias("raw"))
    distinct = known_on(by_known_day, days).groupBy("id", *keep, "dt").agg(
        F.sum("copies").alias("copies"), F.min("raw").alias("raw"))
    by_id = Window.partitionBy("id", "dt")
    ranked = distinct.withColumn(
        "rank", F.row_number().over(by_id.orderBy(F.desc("copies"), F.asc("raw")))
    ).withColumn("variants", F.count(F.lit(1)).over(by_id))
    return ranked.where(F.col("rank") == 1).select("id", *keep, (F.col("variants") > 1).alias("conflict"), "dt")


def _typed(column: Column, name: str, table: AttributeTable) -> Column:
    if name in table.int_columns:
        return column.try_cast("int").alias(name)
    if name in table.list_columns:
        separated = F.split(column, re.escape(table.list_columns[name]))  # a separator, not a regex ("|")
        if table.format == "json":  # a JSON array's text (["Drama", "War"]) is its elements; a string is separated
            separated = F.when(column.startswith("["), F.from_json(column, "array<string>")).otherwise(separated)
        return separated.alias(name)
    return column.alias(name)


def ingest_attributes(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    return attributes_of_days(spark, cfg, [ds])


def attributes_of_days(spark: SparkSession, cfg: PipelineConfig, days: Sequence[dt.date]) -> str:
    """Write the snapshots of every day of `days` in one pass over each attribute file; the report's counts are
    those of the day, or their sums over the days."""
    reports = []
    claim_lake(cfg.table_path(LAKE_DATASET_TABLE), cfg.dataset.name)
    for kind, table_name in ATTRIBUTE_TABLES.items():
        table: AttributeTable | None = getattr(cfg.dataset.attributes, kind)
        if table is None:
            continue
        path = ensure_attribute_file(cfg, table)
        every_row = parse_attributes(read_source_lines(spark, path, table), table, cfg.dataset).persist()
        try:
            snapshot = one_row_per_id(every_row, table.keep, days).persist()
            replace_days(snapshot.drop("conflict").withColumnRenamed("id", table.id_column),
                         cfg.table_path(table_name), "dt", days)
            bad = known_on(every_row.where(F.col("reason").isNotNull()), days).select(
                "reason", "raw", F.lit(table_name).alias("table"), "dt")
            replace_days(bad, cfg.table_path(f"{ATTRIBUTES_QUARANTINE_TABLE}/{table_name}"), "dt", days)
            read = every_row.count()
            known = every_row.where(F.col("known_day").isNotNull()).groupBy("known_day").count().collect()
            known_later = sum(count for day in days for known_day, count in known if known_day >= day)
            reports.append(AttributeReport(
                table=table_name, read=read * len(set(days)), written=snapshot.count(), malformed=bad.count(),
                conflicting_ids=snapshot.where("conflict").count(), known_later=known_later,
            ))
            snapshot.unpersist()
        finally:
            every_row.unpersist()
    return (f"ingest_attributes {days_label(days)}: "
            + ("; ".join(map(str, reports)) or "no attribute tables"))


def read_attribute_snapshot(spark: SparkSession, cfg: PipelineConfig, kind: str,
                            days: Sequence[dt.date]) -> DataFrame | None:
    """The users/items snapshots of `days`, keyed by `user_id`/`item_id` and `dt` (the snapshot's day); None when the
    dataset has no such table.

    Fails clearly when a day has no snapshot (ingest_attributes for it has not run, or kept no row), except for a
    log's (`known_at`) snapshot of the dataset's first day.
    """
    table: AttributeTable | None = getattr(cfg.dataset.attributes, kind)
    if table is None:
        return None
    path = cfg.table_path(ATTRIBUTE_TABLES[kind])
    require_table(spark, path, f"ingest_attributes for {min(days)}")
    # An empty snapshot would join as "no attributes" and silently null every category or demographic of the day.
    # Only a log's snapshot of the dataset's first day may be empty: nothing was known before the log began.
    may_be_empty = {cfg.dataset.window.start} if table.known_at is not None else set()
    missing = sorted(set(days) - partition_days(path, "dt") - may_be_empty)
    if missing:
        listed = ", ".join(map(str, missing))
        raise PipelineError(f"no {kind} snapshot of {listed} in {path}; run ingest_attributes for {listed} first")
    key = "user_id" if kind == "users" else "item_id"
    return read_days(spark, path, "dt", days).withColumnRenamed(table.id_column, key)


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, ingest_attributes))

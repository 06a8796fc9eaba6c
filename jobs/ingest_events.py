"""Ingest day D of a raw event log into the Delta table `events`; rejected rows go to `events_quarantine`.

A day without raw rows fails, except inside a dump's window: a dump replays a finished log, which can have days
without a single row (MovieLens 100k has two, 1997-12-11 and 1997-12-16 UTC). Such an *empty day* is a fact of the
log, not a late delivery: its partitions are replaced by nothing, the job succeeds, and the day's later jobs are
skipped (the DAG's `day_has_events` task, the range runner). Later days read around it.
Every finished ingest is recorded in `ingest_log` (read, written, quarantined), an empty day as read = 0: that row
is what tells an empty day (`empty_days`), everywhere.
"""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from typing import Sequence

import pyarrow as pa
import pyarrow.dataset as pads
from pyspark.sql import SparkSession

from core.cli import run_day_job
from core.config_schema import PipelineConfig
from core.delta_arrow import delta_dataset, is_delta_table, replace_rows, rows_between
from core.errors import PipelineError
from core.lake import claim_lake, days_label, replace_days
from core.tables import EVENTS_QUARANTINE_TABLE, EVENTS_TABLE, INGEST_LOG_TABLE, LAKE_DATASET_TABLE
from datasets.fetch import ensure_source
from features.schema import EVENTS_QUARANTINE, INGEST_LOG
from jobs.delimited import read_source_lines
from jobs.raw_events import (
    check_raw_events,
    duplicate_groups,
    exceptional_lines,
    mark_duplicates,
    quarantined_rows,
    valid_events,
)


class NoInputError(PipelineError):
    """Day D's delivery has no raw rows, or none of D's raw rows became an event."""


@dataclass(frozen=True)
class IngestReport:
    ds: dt.date
    read: int
    written: int
    quarantined: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.read == 0:
            return f"ingest_events {self.ds}: empty day, the dump has no row of it: nothing written, later jobs skip it"
        reasons = ", ".join(f"{reason}={count}" for reason, count in sorted(self.quarantined.items())) or "none"
        total = sum(self.quarantined.values())
        return f"ingest_events {self.ds}: read={self.read} written={self.written} quarantined={total} ({reasons})"


def ingest_events(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> IngestReport:
    """Read, classify and write day ds; fails clearly on a delivery without rows or a day without any event."""
    return ingest_days(spark, cfg, [ds])[0]


def events_of_days(spark: SparkSession, cfg: PipelineConfig, days: Sequence[dt.date]) -> str:
    """ingest_days as the range runner reports it: the totals of the days, and which were empty."""
    reports = ingest_days(spark, cfg, days)
    if len(reports) == 1:
        return str(reports[0])
    quarantined: dict[str, int] = {}
    for report in reports:
        for reason, count in report.quarantined.items():
            quarantined[reason] = quarantined.get(reason, 0) + count
    reasons = ", ".join(f"{reason}={count}" for reason, count in sorted(quarantined.items())) or "none"
    empty = [str(report.ds) for report in reports if report.read == 0]
    return (f"ingest_events {days_label(days)}: read={sum(r.read for r in reports)} "
            f"written={sum(r.written for r in reports)} quarantined={sum(quarantined.values())} ({reasons})"
            + (f"; empty days, later jobs skip them: {', '.join(empty)}" if empty else ""))


def ingest_days(spark: SparkSession, cfg: PipelineConfig, days: Sequence[dt.date]) -> list[IngestReport]:
    """Ingest every day of `days` (a dump's in one pass over it; a daily source's one file at a time), day order."""
    dataset, days = cfg.dataset, sorted(set(days))
    for ds in days:
        if not dataset.window.start <= ds <= dataset.window.end:
            raise NoInputError(f"{ds} is outside the window of dataset {dataset.name} "
                               f"({dataset.window.start}..{dataset.window.end})")
    if dataset.source.layout == "daily" and len(days) > 1:
        return [report for ds in days for report in ingest_days(spark, cfg, [ds])]
    path = ensure_source(cfg, days[0])
    claim_lake(cfg.table_path(LAKE_DATASET_TABLE), dataset.name)
    checked = check_raw_events(read_source_lines(spark, path, dataset.source), dataset, days)
    if dataset.source.layout == "daily" and checked.isEmpty():
        raise NoInputError(f"no raw rows for {days[0]} in {path} (dataset {dataset.name})")
    # Two passes that parse the raw lines (find the exceptional lines, write the events) and, when there is anything
    # to quarantine, a third that only reads them. No cache of the day has to fit in memory: on 10M synthetic events
    # one pass that sorted whole rows by content to find the copies and cached them was slower.
    events_path, quarantine_path = cfg.table_path(EVENTS_TABLE), cfg.table_path(EVENTS_QUARANTINE_TABLE)
    exceptions = exceptional_lines(checked).persist()
    try:
        # Materialized first, so that the joins below see its true (usually tiny) size.
        nothing_to_quarantine = exceptions.count() == 0
        classified = mark_duplicates(checked, duplicate_groups(exceptions))
        replace_days(valid_events(classified), events_path, "dt", days)
        # A clean day still replaces its quarantine partition: a re-run drops the rows of an earlier delivery.
        quarantine = (spark.createDataFrame([], EVENTS_QUARANTINE) if nothing_to_quarantine
                      else quarantined_rows(checked, exceptions))
        replace_days(quarantine, quarantine_path, "dt", days)
    finally:
        exceptions.unpersist()
    # Counted from the partitions just written, without Spark: the events from their files' footers, the (usually
    # small) quarantine's reasons read. Two Spark jobs took 3-5 s of a 10M-event ingest; a Spark Observation is no
    # option either: after one, Spark 4.1 failed later ML jobs of the same session with "Task not serializable:
    # ObservationManager" (the range runner's gbdt_leaves).
    events = delta_dataset(events_path)
    reasons = delta_dataset(quarantine_path).to_table(
        columns=["reason", "dt"], filter=pads.field("dt").isin(days)).group_by(["dt", "reason"]).aggregate(
        [("reason", "count")]).to_pylist()
    reports = []
    for ds in days:
        written = events.count_rows(filter=pads.field("dt") == ds)
        quarantined = {row["reason"]: row["reason_count"] for row in reasons if row["dt"] == ds}
        reports.append(IngestReport(ds=ds, read=written + sum(quarantined.values()), written=written,
                                    quarantined=quarantined))
    # (read == 0 is an empty day of a dump: see the module's doc)
    lost = [report for report in reports if report.read and not report.written]
    logged = [report for report in reports if report not in lost]
    if logged:
        log = pa.Table.from_pylist([{"read": r.read, "written": r.written, "quarantined": r.read - r.written,
                                     "dt": r.ds} for r in logged], INGEST_LOG)
        replace_rows(cfg.table_path(INGEST_LOG_TABLE), log, {"dt": [r.ds for r in logged]}, ["dt"])
    if lost:
        raise NoInputError(f"{lost[0]}: every row of {lost[0].ds} was quarantined; see {quarantine_path}")
    return reports


def day_has_events(cfg: PipelineConfig, ds: dt.date) -> bool:
    """Whether the lake holds events of D (read without Spark): every later job of D needs them (samples, recall
    evaluation, training on D). Whether D is an empty day is `empty_days`' to say, from the log."""
    return rows_between(cfg.table_path(EVENTS_TABLE), "dt", ds, ds) > 0


def empty_days(cfg: PipelineConfig) -> set[dt.date]:
    """The days ingest_events found empty (a dump without a row of the day), from `ingest_log` (read without Spark)."""
    path = cfg.table_path(INGEST_LOG_TABLE)
    if not is_delta_table(path):
        return set()
    return set(delta_dataset(path).to_table(columns=["dt"], filter=pads.field("read") == 0).column("dt").to_pylist())


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, ingest_events))

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
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_dataset import DatasetConfig
from core.config_schema import PipelineConfig
from core.delta_arrow import delta_dataset, is_delta_table, replace_rows, rows_between
from core.errors import PipelineError
from core.lake import claim_lake, days_label, replace_days
from core.tables import EVENTS_QUARANTINE_TABLE, EVENTS_TABLE, INGEST_LOG_TABLE, LAKE_DATASET_TABLE
from datasets.fetch import ensure_source
from features.schema import EVENTS, EVENTS_QUARANTINE, INGEST_LOG, QUARANTINE_REASONS
from jobs.delimited import MALFORMED, epoch_timestamp, local_day, parse_columns, read_source_lines


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


def check_raw_events(lines: DataFrame, dataset: DatasetConfig, days: Sequence[dt.date]) -> DataFrame:
    """Type and validate the raw lines delivered for `days` (one day of a daily source, any days of a dump); `reason`
    is null for a good event.

    Returns every delivered line once, with the canonical event columns, `reason` (duplicates not yet
    marked), the content key of a good row (`key_high`, `key_low`), `line`, its position in read order, and `dt`, the
    day it is delivered on (a good event's local day). Lines of a `dump` source that belong to other days are left out.
    """
    rows = parse_columns(lines, dataset.source)
    typed = rows.select(
        "raw",
        F.col(MALFORMED),
        F.col(dataset.fields.user_id).alias("user_id"),
        F.col(dataset.fields.item_id).alias("item_id"),
        _event_type(dataset).alias("raw_event_type"),
        _canonical_event_type(dataset).alias("event_type"),
        _event_time(dataset).alias("event_time"),
        _value(dataset).alias("value"),
        _has_value(dataset).alias("value_given"),
    ).withColumn("local_day", local_day(F.col("event_time"), dataset.timezone))
    delivered = typed.withColumn("delivery_day", _delivery_day(dataset, days)).where(
        F.col("delivery_day").isin(sorted(set(days))))
    checked = delivered.withColumn("reason", _first_failed_check(dataset))
    content = [F.col("user_id"), F.col("item_id"), F.col("event_type"), F.col("event_time"), F.col("value")]
    good = F.col("reason").isNull()
    return checked.select(
        "raw", "reason", "user_id", "item_id", "event_type", "event_time", "value", F.col("delivery_day").alias("dt"),
        # Two differently seeded 64-bit hashes make a 128-bit key (collisions are not a practical concern) at a
        # fraction of sha2's cost; it becomes the event_id.
        F.when(good, F.xxhash64(*content)).alias("key_high"),
        F.when(good, F.xxhash64(F.lit("event_id"), *content)).alias("key_low"),
        # Besides ordering the copies of an event, this nondeterministic column keeps the optimizer from pushing a
        # later filter on `reason` below this projection, where it would inline (and so repeat per row) the whole
        # parse: measured 10x slower on 2M lines. Same input, same positions, in every job of the application.
        F.monotonically_increasing_id().alias("line"),
    )


def exceptional_lines(checked: DataFrame) -> DataFrame:
    """What a day has to set aside, found in one pass: a row per rejected line (`group_high` = its `line`,
    `group_low` null, `reason_code` = 1 + its index in QUARANTINE_REASONS) and a row per event delivered more than
    once (`group_high`, `group_low` = its content key, `reason_code` null), each with `copies`, `first_line` and
    `last_line`.

    Only these rows (usually few) leave the scan, so this shuffles two longs and a position per line; the rejected
    lines become groups of their own instead of a second pass over the day.
    """
    good = F.col("key_high").isNotNull()
    code = F.array_position(_reasons(), F.col("reason")).cast("int")
    return (checked.select(F.when(good, F.col("key_high")).otherwise(F.col("line")).alias("group_high"),
                           F.col("key_low").alias("group_low"), "line", F.when(~good, code).alias("reason_code"))
            .groupBy("group_high", "group_low")
            .agg(F.count(F.lit(1)).alias("copies"), F.min("line").alias("first_line"),
                 F.max("line").alias("last_line"), F.max("reason_code").alias("reason_code"))
            .where((F.col("copies") > 1) | F.col("reason_code").isNotNull()))


def _reasons() -> Column:
    """QUARANTINE_REASONS as an array literal: a rejected line's `reason_code` is its 1-based position in it."""
    return F.array(*[F.lit(reason) for reason in QUARANTINE_REASONS])


def duplicate_groups(exceptions: DataFrame) -> DataFrame:
    """The content keys of good rows delivered more than once, with the `first_line` among their copies."""
    return exceptions.where(F.col("group_low").isNotNull()).select(
        F.col("group_high").alias("key_high"), F.col("group_low").alias("key_low"), "first_line", "copies")


def classify_raw_events(lines: DataFrame, dataset: DatasetConfig, days: Sequence[dt.date]) -> DataFrame:
    """check_raw_events, then mark_duplicates in one plan (ingest_events materializes the exceptional lines first)."""
    checked = check_raw_events(lines, dataset, days)
    return mark_duplicates(checked, duplicate_groups(exceptional_lines(checked)))


def mark_duplicates(checked: DataFrame, duplicates: DataFrame) -> DataFrame:
    """Every checked line with its final `reason`: the 2nd+ copies of an event, in read order, become `duplicate`;
    a good row gets its `event_id`."""
    marked = checked.join(duplicates.drop("copies"), ["key_high", "key_low"], "left")  # null keys match nothing
    later_copy = F.col("first_line").isNotNull() & (F.col("line") != F.col("first_line"))
    reason = F.when(later_copy, F.lit("duplicate")).otherwise(F.col("reason"))
    return marked.select(
        "raw", reason.alias("reason"),
        F.when(reason.isNull(), event_id_of(F.col("key_high"), F.col("key_low"))).alias("event_id"),
        "user_id", "item_id", "event_type", "event_time", "value", "dt",
    )


def event_id_of(key_high: Column, key_low: Column) -> Column:
    """The 32 lowercase hex digits of the 128-bit content key (each half as an unsigned 64-bit number).

    Spelled out instead of format_string("%016x%016x"), which gives the same text: Java's String.format parses its
    pattern on every row. On 10M events that cost 7.2-7.3 s against 3.7-5.6 s for this (noop write, one session).
    """
    def hex16(half: Column) -> Column:
        return F.lpad(F.hex(half), 16, "0")  # hex() of a long is its two's complement, as %x prints it
    return F.lower(F.concat(hex16(key_high), hex16(key_low)))


def valid_events(classified: DataFrame) -> DataFrame:
    return classified.where(F.col("reason").isNull()).select(*EVENTS.fieldNames())


def quarantined_rows(checked: DataFrame, exceptions: DataFrame) -> DataFrame:
    """The rows to quarantine, each with its raw line: found by position in a re-read that does not parse.

    The positions are the rejected lines and the later copies of each duplicated event: for an event delivered
    twice that is its `last_line`; an event with 3+ copies needs the positions of all of them, which only a parse
    of the day (joined with those few keys) gives, so that pass runs only when there is such an event.
    """
    rejected = exceptions.where(F.col("group_low").isNull()).select(
        F.col("first_line").alias("line"),
        F.element_at(_reasons(), F.col("reason_code")).alias("reason"))
    second_copies = exceptions.where(F.col("group_low").isNotNull() & (F.col("copies") == 2)).select(
        F.col("last_line").alias("line"), F.lit("duplicate").alias("reason"))
    positions = rejected.unionByName(second_copies)
    many_copies = duplicate_groups(exceptions).where(F.col("copies") > 2).drop("copies")
    if not many_copies.isEmpty():
        later_copies = (checked.join(many_copies, ["key_high", "key_low"])
                        .where(F.col("line") != F.col("first_line"))
                        .select("line", F.lit("duplicate").alias("reason")))
        positions = positions.unionByName(later_copies)
    # `raw` and `line` only: the optimizer prunes the parse away, except what a dump's delivery filter needs, so the
    # positions are those of the pass that found them. No broadcast hint: a day delivered twice over has as many
    # positions as lines, and the joins see the materialized size of `exceptions`.
    return (checked.select("raw", "line", "dt").join(positions, "line")
            .select("reason", "raw", "dt"))


def _event_type(dataset: DatasetConfig) -> Column:
    if dataset.fields.event_type is None:
        return F.lit(dataset.fixed_event_type)
    return F.col(dataset.fields.event_type)


def _canonical_event_type(dataset: DatasetConfig) -> Column:
    mapping = F.create_map(*[F.lit(part) for pair in dataset.event_types.items() for part in pair])
    return F.try_element_at(mapping, _event_type(dataset))


def _event_time(dataset: DatasetConfig) -> Column:
    return epoch_timestamp(F.col(dataset.fields.event_time), dataset.time_unit)


def _has_value(dataset: DatasetConfig) -> Column:
    return F.lit(dataset.fields.value is not None)


def _value(dataset: DatasetConfig) -> Column:
    if dataset.fields.value is None:
        return F.lit(None).cast("double")
    number = F.col(dataset.fields.value).try_cast("double")
    return F.when(~F.isnan(number), number)


def _delivery_day(dataset: DatasetConfig, days: Sequence[dt.date]) -> Column:
    """The day whose ingest sees a row: a dump is replayed as if each day's rows arrived that day; a daily source's
    file is one day's (`days` is that day)."""
    if dataset.source.layout == "daily":
        if len(set(days)) != 1:
            raise PipelineError(f"a daily source ({dataset.name}) is ingested one day at a time, not {len(days)}")
        return F.lit(days[0])
    start, end = F.lit(dataset.window.start), F.lit(dataset.window.end)
    # Rows before/after the window (or with no usable time) arrive with its first/last day, so that
    # each is quarantined exactly once instead of vanishing.
    return F.coalesce(F.least(F.greatest(F.col("local_day"), start), end), start)


def _first_failed_check(dataset: DatasetConfig) -> Column:
    value_ok = F.col("value").isNotNull()
    if dataset.value_range is not None:
        low, high = dataset.value_range
        value_ok = value_ok & F.col("value").between(low, high)
    checks = {
        "malformed": F.col(MALFORMED),
        "null_user_id": F.col("user_id").isNull(),
        "null_item_id": F.col("item_id").isNull(),
        "unknown_event_type": F.col("event_type").isNull(),
        "bad_event_time": F.col("event_time").isNull(),
        "bad_value": F.col("value_given") & ~value_ok,
        "out_of_window": F.col("local_day") != F.col("delivery_day"),
    }
    assert tuple(checks) == QUARANTINE_REASONS[: len(checks)], "checks must follow QUARANTINE_REASONS"
    reason = F.lit(None).cast("string")
    for name, failed in reversed(checks.items()):
        reason = F.when(failed, F.lit(name)).otherwise(reason)
    return reason


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

"""Type, validate and classify the raw lines of an event log: the Spark transforms `jobs.ingest_events` runs.

Each delivered line gets the canonical event columns and either a content key (a good event) or the first check it
failed (`features.schema.QUARANTINE_REASONS`); the exceptional lines (rejected ones, copies of an event delivered
more than once) are found in one pass, and only those leave the scan.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from core.config_dataset import DatasetConfig
from core.errors import PipelineError
from features.schema import EVENTS, QUARANTINE_REASONS
from jobs.delimited import MALFORMED, local_day, parse_columns, raw_timestamp


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
    return raw_timestamp(F.col(dataset.fields.event_time), dataset)


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

"""Labeled samples of day D: labels from the events of D (and its attribution window), features only from
profiles as of D, attribute snapshots of D and user x category history before D.

A range of days is one job (`samples_of_days`, the range runner's): every label, draw and join is keyed by the
sample's day `dt`, so each day's partition is the one its daily job writes.

Fails when a single feature tells a label apart on its own (a leak), naming the feature: by its values, by whether
it is missing, or by being constant within each label.
"""
from __future__ import annotations

import datetime as dt
import sys
from typing import Sequence

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType

from core.cli import run_day_job
from core.config_schema import PipelineConfig, SampleConfig
from core.delta_arrow import partition_days
from core.errors import PipelineError
from core.lake import days_label, read_days, read_partitions, replace_days, require_table
from core.tables import EVENTS_TABLE, ITEM_PROFILE_TABLE, SAMPLES_TABLE, USER_CATEGORY_DAILY_TABLE, USER_PROFILE_TABLE
from features.samples import feature_columns, label_columns
from features.spec import FeatureSpec, feature_spec, window_column
from jobs.build_daily_rollups import with_item_category
from jobs.build_profiles import history, total_events, window_sums
from jobs.ingest_attributes import read_attribute_snapshot
from jobs.label_leak import LabelLeakError, check_label_leak
from jobs.sample_labels import PAIR, labeled_pairs

LEAK_CHECK_ROWS = 200_000  # the leak alarm looks at a seeded sample of at most this many rows


def with_features(labeled: DataFrame, user_profile: DataFrame, item_profile: DataFrame,
                  user_attributes: DataFrame | None, item_attributes: DataFrame | None,
                  cross: DataFrame) -> DataFrame:
    """Join every feature source onto the labeled pairs, each by its key and day (`as_of` of a profile, `dt` of a
    snapshot, = the sample's `dt`); feature columns are prefixed by their entity."""
    samples = labeled
    for frame, key, prefix in ((user_profile, "user_id", "user_"), (item_profile, "item_id", "item_"),
                               (user_attributes, "user_id", "user_"), (item_attributes, "item_id", "item_")):
        if frame is None:
            continue
        day = "as_of" if "as_of" in frame.columns else "dt"
        features = [F.col(c).alias(prefix + c) for c in frame.columns if c not in (key, day)]
        renamed = frame.select(key, F.col(day).alias("dt"), *features)
        samples = samples.join(renamed, [key, "dt"], "left")
    samples = samples.join(cross, PAIR, "left")
    # A user with a history (a profile) but no event in the item's categories has a count of 0; null is kept for
    # the user without a history (features.spec.Feature: null means unknown, never zero).
    has_history = F.col("user_days_since_last_event").isNotNull()
    counts = [c for c in cross.columns if c not in PAIR]
    return samples.withColumns({c: F.when(has_history, F.coalesce(F.col(c), F.lit(0))) for c in counts})


def user_category_history(user_category_daily: DataFrame, pairs: DataFrame, item_categories: DataFrame,
                          days: Sequence[dt.date], windows: Sequence[int], event_types: Sequence[str]) -> DataFrame:
    """Per sample pair (user, item, dt) of `days`: the user's events in the item's categories (all of them, for
    genres) per window before dt."""
    daily = history(user_category_daily, days, max(windows)).withColumn("events", total_events(event_types))
    per_category = window_sums(daily, ["user_id", "category"], windows, ["events"]).select(
        "user_id", "category", F.col("as_of").alias("dt"), *[window_column("events", n) for n in windows])
    item_category = with_item_category(pairs, item_categories, "category").where(F.col("category").isNotNull())
    joined = item_category.join(per_category, ["user_id", "category", "dt"])
    return joined.groupBy(*PAIR).agg(
        *[F.sum(window_column("events", days)).alias(f"cross_category_events_{days}d") for days in windows])


def check_against_spec(columns: list[str], spec: FeatureSpec) -> None:
    """Fail unless the feature columns are exactly the spec's, in its order: the spec is what models read."""
    written = feature_columns(columns)
    if written != list(spec.names):
        missing = [name for name in spec.names if name not in written]
        unexpected = [name for name in written if name not in spec.names]
        raise PipelineError(f"samples do not match the feature spec (features/spec.py): missing {missing}, "
                            f"unexpected {unexpected}" + ("" if missing or unexpected else ", order differs"))


def build_samples(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    return samples_of_days(spark, cfg, [ds])


def samples_of_days(spark: SparkSession, cfg: PipelineConfig, days: Sequence[dt.date]) -> str:
    """Write the samples of every day of `days` in one pass; each needs its events (and those of its attribution
    window), its profiles and its attribute snapshots."""
    rules, days = cfg.samples, sorted(set(days))
    events_path = cfg.table_path(EVENTS_TABLE)
    require_table(spark, events_path, "ingest_events")
    _check_inputs(spark, events_path, partition_days(events_path, "dt"), days, rules)
    attributed = read_partitions(spark, events_path, "dt", days[0],
                                 days[-1] + dt.timedelta(days=rules.attribution_days))
    day_events = attributed.where(F.col("dt").isin(days))
    user_profile = read_days(spark, cfg.table_path(USER_PROFILE_TABLE), "as_of", days)
    item_profile = read_days(spark, cfg.table_path(ITEM_PROFILE_TABLE), "as_of", days)
    labeled = labeled_pairs(day_events, attributed, rules)
    items = read_attribute_snapshot(spark, cfg, "items", days)
    item_categories = None if items is None or cfg.dataset.item_category is None else items.select(
        "item_id", "dt", F.col(cfg.dataset.item_category).alias("category"))
    cross = user_category_history(
        spark.read.format("delta").load(cfg.table_path(USER_CATEGORY_DAILY_TABLE)),
        labeled.select(*PAIR), item_categories, days, cfg.profiles.windows, cfg.dataset.canonical_event_types,
    ) if item_categories is not None else labeled.select(*PAIR).limit(0)
    users = read_attribute_snapshot(spark, cfg, "users", days)
    samples = with_features(labeled, user_profile, item_profile, users, items, cross)
    samples = samples.select(*[c for c in samples.columns if c != "dt"], "dt").persist()  # the table's order
    try:
        check_against_spec(samples.columns, feature_spec(cfg))
        _check_leaks(samples, rules)
        replace_days(samples, cfg.table_path(SAMPLES_TABLE), "dt", days)
        labels = label_columns(rules.mode)
        stats = samples.agg(F.count(F.lit(1)).alias("rows"), *[F.avg(c).alias(c) for c in labels]).first()
    finally:
        samples.unpersist()
    rates = " ".join(f"{label}_rate={stats[label]:.4f}" for label in labels)
    return f"build_samples {days_label(days)}: rows={stats['rows']} {rates}"


def _check_inputs(spark: SparkSession, events_path: str, event_days: set[dt.date], days: Sequence[dt.date],
                  rules: SampleConfig) -> None:
    """Fail on the first day whose labels cannot be made: no events, immature labels, no events to sample from."""
    for day in days:
        if day not in event_days:
            raise PipelineError(f"no events of {day} in {events_path}; run ingest_events for {day} first")
        last_label_day = day + dt.timedelta(days=rules.attribution_days)
        if rules.attribution_days and last_label_day not in event_days:
            raise PipelineError(f"labels of {day} are not mature: they need the events of {last_label_day} "
                                f"(attribution window {rules.attribution_days} days); ingest that day first")
    sample_type = rules.sample_event_type
    if sample_type is not None:
        typed = read_days(spark, events_path, "dt", days).where(F.col("event_type") == sample_type)
        with_samples = {row.dt for row in typed.select("dt").distinct().collect()}
        for day in days:
            if day not in with_samples:
                raise PipelineError(f"no samples of {day}: samples mode {rules.mode!r} makes them from the "
                                    f"{sample_type!r} events of the day, and {day} has none in {events_path}")


def _check_leaks(samples: DataFrame, rules: SampleConfig) -> None:
    """check_label_leak on each day's rows (a seeded sample of at most LEAK_CHECK_ROWS of a larger day), several
    small days fetched at once."""
    features = feature_columns(samples.columns)
    numeric = {f.name for f in samples.schema.fields if isinstance(f.dataType, NumericType)}
    labels = list(label_columns(rules.mode))
    checked = samples.select(*[F.col(c).cast("double" if c in numeric else "string") for c in features], *labels,
                             "dt")
    sizes = {row.dt: row["count"] for row in samples.groupBy("dt").count().collect()}
    fractions = {str(day): min(1.0, LEAK_CHECK_ROWS / size) for day, size in sizes.items()}
    sampled = any(fraction < 1.0 for fraction in fractions.values())
    if sampled:
        # One seeded pass draws every large day's rows (a re-run checks the same ones; a range job's sample of a day
        # can differ from the daily job's, other days sharing its partitions, the rows written do not), and the
        # batches below read that sample, not the whole range's rows once per day.
        checked = checked.sampleBy(F.col("dt").cast("string"), fractions, seed=17).persist()
    try:
        for batch in leak_check_batches(sizes, LEAK_CHECK_ROWS):
            rows = checked.where(F.col("dt").isin(batch)).toArrow().to_pandas()
            _check_days(rows, features, labels, rules)
    finally:
        if sampled:
            checked.unpersist()


def leak_check_batches(sizes: dict[dt.date, int], most_rows: int) -> list[list[dt.date]]:
    """The days in order, in batches to fetch at once: consecutive days of at most `most_rows` rows together, a day
    of more alone (its sample of about `most_rows` rows)."""
    batches: list[list[dt.date]] = []
    batched = most_rows
    for day in sorted(sizes):
        size = sizes[day]
        if size > most_rows or batched + size > most_rows:
            batches.append([])
            batched = 0
        batches[-1].append(day)
        batched = most_rows if size > most_rows else batched + size
    return batches


def _check_days(rows: pd.DataFrame, features: Sequence[str], labels: Sequence[str], rules: SampleConfig) -> None:
    for day, day_rows in rows.groupby("dt", sort=True):
        try:
            check_label_leak(day_rows, features, labels, rules.leak_auc_threshold, rules.missing_auc_threshold)
        except LabelLeakError as leak:
            raise LabelLeakError(f"samples of {day}: {leak}") from None


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, build_samples))

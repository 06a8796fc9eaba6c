"""The labeled (user, item, day) pairs a day's samples start from: rated pairs, funnel exposures, and clicks with
negatives drawn by the positives' own item distribution. `jobs.build_samples` joins their features."""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from core.config_schema import SampleConfig

PAIR = ["user_id", "item_id", "dt"]  # a sample: a user and an item on a day


def rating_samples(day_events: DataFrame, like_threshold: float) -> DataFrame:
    """One sample per rated (user, item) and day: label_like = the (last) rating of the day >= threshold."""
    last = F.max_by("value", F.struct("event_time", "event_id"))
    rated = day_events.where(F.col("value").isNotNull()).groupBy(*PAIR).agg(last.alias("rating"))
    return rated.select(*PAIR, (F.col("rating") >= like_threshold).cast("int").alias("label_like"))


def funnel_samples(day_events: DataFrame, attributed_events: DataFrame, rules: SampleConfig) -> DataFrame:
    """One sample per (user, item) with a `rules.sample_event_type` event on its day D: an impression, or a click in
    sampled_negatives mode (sample_negatives adds the negatives). label_conversion needs a click on D and a
    conversion in [D, D + attribution_days] (CTCVR); `attributed_events` holds those days."""
    exposures = _pairs(day_events, rules.sample_event_type)
    clicked = _pairs(day_events, rules.click_type).withColumn("label_click", F.lit(1))
    # A conversion on day C is attributed to the samples of days [C - W, C].
    attributed_to = F.explode(F.sequence(F.date_sub("dt", rules.attribution_days), F.col("dt")))
    converted = (attributed_events.where(F.col("event_type") == rules.conversion_type)
                 .select("user_id", "item_id", attributed_to.alias("dt")).distinct().withColumn("converted", F.lit(1)))
    labeled = exposures.join(clicked, PAIR, "left").join(converted, PAIR, "left")
    click = F.coalesce(F.col("label_click"), F.lit(0))
    return labeled.select(*PAIR, click.alias("label_click"),
                          (click * F.coalesce(F.col("converted"), F.lit(0))).alias("label_conversion"))


def _pairs(events: DataFrame, event_type: str) -> DataFrame:
    return events.where(F.col("event_type") == event_type).select(*PAIR).distinct()


def positive_item_weights(positives: DataFrame) -> pd.DataFrame:
    """Per day, the items of its positives, each weighted by its number of positive rows (dt and item_id order, for
    seeded draws).

    Negatives drawn by these weights have the positives' own item distribution: an item-only signal (popularity,
    age, a missing profile for an item new on D) is as common among the negatives as among the positives, so no
    feature of the item alone can tell the labels apart. Drawing by popularity before D instead made every item new
    on D a positive (it has no past to be drawn by): "item profile is null" then predicted the click."""
    counts = positives.groupBy("dt", "item_id").agg(F.count(F.lit(1)).alias("weight"))
    return counts.orderBy("dt", "item_id").toPandas()


def sample_negatives(positives: DataFrame, day_events: DataFrame, popularity: pd.DataFrame,
                     ratio: int) -> DataFrame:
    """`ratio` unclicked items per click, drawn by the day's `popularity` (positive_item_weights), seeded by (D, user):
    re-runs agree, and a day's draws do not depend on the other days computed with it.

    Items the user touched on D in any way are never drawn as negatives.
    """
    by_day = {}
    for day, weights in popularity.groupby("dt", sort=False):
        cdf = np.cumsum(weights["weight"].to_numpy(dtype=float))
        by_day[day] = (weights["item_id"].to_numpy(), cdf / cdf[-1])
    touched = day_events.select("user_id", "item_id", "dt").distinct()
    wanted = positives.groupBy("user_id", "dt").agg((F.count(F.lit(1)) * ratio).alias("wanted"))
    per_user = touched.join(wanted, ["user_id", "dt"])

    def draw(frame: pd.DataFrame) -> pd.DataFrame:
        user, day = frame["user_id"].iloc[0], frame["dt"].iloc[0]
        need = int(frame["wanted"].iloc[0])
        items, cdf = by_day[day]
        rng = np.random.default_rng([day.toordinal(), zlib.crc32(user.encode())])
        seen = set(frame["item_id"])
        chosen: list[str] = []
        # Fast path: rejection sampling from the shared CDF, O(need * log items) per user.
        for index in np.searchsorted(cdf, rng.random(3 * need + 10) if len(items) else [], side="right"):
            item = items[min(index, len(items) - 1)]
            if item not in seen:
                seen.add(item)
                chosen.append(item)
                if len(chosen) == need:
                    break
        if len(chosen) < need:
            # The user touched most of the popular mass: draw the rest exactly from what is left.
            eligible = np.array([item not in seen for item in items], dtype=bool)
            weights = np.diff(cdf, prepend=0.0) * eligible
            take = min(need - len(chosen), int(eligible.sum()))
            if take:
                chosen += list(rng.choice(items, size=take, replace=False, p=weights / weights.sum()))
        # dtype=object: pandas 3's Arrow-backed default strings are not accepted by pyspark 4.1's serializer.
        return pd.DataFrame({"user_id": [user] * len(chosen), "item_id": chosen, "dt": [day] * len(chosen)},
                            dtype=object)

    negatives = per_user.groupBy("user_id", "dt").applyInPandas(draw, "user_id string, item_id string, dt date")
    return negatives.select(*PAIR, F.lit(0).alias("label_click"), F.lit(0).alias("label_conversion"))


def labeled_pairs(day_events: DataFrame, attributed: DataFrame, rules: SampleConfig) -> DataFrame:
    """The labeled pairs of the samples mode: rated pairs, exposures, or clicks with their sampled negatives."""
    if rules.mode == "ratings":
        return rating_samples(day_events, rules.like_threshold)
    positives = funnel_samples(day_events, attributed, rules)
    if rules.mode == "impressions":
        return positives
    negatives = sample_negatives(positives, day_events, positive_item_weights(positives), rules.negatives_per_click)
    return positives.withColumn("is_sampled_negative", F.lit(False)).unionByName(
        negatives.withColumn("is_sampled_negative", F.lit(True)))

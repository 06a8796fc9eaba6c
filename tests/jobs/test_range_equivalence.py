"""A range computed in range mode (each data job once for every day) equals the same range run one day at a time:
every partition of every table, value for value (ops.digests), in fresh lakes.

Real MovieLens 100k ratings read in Asia/Shanghai days, with the dataset window cut to 1997-12-10..13 (the lake's
first day, a day with one rating, an empty day, rows before and after the window quarantined on its first and last
days). The days before D of a Taobao-format dump (a log's attribute snapshots, sampled negatives) are built both ways
by tests/jobs/test_samples_leakage.py, whose leakage check then starts from the range-mode lake.
"""
import datetime as dt
from pathlib import Path

import pytest

from jobs.backfill import HISTORY_JOBS, run_day_jobs_in_range, run_day_jobs_per_day
from jobs.ingest_events import empty_days
from ops.digests import day_digests
from tests.conftest import MOVIELENS, config_for

DAY = dt.timedelta(days=1)


def both_ways(spark, tmp_path, overlay: str, days: list[dt.date], **overrides):
    """The configs of the two lakes, after the data jobs of `days` ran day by day into one and by range into the
    other."""
    per_day = config_for(tmp_path / "per_day", overlay, **overrides)
    in_range = config_for(tmp_path / "in_range", overlay, **overrides)
    built = run_day_jobs_per_day(spark, per_day, days, HISTORY_JOBS)
    assert run_day_jobs_in_range(spark, in_range, days, HISTORY_JOBS) == built
    return per_day, in_range


def assert_same_partitions(per_day, in_range, days):
    for day in days:
        one_by_one = day_digests(Path(per_day.lake_root), day)
        assert day_digests(Path(in_range.lake_root), day) == one_by_one, day
        assert {"events", "user_profile", "samples", "ingest_log"} <= set(one_by_one)


@pytest.mark.slow
@pytest.mark.first
def test_movielens_in_shanghai_days_across_an_empty_day_and_the_window_edges(spark, tmp_path):
    days = [dt.date(1997, 12, 10) + n * DAY for n in range(4)]
    per_day, in_range = both_ways(spark, tmp_path, MOVIELENS, days, run={"start": days[0], "end": days[-1]}, dataset={
        "timezone": "Asia/Shanghai", "window": {"start": days[0], "end": days[-1]}})
    assert empty_days(per_day) == empty_days(in_range) == {dt.date(1997, 12, 12)}
    assert_same_partitions(per_day, in_range, days)

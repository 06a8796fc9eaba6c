"""bench.backfill_equivalence's figures from its runs' seconds and checksums (the runs themselves are faked here;
the quick bench in test_bench_quick runs the named-dataset comparison for real, not the synthetic sizes)."""
from __future__ import annotations

import datetime as dt

import bench.common
from bench import backfill_equivalence


def test_synthetic_sizes_compare_range_and_per_day_mode_on_each_log(monkeypatch, tmp_path):
    monkeypatch.setattr(backfill_equivalence, "DATA_DIR", tmp_path)
    monkeypatch.setattr(bench.common, "DATA_DIR", tmp_path)
    monkeypatch.setattr(backfill_equivalence, "synthetic_log", lambda events, days: tmp_path / f"log_{events}")
    runs = []

    def backfill(dataset_confs, name, start, end, *flags):
        runs.append((dataset_confs[0], name, start, end, flags))
        return {"lake_range": 40.0, "lake_per_day": 30.0}[name]

    def checksums(spark, lake, days):
        # the per-day lake differs from the range lake on its second day's samples
        return {("samples", str(day)): (10, 1 if lake.endswith("lake_per_day") and day == days[1] else 0)
                for day in days}

    monkeypatch.setattr(backfill_equivalence, "backfill", backfill)
    monkeypatch.setattr(backfill_equivalence, "partition_checksums", checksums)
    spark = type("Spark", (), {"stop": lambda self: None})()
    monkeypatch.setattr(backfill_equivalence, "build_session", lambda cfg: spark)
    monkeypatch.setattr(backfill_equivalence, "load_config", lambda files: None)
    monkeypatch.setattr(backfill_equivalence, "events_in_lake", lambda lake_root: 2_000_000)

    (size,) = backfill_equivalence.synthetic_sizes([2_000_000], days=10, per_day_days=3)

    start = backfill_equivalence.START
    assert runs == [("conf/datasets/synthetic.yaml", "lake_range", start, start + dt.timedelta(days=9), ()),
                    ("conf/datasets/synthetic.yaml", "lake_per_day", start, start + dt.timedelta(days=2),
                     ("--per-day",))]
    assert size["events"] == 2_000_000 and size["days"] == 10 and size["per_day_mode_days"] == 3
    assert size["range_mode_seconds_per_million_events"] == 20.0  # 40 s / 2M events
    assert size["per_day_mode_whole_range_seconds"] == 100.0  # 30 s for 3 days, extrapolated to 10
    assert size["ratio"] == 2.5 and size["partitions_compared"] == 3
    assert size["differing_partitions"] == [f"samples/{start + dt.timedelta(days=1)}"]
    overlay = (tmp_path / "synthetic_2000000_10d.yaml").read_text()
    assert str(tmp_path / "log_2000000" / "events" / "dt={ds}") in overlay

"""bench.backfill_equivalence's figures from its runs' seconds and partition digests (the runs themselves are faked
here; the quick bench in test_bench_quick runs the named-dataset comparison for real, not the synthetic sizes)."""
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

    def digests(lake, days):
        # the per-day lake differs from the range lake on its second day's samples
        return {("samples", str(day)): (10, "b" if lake.name == "lake_per_day" and day == days[1] else "a")
                for day in days}

    monkeypatch.setattr(backfill_equivalence, "backfill", backfill)
    monkeypatch.setattr(backfill_equivalence, "partition_digests", digests)
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


def test_partition_digests_are_per_table_and_day_and_leave_out_tables_taken_whole(tmp_path):
    import pyarrow as pa
    from deltalake import write_deltalake

    first, second = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    write_deltalake(str(tmp_path / "events"), pa.table({"dt": [first, first, second], "user_id": ["a", "b", "a"]}),
                    partition_by=["dt"])
    write_deltalake(str(tmp_path / "lake_dataset"), pa.table({"name": ["movielens_100k"]}))  # no day partition

    digests = backfill_equivalence.partition_digests(tmp_path, [first, second])

    assert sorted(digests) == [("events", "2024-01-01"), ("events", "2024-01-02")]
    assert [rows for rows, _ in (digests[("events", "2024-01-01")], digests[("events", "2024-01-02")])] == [2, 1]
    assert digests[("events", "2024-01-01")] != digests[("events", "2024-01-02")]

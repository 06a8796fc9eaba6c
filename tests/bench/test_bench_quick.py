"""`make bench`'s list and summary table, and the scaling figures."""
from __future__ import annotations

import json

import pytest

from bench import run_all, scaling

QUICK_RESULTS = ("ingest_throughput", "profiles_incremental", "backfill_equivalence", "recall_jobs", "training_input",
                 "quality_movielens_100k", "ranker_quality_movielens_100k", "full_day_movielens_100k", "scaling")


def test_quick_suite_lists_every_benchmark_once_and_no_research_data(monkeypatch):
    monkeypatch.setenv("BENCH_QUICK", "1")
    names = [name for name, _ in run_all.benchmarks()]
    assert names == list(QUICK_RESULTS)
    assert names.index("quality_movielens_100k") < names.index("ranker_quality_movielens_100k")  # its samples


def test_summary_has_a_line_per_result_with_machine_and_commit(monkeypatch, tmp_path):
    monkeypatch.setattr(run_all, "RESULTS_DIR", tmp_path)
    (tmp_path / "a.json").write_text(json.dumps({
        "name": "a", "dataset": "synthetic", "rows": 1200, "seconds": {"x": 1.5}, "ratio": 2.5,
        "machine": {"cores": 2, "memory_gib": 23.5}, "commit": "abc1234"}))
    header, line, missing = run_all.summary(["a", "b"])
    assert "cores" in header and "commit" in header
    assert line.split() == ["a", "synthetic", "1200", "2", "23.5", "abc1234", "2.5", '{"x":', "1.5}"]
    assert missing.split() == ["b", "(no", "result)"]


def test_scaling_figures():
    assert scaling.parse_sizes("10000000,1e6, 1000000") == [1_000_000, 10_000_000]
    assert scaling.per_million(30.0, 2_000_000) == 15.0
    with pytest.raises(Exception, match="positive"):
        scaling.parse_sizes("0")

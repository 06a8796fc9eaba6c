import json

import numpy as np
import pytest

import bench.common
import bench.two_tower
from tests.models.test_recall_two_tower import D, small_lake


def test_the_plain_reference_skips_seen_items_and_sorts_the_best_first():
    items = np.array([[1.0, 0.0], [0.5, 0.0], [0.0, 1.0], [2.0, 0.0]])
    assert bench.two_tower.plain_search(np.array([[1.0, 0.0]]), items, [[3]], k=2).tolist() == [[0, 1]]
    # Three items are unseen: the fourth place is empty.
    assert bench.two_tower.plain_search(np.array([[1.0, 0.0]]), items, [[3]], k=4).tolist() == [[0, 1, 2, -1]]


@pytest.mark.slow
def test_the_benchmark_runs_on_a_lake_with_rollups_and_both_searches_agree(spark, tmp_path, monkeypatch):
    cfg = small_lake(spark, tmp_path)
    for module in (bench.common, bench.two_tower):
        monkeypatch.setattr(module, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path / "results")
    bench.two_tower.main(["--lake", cfg.lake_root, "--ds", str(D)])
    result = json.loads((tmp_path / "results" / "two_tower_movielens_100k.json").read_text())
    assert result["users"] == 5 and result["items"] == 6 and result["top_k_agreement"] == 1.0
    assert result["ratio"] > 0 and set(result["seconds"]) == {"train", "exact_search", "plain_search"}

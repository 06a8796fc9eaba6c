import datetime as dt

import pytest

from bench.common import dataset_conf
from bench.quality import PROTOCOLS, protocol_of
from core.config import load_config


def test_a_benchmark_takes_a_built_in_dataset_or_any_overlay(tmp_path):
    assert dataset_conf("taobao_userbehavior") == "conf/datasets/taobao_userbehavior.yaml"
    overlay = tmp_path / "mine.yaml"
    overlay.write_text("dataset: {name: mine}\n")
    assert dataset_conf(str(overlay)) == str(overlay)
    with pytest.raises(SystemExit, match="--dataset imdb: not a built-in dataset"):
        dataset_conf("imdb")
    with pytest.raises(SystemExit, match="no such overlay file"):
        dataset_conf(str(tmp_path / "missing.yaml"))


def test_the_quality_protocol_of_a_new_dataset_is_its_run_range_after_the_history_recall_reads():
    cfg = load_config(["conf/local.yaml", "conf/examples/movielens_csv.yaml"])
    assert "movielens_csv" not in PROTOCOLS
    assert protocol_of(cfg) == (dt.date(1998, 3, 17), dt.date(1998, 4, 16), dt.date(1998, 4, 22))  # 30 days before

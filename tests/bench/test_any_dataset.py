import datetime as dt

import pytest

from bench.common import dataset_conf, lake_config, lake_days_parser, result_name
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


def test_a_lake_bench_applies_its_overlays_after_the_dataset_and_names_its_result_after_them(tmp_path):
    parser = lake_days_parser("", "lr")
    args = parser.parse_args(["--lake", str(tmp_path), "--start", "1998-04-01", "--end", "1998-04-02",
                              "--overlay", "conf/protocols/movielens_all_history.yaml"])
    cfg = lake_config("ranker_quality", args)
    assert cfg.ranker.train_days == "all" and cfg.ranker.exclude_features == ["item_movie_title", "user_zip_code"]
    assert cfg.ranker.batch_size == 256 and cfg.lake_root == str(tmp_path)  # the dataset's, and the lake's
    assert result_name("ranker_quality", cfg, args) == "ranker_quality_movielens_100k_movielens_all_history"
    plain = parser.parse_args(["--lake", str(tmp_path), "--start", "1998-04-01", "--end", "1998-04-02"])
    assert result_name("ranker_quality", lake_config("ranker_quality", plain), plain) == \
        "ranker_quality_movielens_100k"
    with pytest.raises(SystemExit, match="no such overlay file"):
        parser.parse_args(["--lake", str(tmp_path), "--start", "1998-04-01", "--end", "1998-04-02",
                           "--overlay", str(tmp_path / "missing.yaml")])

from pathlib import Path

import pytest

import ops.prepare
from core.spark import cached_jars, class_archive_path
from tests.conftest import MOVIELENS, config_for, overlays_for


def refuse_to_start(cfg):
    raise AssertionError("a Spark session was started although the jars are cached")


@pytest.mark.network  # fetches MovieLens when the cache lacks it
def test_prepare_fetches_the_dataset_and_starts_no_spark_once_jars_are_cached(spark, tmp_path, monkeypatch, capsys):
    cfg = config_for(tmp_path, MOVIELENS)
    assert cached_jars(cfg) is not None  # the session fixture resolved them
    monkeypatch.setattr(ops.prepare, "build_session", refuse_to_start)
    assert ops.prepare.main(["--conf", overlays_for(tmp_path, MOVIELENS)]) == 0  # builds the archive if missing
    out = capsys.readouterr().out
    assert "prepared movielens_100k" in out and f"JVM class archive: {class_archive_path(cfg)}" in out
    assert Path(cfg.dataset.source.path).is_file() and class_archive_path(cfg).is_file()

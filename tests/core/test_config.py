import datetime as dt

import pytest
from pydantic import ValidationError

from core.config import ConfigError, load_config
from core.days import date_range
from tests.conftest import MOVIELENS, SYNTHETIC, TAOBAO, write_yaml


def test_default_config_layers_base_local_and_movielens():
    cfg = load_config()
    assert cfg.dataset.name == "movielens_100k"
    assert cfg.spark.master == "local[*]"
    assert cfg.spark.settings["spark.sql.session.timeZone"] == "UTC"  # from base.yaml
    assert cfg.spark.settings["spark.sql.shuffle.partitions"] == 4  # from local.yaml
    assert cfg.dataset.window.start == dt.date(1997, 9, 20)
    assert "{cache_dir}" not in cfg.dataset.source.path and cfg.dataset.source.path.startswith(cfg.cache_dir)


def test_later_overlay_wins_and_config_is_frozen(tmp_path):
    extra = write_yaml(tmp_path / "x.yaml", {"dataset": {"timezone": "Europe/Paris"}})
    cfg = load_config(["conf/local.yaml", TAOBAO, str(extra)])
    assert cfg.dataset.timezone == "Europe/Paris"
    assert cfg.dataset.name == "taobao_userbehavior"
    with pytest.raises(ValidationError, match="frozen"):
        cfg.dataset.timezone = "UTC"


def test_mistyped_value_names_key_and_file(tmp_path):
    bad = write_yaml(tmp_path / "bad.yaml", {"dataset": {"window": {"start": "soon"}}})
    with pytest.raises(ConfigError) as err:
        load_config(["conf/local.yaml", MOVIELENS, str(bad)])
    assert "dataset.window.start" in str(err.value)
    assert str(bad) in str(err.value)


def test_unknown_key_names_key_and_file(tmp_path):
    bad = write_yaml(tmp_path / "typo.yaml", {"spark": {"mastr": "local[1]"}})
    with pytest.raises(ConfigError, match=r"spark\.mastr: unknown key, set in .*typo\.yaml"):
        load_config(["conf/local.yaml", MOVIELENS, str(bad)])


def test_a_check_across_a_sections_fields_names_every_file_that_set_part_of_it(tmp_path):
    bad = write_yaml(tmp_path / "short.yaml", {"ranker": {"train_days": 1}})
    with pytest.raises(ConfigError) as err:
        load_config(["conf/local.yaml", MOVIELENS, str(bad)])
    # base.yaml and the dataset overlay set the other ranker keys; the bad value came from short.yaml
    assert f"base.yaml, {MOVIELENS}, {bad})" in str(err.value)
    assert "ranker: Value error, train_days must be >= 2" in str(err.value)


def test_missing_key_is_named():
    with pytest.raises(ConfigError, match=r"dataset: missing"):
        load_config(["conf/local.yaml"])  # no dataset overlay


def test_unknown_time_zone_and_event_type_rule_are_rejected(tmp_path):
    zone = write_yaml(tmp_path / "zone.yaml", {"dataset": {"timezone": "Mars/Olympus"}})
    with pytest.raises(ConfigError, match=r"dataset\.timezone: .*unknown time zone 'Mars/Olympus'"):
        load_config(["conf/local.yaml", MOVIELENS, str(zone)])
    both = write_yaml(tmp_path / "both.yaml", {"dataset": {"fields": {"event_type": "rating"}}})
    with pytest.raises(ConfigError, match="exactly one of fields.event_type and fixed_event_type"):
        load_config(["conf/local.yaml", MOVIELENS, str(both)])


def test_a_rate_prior_weight_must_be_positive(tmp_path):
    zero = write_yaml(tmp_path / "zero.yaml", {"profiles": {"rates": [
        {"name": "mean_rating", "numerator": "value_sum", "denominator": "value_count", "prior_weight": 0}]}})
    with pytest.raises(ConfigError, match=r"profiles\.rates\.0\.prior_weight: .*must be > 0, got 0"):
        load_config(["conf/local.yaml", MOVIELENS, str(zero)])


def test_missing_overlay_file_is_named():
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(["conf/nope.yaml"])


def test_date_range_includes_both_ends():
    assert date_range(dt.date(2017, 11, 30), dt.date(2017, 12, 2)) == [
        dt.date(2017, 11, 30), dt.date(2017, 12, 1), dt.date(2017, 12, 2)]


def test_each_sample_mode_names_the_event_type_its_samples_come_from():
    assert load_config(["conf/local.yaml", MOVIELENS]).samples.sample_event_type is None  # ratings: rated events
    assert load_config(["conf/local.yaml", TAOBAO]).samples.sample_event_type == "pv"  # clicks, negatives sampled
    assert load_config(["conf/local.yaml", SYNTHETIC]).samples.sample_event_type == "impression"

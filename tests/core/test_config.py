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


def load_with(tmp_path, overlay: dict, dataset: str = MOVIELENS):
    return load_config(["conf/local.yaml", dataset, str(write_yaml(tmp_path / "user.yaml", overlay))])


@pytest.mark.parametrize("overlay, error", [
    ({"dataset": {"source": {"encoding": "utf-32"}}},
     r"dataset\.source\.encoding: Value error, unsupported encoding 'utf-32'; use one of utf-8, utf8, "),
    ({"dataset": {"source": {"quote": "''"}}}, r"dataset\.source: Value error, quote must be one character"),
    ({"dataset": {"source": {"sha256": "abc"}}}, r"sha256 must be 64 lowercase hex digits, got 'abc'"),
    ({"dataset": {"name": "movie lens"}}, r"dataset\.name: Value error, must be letters, digits"),
    ({"dataset": {"fields": {"event_time": "ts"}}},
     r"dataset: Value error, names columns its file does not declare: fields\.event_time 'ts'"),
    ({"dataset": {"attributes": {"items": {"keep": ["movie_title", "year", "genres"]}}}},
     r"names columns its file does not declare: attributes\.items\.keep 'year'; "
     r"attributes\.items\.int_columns 'release_year' \(not in keep\)"),
    ({"dataset": {"item_category": "class"}},
     r"dataset: Value error, item_category 'class' is not a kept item attribute"),
    ({"dataset": {"fixed_event_type": "rate"}}, r"fixed_event_type 'rate' is not a raw type of event_types"),
    ({"ranker": {"exclude_features": ["user_id", "item_idd"]}},
     r"ranker\.exclude_features: 'item_idd' is not a feature of the spec \(set in .*user\.yaml\)"),
    ({"gate": {"data": {"drift_features": ["user_gender"]}}},
     r"gate\.data\.drift_features: 'user_gender' is not a numeric feature the rankers take"),
    ({"gate": {"data": {"null_rate_ceilings": {"user_zip_code": 0.1}}}},  # excluded from the rankers by MovieLens
     r"gate\.data\.null_rate_ceilings: 'user_zip_code' is not a feature the rankers take"),
    ({"ranker": {"use_gbdt_leaves": True}, "gate": {"data": {"null_rate_ceilings": {"gbdt_leaves": 0.1}}}},
     r"gate\.data\.null_rate_ceilings: 'gbdt_leaves' is not a feature the rankers take"),  # the gate skips them
    ({"run": {"start": dt.date(1998, 4, 22), "end": dt.date(1998, 4, 21)}},
     r"run: Value error, end 1998-04-21 is before start 1998-04-22"),
    ({"dataset": {"time_format": "yyyy-MM-dd HH:mm:ss"}},  # MovieLens' overlay sets time_unit
     r"dataset: Value error, set time_unit \(epoch integers\) or time_format \(text times\), not both"),
    ({"dataset": {"time_format": "YYYY-MM-ddTHH:mm"}},
     r"dataset\.time_format: Value error, 'YYYY-MM-ddTHH:mm' is not a Spark datetime pattern with a year \(y\); "
     r"it has 'TY', which Spark does not parse"),
    ({"dataset": {"source": {"format": "json"}}},  # MovieLens' overlay sets a tab delimiter and a header line
     r"dataset\.source: Value error, format json reads one JSON object per line: delimiter, header do not apply"),
    ({"recall": {"merge": {"tune_k": 200}}},
     r"recall: Value error, eval_k \[20, 50, 100\] and merge\.tune_k 200 must lie in 1\.\.top_k \(100\)"),
])
def test_a_mistake_an_overlay_can_make_is_named_when_the_config_loads(tmp_path, overlay, error):
    with pytest.raises(ConfigError, match=error):
        load_with(tmp_path, overlay)


def test_a_sample_mode_event_type_must_be_one_of_the_dataset(tmp_path):
    with pytest.raises(ConfigError, match=r"samples\.click_type 'clk' is not a canonical event type of the dataset"):
        load_with(tmp_path, {"samples": {"click_type": "clk"}}, TAOBAO)


def test_a_pin_is_for_one_local_file(tmp_path):
    with pytest.raises(ConfigError, match=r"sha256 pins one local file; .*dt=\{ds\} is remote or one per day"):
        load_with(tmp_path, {"dataset": {"source": {"sha256": "0" * 64}}}, SYNTHETIC)


def test_each_dataset_gets_its_own_lake_artifacts_and_exports_by_default():
    movielens, taobao = load_config(["conf/local.yaml", MOVIELENS]), load_config(["conf/local.yaml", TAOBAO])
    assert movielens.lake_root.endswith("/lake/movielens_100k")
    assert taobao.lake_root.endswith("/lake/taobao_userbehavior")
    assert movielens.artifact_root.endswith("/artifacts/movielens_100k")
    assert taobao.gate.export_root.endswith("/exports/taobao_userbehavior")


def test_a_minimal_overlay_needs_only_what_has_no_default(tmp_path):
    minimal = write_yaml(tmp_path / "mine.yaml", {"dataset": {
        "name": "mine", "window": {"start": dt.date(2020, 1, 1), "end": dt.date(2020, 1, 31)},
        "source": {"path": "/data/ratings.csv", "columns": ["user", "item", "rating", "ts"], "header": True},
        "fields": {"user_id": "user", "item_id": "item", "event_time": "ts", "value": "rating"},
        "fixed_event_type": "rating", "event_types": {"rating": "rating"}},
        "samples": {"mode": "ratings", "like_threshold": 4}, "recall": {"event_weights": {"rating": 1}}})
    cfg = load_config(["conf/local.yaml", str(minimal)])
    source = cfg.dataset.source
    assert (source.delimiter, source.quote, source.escape, source.encoding, source.layout) == (",", '"', '"', "utf-8",
                                                                                               "dump")
    assert (cfg.dataset.timezone, cfg.dataset.time_unit, cfg.dataset.value_range) == ("UTC", "s", None)
    assert cfg.ranker.exclude_features == [] and cfg.ranker.batch_size == 1024  # base.yaml's, not MovieLens' tuning
    last_week = (dt.date(2020, 1, 25), dt.date(2020, 1, 31), dt.date(2020, 1, 25))  # the window's last 7 days
    assert (cfg.run.start, cfg.run.end, cfg.run.dag_start) == last_week


@pytest.mark.parametrize("pattern, has_zone", [("yyyy-MM-dd HH:mm:ss", False), ("yyyy-MM-dd'T'HH:mm:ss.SSSX", True),
                                               ("dd/MM/yyyy 'Zulu' HH:mm", False), ("yyyy-MM-dd HH:mm VV", True)])
def test_a_text_time_pattern_reads_an_offset_only_from_its_unquoted_zone_letters(tmp_path, pattern, has_zone):
    overlay = write_yaml(tmp_path / "text.yaml", {"dataset": {"time_format": pattern, "time_unit": None}})
    cfg = load_config(["conf/local.yaml", MOVIELENS, str(overlay)])
    assert (cfg.dataset.time_format, cfg.dataset.time_has_zone) == (pattern, has_zone)


def test_an_overlay_removes_an_entry_of_a_mapping_by_setting_it_to_null(tmp_path):
    gate = {"data": {"drift_features": [], "null_rate_ceilings": {"item_n_rating_30d": None}}}
    cfg = load_with(tmp_path, {"profiles": {"windows": [1, 7]}, "gate": gate,
                               "spark": {"settings": {"spark.ui.enabled": None}}})
    assert cfg.gate.data.null_rate_ceilings == {"user_age": 0.01, "item_genres": 0.01}  # MovieLens' other two stay
    assert "spark.ui.enabled" not in cfg.spark.settings and "spark.driver.memory" in cfg.spark.settings
    with pytest.raises(ConfigError, match=r"samples: Value error, mode ratings needs like_threshold"):
        load_with(tmp_path, {"samples": {"like_threshold": None}})  # kept as null where a value may be null

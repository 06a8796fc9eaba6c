import pytest

from features.spec import GBDT_LEAVES, feature_spec
from tests.conftest import MOVIELENS, SYNTHETIC, config_for, gate_without_named_features


def test_movielens_spec_follows_the_config(tmp_path):
    cfg = config_for(tmp_path, MOVIELENS, profiles={"windows": [1, 7]}, gate=gate_without_named_features(MOVIELENS))
    spec = feature_spec(cfg)
    assert spec.names[:2] == ("user_id", "item_id")
    assert spec.names[2:7] == ("user_n_rating_1d", "user_active_days_1d", "user_n_rating_7d", "user_active_days_7d",
                               "user_days_since_last_event")
    assert spec["user_mean_rating_7d"].dtype == "double" and spec["user_mean_rating_7d"].kind == "numeric"
    assert spec["user_n_rating_7d"].log1p and not spec["user_active_days_7d"].log1p
    assert spec["item_genres"].kind == "multi_categorical" and spec["item_genres"].max_length == 10
    assert spec["user_age"].kind == "numeric" and spec["user_gender"].kind == "categorical"
    assert spec["user_id"].buckets == cfg.features.id_buckets
    assert spec.names[-2:] == ("cross_category_events_1d", "cross_category_events_7d")
    assert GBDT_LEAVES not in spec.names
    windows = {name: spec[name].window_days for name in ("user_n_rating_1d", "item_mean_rating_7d",
               "item_popularity_rank_7d", "cross_category_events_1d", "user_days_since_last_event", "user_age")}
    assert windows == {"user_n_rating_1d": 1, "item_mean_rating_7d": 7, "item_popularity_rank_7d": 7,
                       "cross_category_events_1d": 1, "user_days_since_last_event": None, "user_age": None}
    # Whose history a feature comes from: null on the rows of a user (item) without events in the longest window.
    history = {name: spec[name].history_of for name in windows}
    assert history == {"user_n_rating_1d": "user", "item_mean_rating_7d": "item", "item_popularity_rank_7d": "item",
                       "cross_category_events_1d": "user", "user_days_since_last_event": "user", "user_age": None}
    assert spec["user_top_categories"].history_of == "user" and spec["item_genres"].history_of is None
    assert spec["user_id"].history_of is None


def test_groups_pick_features_for_each_model_part(tmp_path):
    cfg = config_for(tmp_path, SYNTHETIC, gbdt={"num_trees": 3, "max_depth": 2})
    spec = feature_spec(cfg, with_gbdt_leaves=True)
    assert {f.kind for f in spec.group("gbdt")} == {"numeric"}
    assert "user_id" in {f.name for f in spec.group("fm")} and "user_id" not in {f.name for f in spec.group("gbdt")}
    leaves = spec[GBDT_LEAVES]
    assert leaves.groups == ("wide",) and leaves.buckets == 3 * 2 ** 2 and leaves.max_length == 3
    with pytest.raises(KeyError, match="unknown feature group 'tower'; known: wide, deep, fm, gbdt"):
        spec.group("tower")
    with pytest.raises(KeyError, match="no feature 'nope'"):
        spec["nope"]

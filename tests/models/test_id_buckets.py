import numpy as np
import pyarrow as pa
import pytest

from bench.id_buckets import distinct_values
from features.spec import Feature
from models.id_buckets import buckets_for, collision_rate, expected_collision_rate


def test_the_collision_rate_is_the_share_of_distinct_values_whose_bucket_holds_another():
    # Pinned FarmHash buckets of 4: a 3, b 2, c 0, d 1, e 1. Only d and e share a bucket.
    assert collision_rate(np.array(["a", "b", "c", "d", "e", "e", ""]), 4) == pytest.approx(2 / 5)  # "" is absent
    assert collision_rate(np.array(["a", "b", "c", "d"]), 4) == 0.0
    assert collision_rate(np.array(["", ""]), 4) == 0.0


def test_expected_rates_and_the_buckets_a_rate_needs():
    # A value's bucket is free of the other n - 1 values with probability (1 - 1/B) ** (n - 1).
    assert expected_collision_rate(2, 2) == pytest.approx(0.5)
    assert expected_collision_rate(3, 2) == pytest.approx(0.75)
    assert expected_collision_rate(1, 8) == 0.0
    assert buckets_for(2, 0.3) == 4  # 1/2 > .3, 1/4 <= .3
    assert buckets_for(1, 0.05) == 1
    with pytest.raises(ValueError, match="a collision rate must be in"):
        buckets_for(10, 0.0)


def test_the_bench_counts_distinct_values_of_scalars_and_lists_without_nulls():
    features = [Feature("item_id", "categorical", "string", ("deep",), buckets=8),
                Feature("item_genres", "multi_categorical", "string", ("deep",), buckets=8, max_length=3)]
    batches = [pa.record_batch({"item_id": ["i1", "i2", None], "item_genres": [["x", "y"], None, ["y"]]}),
               pa.record_batch({"item_id": ["i1", "i3", "i3"], "item_genres": [[], ["z", None], ["x"]]})]
    values, rows = distinct_values(batches, features)
    assert sorted(values["item_id"].to_pylist()) == ["i1", "i2", "i3"] and rows == 6
    assert sorted(values["item_genres"].to_pylist()) == ["x", "y", "z"]

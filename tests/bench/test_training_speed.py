"""bench.turns' order of the sides and bench.training_speed's shuffled in-memory side, by hand."""
import numpy as np
import tensorflow as tf

from bench.training_speed import SIDES, shuffled_in_memory
from bench.turns import turn_order


def test_each_round_starts_with_the_next_side_and_every_side_runs_once_a_round():
    assert turn_order(SIDES, 0) == ("product", "memory", "memory_shuffled", "floor")
    assert turn_order(SIDES, 1) == ("memory", "memory_shuffled", "floor", "product")
    assert turn_order(SIDES, 3) == ("floor", "product", "memory", "memory_shuffled")
    assert turn_order(SIDES, 4) == turn_order(SIDES, 0)


def test_the_shuffled_side_gives_every_row_once_a_pass_in_a_new_order_each_pass():
    # Rows 0..6 in two packed batches; a row's block values and its label travel together.
    parts = [({"packed_int64": np.array([[0, 0], [1, 10], [2, 20], [3, 30]])},
              {"ctr": np.array([[0.], [1.], [2.], [3.]])}),
             ({"packed_int64": np.array([[4, 40], [5, 50], [6, 60]])}, {"ctr": np.array([[4.], [5.], [6.]])})]
    parts = tf.nest.map_structure(tf.constant, parts)
    data = shuffled_in_memory(parts, batch=3)
    passes = []
    for _ in range(2):
        batches = list(data.as_numpy_iterator())
        assert [len(y["ctr"]) for _, y in batches] == [3, 3, 1]
        blocks = np.concatenate([x["packed_int64"] for x, _ in batches])
        labels = np.concatenate([y["ctr"] for _, y in batches]).reshape(-1)
        assert sorted(labels) == list(range(7)) and (blocks[:, 1] == 10 * blocks[:, 0]).all()
        assert (blocks[:, 0] == labels).all()
        passes.append(labels.tolist())
    assert passes[0] != passes[1]
    again = shuffled_in_memory(parts, batch=3).as_numpy_iterator()
    assert np.concatenate([y["ctr"] for _, y in again]).reshape(-1).tolist() == passes[0]  # one seed, one order

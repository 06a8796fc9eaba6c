"""bench.training_speed's turns by hand."""
from bench.training_speed import turn_order


def test_each_round_starts_with_the_next_side_and_every_side_runs_once_a_round():
    assert turn_order(0) == ("product", "memory", "floor")
    assert turn_order(1) == ("memory", "floor", "product")
    assert turn_order(2) == ("floor", "product", "memory")
    assert turn_order(3) == turn_order(0)

"""The suite's own scheduling: the longest tests open the two workers' first slices."""
from __future__ import annotations

from tests.conftest import worksteal_order


def test_first_tests_open_each_workers_slice_and_the_rest_keep_their_order():
    items = ["a", "b", "c", "LONG1", "d", "e", "LONG2"]
    # 7 items on 2 workers: worksteal sends the first 3 to worker 0 and the other 4 to worker 1.
    assert worksteal_order(items, str.isupper, 2) == ["LONG1", "a", "b", "LONG2", "c", "d", "e"]


def test_one_worker_or_more_first_tests_than_workers():
    items = ["a", "L1", "b", "L2", "L3"]
    assert worksteal_order(items, str.isupper, 1) == ["L1", "L2", "L3", "a", "b"]
    # 5 on 2 workers: 2 to worker 0, then 3; the third long test goes after worker 0's first one.
    assert worksteal_order(items, str.isupper, 2) == ["L1", "L3", "L2", "a", "b"]

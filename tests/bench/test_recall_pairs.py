"""bench.recall_pairs' per-user recall and paired differences by hand."""
import pandas as pd

from bench.recall_pairs import comparisons, source_recall


def test_each_source_scores_every_evaluated_user_and_zero_without_a_list():
    candidates = pd.DataFrame([("popular", "u1", "A", 1), ("popular", "u1", "B", 2), ("popular", "u2", "A", 1),
                               ("merged", "u1", "B", 1), ("merged", "u1", "C", 2)],
                              columns=["source", "user_id", "item_id", "rank"])
    positives = {"u1": {"B", "C"}, "u2": {"C"}, "u3": {"A"}}
    # popular: u1's top 1 is A (0 of 2), top 2 A, B (1 of 2); u2 has A (0); u3 has no list (0).
    # merged: u1's top 1 B (1 of 2), top 2 B, C (2 of 2); u2 and u3 have no list.
    assert source_recall(candidates, positives, [1, 2]) == {"popular": {1: [0.0, 0.0, 0.0], 2: [0.5, 0.0, 0.0]},
                                                            "merged": {1: [0.5, 0.0, 0.0], 2: [1.0, 0.0, 0.0]}}


def test_sources_are_paired_against_the_references_and_the_merge_against_each_single_source_once():
    sources = ["als", "merged", "popular", "two_tower"]
    assert comparisons(sources, ["popular"]) == [("popular", "als"), ("popular", "merged"), ("popular", "two_tower"),
                                                 ("als", "merged"), ("two_tower", "merged")]
    # als against popular is already there as popular against als; a reference the lake lacks is passed over.
    assert comparisons(sources, ["popular", "als", "itemcf"]) == [
        ("popular", "als"), ("popular", "merged"), ("popular", "two_tower"), ("als", "merged"), ("als", "two_tower"),
        ("two_tower", "merged")]
    assert comparisons(["als", "two_tower"], ["popular"]) == []

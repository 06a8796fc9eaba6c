"""Day D's samples, GBDT leaves and recall candidates ignore every change on D or later.

The days before D of a Taobao-format dump (a log's attribute snapshots, sampled negatives) are built twice, day by
day and in range mode, and must be the same partitions (as tests/jobs/test_range_equivalence.py holds for
MovieLens). Then two Taobao-format dumps that differ only on D and after (events deleted, added, re-typed; new users
and items; an item's category outvoted by later rows) go through D's real jobs into two lakes. On the sample rows both
lakes hold, every feature of D is the same, and so are the leaves of D and the recall candidates as of D; the labels
of D differ.
"""
import datetime as dt
import random
import shutil
import zoneinfo

import pytest
from pyspark.sql import functions as F

from features.samples import KEY_COLUMNS, feature_columns
from features.spec import GBDT_LEAVES
from jobs.backfill import DAY_JOBS, run_day_jobs
from tests.conftest import TAOBAO, config_for, gate_without_named_features
from tests.jobs.test_range_equivalence import assert_same_partitions, both_ways

D = dt.date(2017, 11, 28)
DAY = dt.timedelta(days=1)
FIRST_DAY = D - 3 * DAY
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# Everything but evaluate_recall, whose ground truth is the events of D (labels, by design).
JOBS_OF_D = [name for name, _ in DAY_JOBS if name != "evaluate_recall"]


def moment(day: dt.date, second: int) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).timestamp()) + second


def raw_log(seed: int = 5) -> list[tuple]:
    """(user, item, category, behavior, epoch second) over D-3 .. D+1; items i0..i19 of categories c0..c3."""
    rng = random.Random(seed)
    rows = []
    for day in (D - 3 * DAY, D - 2 * DAY, D - DAY, D, D + DAY):
        for _ in range(70):
            item = min(int(rng.expovariate(0.15)), 19)
            behavior = rng.choices(["pv", "cart", "fav", "buy"], [0.8, 0.08, 0.05, 0.07])[0]
            rows.append((f"u{rng.randrange(12)}", f"i{item}", f"c{item % 4}", behavior,
                         moment(day, rng.randrange(86_400))))
    return rows


def changed_on_d_and_later(log: list[tuple]) -> list[tuple]:
    first_of_d = moment(D, 0)
    later = [row for row in log if row[4] >= first_of_d]
    kept = [row for row in log if not (row[4] >= first_of_d and row[0] == "u1")]  # u1's events of D on: gone
    kept = [(u, i, c, "cart" if b == "fav" and t >= first_of_d else b, t) for u, i, c, b, t in kept]  # re-typed
    u2_clicks = sorted({(i, c) for u, i, c, b, t in later if u == "u2" and b == "pv" and t < first_of_d + 86_400})
    added = [("u2", i, c, "buy", first_of_d + 80_000) for i, c in u2_clicks]  # u2 buys what it clicked on D
    added += [("u99", "i3", "c3", "pv", first_of_d + 100), ("u3", "i_new", "c9", "pv", first_of_d + 200),
              ("u4", "i_new", "c9", "pv", first_of_d + 300)]  # a new user, a new item
    added += [(f"u{n}", "i0", "c_later", "pv", first_of_d + 86_400 + n) for n in range(8)]  # outvotes i0's c0
    return kept + added


def overrides(dump) -> dict:
    return dict(
        dataset={"window": {"start": FIRST_DAY, "end": D + DAY}, "source": {"path": str(dump)},
                 "attributes": {"items": {"path": str(dump)}}},
        run={"start": FIRST_DAY, "end": D}, profiles={"windows": [1, 2]}, gate=gate_without_named_features(TAOBAO),
        gbdt={"train_days": 3, "stack_days": 1, "num_trees": 3, "max_depth": 2, "min_instances_per_node": 2},
        # One tower pair for 2 epochs (Taobao's config fits 3 pairs for 10): what D's candidates read is under test,
        # which the count of towers and epochs does not change.
        recall={"history_days": 3, "popular_days": 2, "top_k": 10, "eval_k": [10], "merge": {"tune_k": 10},
                "als": {"rank": 4, "max_iter": 3, "blocks": 1}, "two_tower": {"ensemble": 1, "epochs": 2}},
    )


def write_dump(folder, log: list[tuple]):
    folder.mkdir(parents=True, exist_ok=True)
    dump = folder / "UserBehavior.csv"
    dump.write_text("".join(f"{u},{i},{c},{b},{t}\n" for u, i, c, b, t in log))
    return dump


def lakes_built_to_d(spark, tmp_path):
    """The original lake and the changed one, each with D's jobs run on its own dump. The days before D are built
    from the original dump day by day and in range mode, which must give the same partitions; the range-mode lake
    is the original, and a copy of it the changed one: the days before D have the same inputs in both (the dumps
    differ only on D and later), and what is under test is what D's jobs read."""
    days_before_d = [FIRST_DAY + n * DAY for n in range((D - FIRST_DAY).days)]
    per_day, original = both_ways(spark, tmp_path, TAOBAO, days_before_d,
                                  **overrides(write_dump(tmp_path / "original", raw_log())))
    assert_same_partitions(per_day, original, days_before_d)
    changed = config_for(tmp_path / "changed", TAOBAO,
                         **overrides(write_dump(tmp_path / "changed", changed_on_d_and_later(raw_log()))))
    shutil.copytree(original.lake_root, changed.lake_root)
    for cfg in (original, changed):
        run_day_jobs(spark, cfg, D, JOBS_OF_D)
    return original, changed


def rows_by_key(spark, cfg, table: str, partition: str, columns=None) -> dict:
    frame = spark.read.format("delta").load(cfg.table_path(table)).where(F.col(partition) == F.lit(D))
    columns = columns or [c for c in frame.columns if c not in (*KEY_COLUMNS, partition)]
    return {tuple(row[k] for k in KEY_COLUMNS): tuple(row[c] for c in columns)
            for row in frame.select(*KEY_COLUMNS, *columns).collect()}


@pytest.mark.slow
@pytest.mark.first
def test_days_built_in_range_or_per_day_agree_and_samples_leaves_and_candidates_of_d_ignore_later_changes(
        spark, tmp_path):
    original, changed = lakes_built_to_d(spark, tmp_path)

    samples = spark.read.format("delta").load(original.table_path("samples"))
    features = feature_columns(samples.columns)
    labels = ["label_click", "label_conversion"]
    before = rows_by_key(spark, original, "samples", "dt", features + labels)
    after = rows_by_key(spark, changed, "samples", "dt", features + labels)
    shared = sorted(set(before) & set(after))
    assert len(shared) >= 30 and set(before) != set(after)  # rows come and go with the clicks of D
    assert [key for key in shared if before[key][:-2] != after[key][:-2]] == []  # every feature the same
    assert any(before[key][-2:] != after[key][-2:] for key in shared)  # while labels of shared rows change
    assert any(after[key][features.index("item_category_id")] is None for key in after if key[2] == "i_new")

    leaves_before = rows_by_key(spark, original, "gbdt_leaves", "as_of", [GBDT_LEAVES])
    leaves_after = rows_by_key(spark, changed, "gbdt_leaves", "as_of", [GBDT_LEAVES])
    assert len({tuple(row[0]) for row in leaves_before.values()}) > 1  # a forest that splits the rows
    both = set(leaves_before) & set(leaves_after)
    assert any(key[0] == D for key in both) and all(leaves_before[key] == leaves_after[key] for key in both)

    def candidates(cfg):
        frame = spark.read.format("delta").load(cfg.table_path("recall_candidates")).where(F.col("as_of") == F.lit(D))
        return sorted(tuple(row) for row in frame.drop("as_of").collect())

    assert candidates(original) and candidates(original) == candidates(changed)

import datetime as dt
import random

import pytest
from pyspark.sql import functions as F

from core.config_recall import AlsConfig
from core.tables import RECALL_CANDIDATES_TABLE
from jobs.recall_als import als_candidates, ensure_ids, new_ids, recall_als, train_als
from tests.conftest import MOVIELENS, config_for
from tests.jobs.recall_fixtures import collect, write_user_item_daily

D = dt.date(1998, 4, 22)
DAY = dt.timedelta(days=1)
PARAMS = AlsConfig(rank=4, alpha=10.0, reg_param=0.05, max_iter=15, blocks=2, seed=7)


@pytest.mark.slow
def test_new_ids_continue_the_persisted_numbering_in_id_order(spark):
    known = spark.createDataFrame([("user", "u9", 0), ("item", "i1", 0)], "kind string, id string, index int")
    wanted = spark.createDataFrame([("u9",), ("u2",), ("u10",), ("u2",)], "id string")
    assert collect(new_ids(known, wanted, "user", 1), "id", "index") == [("u10", 1), ("u2", 2)]


@pytest.mark.slow
def test_an_id_keeps_its_integer_when_later_days_add_ids(spark, tmp_path):
    path = str(tmp_path / "ids")
    first = ensure_ids(spark, path, "item", spark.createDataFrame([("b",), ("c",)], "id string"))
    assert collect(first, "id", "index") == [("b", 0), ("c", 1)]
    second = ensure_ids(spark, path, "item", spark.createDataFrame([("a",), ("c",)], "id string"))
    assert collect(second, "id", "index") == [("a", 2), ("c", 1)]
    assert ensure_ids(spark, path, "user", spark.createDataFrame([("a",)], "id string")).first()["index"] == 0
    # One user so far (highest index 0): the next one gets 1, not a second 0.
    assert ensure_ids(spark, path, "user", spark.createDataFrame([("b",)], "id string")).first()["index"] == 1


def planted_log(spark, seed=5):
    """Two taste groups: users g0-* interact only with items a*, users g1-* only with items b*.

    Each user saw a random 60% of their group's items; ALS must fill the rest from the same group.
    """
    rng = random.Random(seed)
    rows = []
    for group, prefix in (("g0", "a"), ("g1", "b")):
        for user in range(20):
            for item in range(10):
                if rng.random() < 0.6:
                    rows.append((f"{group}-u{user}", f"{prefix}{item}", 1.0, D - DAY))
    return spark.createDataFrame(rows, "user_id string, item_id string, strength double, last_dt date")


@pytest.mark.slow
def test_als_recovers_the_planted_groups(spark, tmp_path):
    log = planted_log(spark)
    path = str(tmp_path / "ids")
    users = ensure_ids(spark, path, "user", log.select(F.col("user_id").alias("id")))
    items = ensure_ids(spark, path, "item", log.select(F.col("item_id").alias("id")))
    ratings = (log.join(users.select(F.col("id").alias("user_id"), F.col("index").alias("user_index")), "user_id")
               .join(items.select(F.col("id").alias("item_id"), F.col("index").alias("item_index")), "item_id"))
    model = train_als(ratings, PARAMS.model_copy(update={"rank": 2, "reg_param": 0.1}))  # rank 2: two tastes
    top = als_candidates(log, users, items, model, k=3, exclude_seen=True).collect()
    seen = {(row["user_id"], row["item_id"]) for row in log.collect()}
    assert top and all((row["user_id"], row["item_id"]) not in seen for row in top)
    for user in {row["user_id"] for row in top}:
        own = "a" if user.startswith("g0") else "b"
        unseen_own = 10 - sum(1 for u, item in seen if u == user and item[0] == own)
        ranked_items = [row["item_id"] for row in sorted(top, key=lambda r: r["rank"]) if row["user_id"] == user]
        # Every unseen item of the user's own group comes before any item of the other group.
        assert all(item[0] == own for item in ranked_items[:unseen_own]), (user, ranked_items)


@pytest.mark.slow
def test_recall_als_writes_candidates_and_a_rerun_gives_identical_rows(spark, tmp_path):
    recall = {"top_k": 5, "eval_k": [5], "merge": {"tune_k": 5}, "als": PARAMS.model_dump()}
    cfg = config_for(tmp_path, MOVIELENS, recall=recall)
    rng = random.Random(11)
    rows = [(f"u{u}", f"m{m}", "rating", D - rng.randrange(1, 4) * DAY, rng.randrange(24), float(rng.randrange(1, 6)))
            for u in range(15) for m in range(12) if rng.random() < 0.5]
    write_user_item_daily(spark, cfg, rows)
    report = recall_als(spark, cfg, D)
    table = spark.read.format("delta").load(cfg.table_path(RECALL_CANDIDATES_TABLE))
    first = collect(table, "as_of", "source", "user_id", "rank", "item_id", "score")
    assert report.startswith(f"recall_als {D} (days 1998-03-23..1998-04-21): {len(first)} candidates")
    assert {(row[0], row[1]) for row in first} == {(D, "als")}
    assert recall_als(spark, cfg, D) == report
    assert collect(spark.read.format("delta").load(cfg.table_path(RECALL_CANDIDATES_TABLE)),
                   "as_of", "source", "user_id", "rank", "item_id", "score") == first


def test_first_day_of_a_lake_writes_no_candidates_without_failing(spark, tmp_path):
    cfg = config_for(tmp_path, MOVIELENS)
    write_user_item_daily(spark, cfg, [("u1", "m1", "rating", D, 9, 5.0)])  # only day D itself
    assert recall_als(spark, cfg, D).endswith("0 candidates; no interactions yet")

import datetime as dt
import math
import random

import pytest
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.linalg import SparseVector
from pyspark.sql import functions as F

from core.config_schema import GbdtConfig
from core.lake import replace_partition
from features.spec import GBDT_LEAVES, Feature, feature_spec, model_input_columns
from jobs.forest_sql import (
    Leaf,
    Split,
    balanced_sum,
    leaf_offsets,
    leaf_ordinal,
    leaves_per_tree,
    lr_probability,
    saved_trees,
    with_leaves,
)
from jobs.gbdt_leaves import (
    compare_models,
    fit_lr,
    gbdt_leaves,
    rows_at_most,
    with_leaf_vector,
    with_model_inputs,
    with_numeric_vector,
)
from jobs.saved_forest import train_gbdt
from tests.conftest import MOVIELENS, config_for, gate_without_named_features

PARAMS = GbdtConfig(train_days=3, stack_days=1, label=None, num_trees=3, max_depth=1, step_size=0.5,
                    subsampling_rate=1.0, min_instances_per_node=1, max_train_rows=1000, lr_reg=0.01,
                    stack_lr_reg=1.0, reuse_model=True, seed=7)
X = Feature("x", "numeric", "double", ("gbdt",))
Y = Feature("y", "numeric", "bigint", ("gbdt",), log1p=True)


def test_leaf_offsets_by_hand():
    # Trees with 2, 4 and 3 leaves own ids 0-1, 2-5 and 6-8.
    offsets = leaf_offsets([2, 4, 3])
    assert offsets == [0, 2, 6]


def test_model_inputs_flag_missing_values_apply_log1p_and_the_vector_keeps_their_order(spark):
    frame = with_model_inputs(spark.createDataFrame([(2.5, 3), (None, None), (0.0, 0)], "x double, y bigint"), [X, Y])
    inputs = model_input_columns([X, Y])
    assert inputs == ["x", "x_missing", "y", "y_missing"]
    got = [row["raw"].toArray().tolist() for row in with_numeric_vector(frame, inputs).collect()]
    # A missing value is (0, flag 1); a real 0 is (0, flag 0): the forest can tell "no history" from "none".
    assert got == [[2.5, 0.0, pytest.approx(1.3862944), 0.0], [0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]


def test_leaf_ordinals_number_the_leaves_left_to_right_and_ties_go_left(spark):
    #        x <= 2
    #       /      \
    #   y <= 0.5    leaf 2
    #   /     \
    # leaf 0  leaf 1
    tree = Split(0, 2.0, Split(1, 0.5, Leaf(-1.0), Leaf(0.0)), Leaf(1.0))
    frame = spark.createDataFrame([(1.0, 0.5), (2.0, 0.7), (2.5, 0.0), (-3.0, -1.0)], "x double, y double")
    got = [row["leaf"] for row in frame.select(leaf_ordinal(tree, ["x", "y"]).alias("leaf")).collect()]
    assert got == [0, 1, 2, 0]


def test_leaves_and_score_from_literal_trees_by_hand(spark):
    # Two stumps on x (threshold 1) and y (threshold 5), tree weights 1 and 0.5; leaf ids 0-1 and 2-3.
    trees = [Split(0, 1.0, Leaf(-0.5), Leaf(0.5)), Split(1, 5.0, Leaf(0.2), Leaf(-0.4))]
    frame = spark.createDataFrame([(0.0, 9.0), (3.0, 1.0)], "x double, y double")
    got = with_leaves(frame, trees, [1.0, 0.5], [0, 2], ["x", "y"]).collect()
    assert [row[GBDT_LEAVES] for row in got] == [[0, 3], [1, 2]]
    # margins: -0.5 + 0.5 * -0.4 = -0.7 and 0.5 + 0.5 * 0.2 = 0.6; p = 1 / (1 + exp(-2 margin))
    assert [row["gbdt_score"] for row in got] == [pytest.approx(1 / (1 + math.exp(1.4))),
                                                  pytest.approx(1 / (1 + math.exp(-1.2)))]


def stumps_frame(spark):
    """x decides the label: x >= 5 -> 1. Depth-1 trees split on x, so each has two leaves."""
    rng = random.Random(1)
    rows = [(float(x), rng.randrange(3), int(x >= 5)) for x in range(10) for _ in range(5)]
    return with_numeric_vector(with_model_inputs(spark.createDataFrame(rows, "x double, y bigint, label int"), [X, Y]),
                               ["x", "y"])


def forest_of(spark, model, tmp_path):
    """The trees and weights of a model as the job reads them: saved, then read back from its files."""
    model.write().overwrite().save(str(tmp_path / "model"))
    return saved_trees(spark, str(tmp_path / "model"))


def scored_by_forest(trees, weights, frame):
    return with_leaves(frame, trees, weights, leaf_offsets(leaves_per_tree(trees)), ["x", "y"])


def test_stump_forest_gives_known_leaf_ids(spark, tmp_path):
    frame = stumps_frame(spark)
    model = train_gbdt(frame, PARAMS, "label")
    trees, weights = forest_of(spark, model, tmp_path)
    assert leaves_per_tree(trees) == [2, 2, 2]
    assert weights == model.treeWeights
    offsets = leaf_offsets(leaves_per_tree(trees))
    scored = scored_by_forest(trees, weights, frame)
    by_x = {row["x"]: row[GBDT_LEAVES] for row in scored.select("x", GBDT_LEAVES).distinct().collect()}
    assert len({tuple(ids) for ids in by_x.values()}) == 2  # one leaf path below the split, one above
    # Spark numbers a stump's left leaf (x below the split) 0 and its right leaf 1.
    for x, ids in by_x.items():
        assert ids == [offset + (1 if x >= 5 else 0) for offset in offsets] == ([0, 2, 4] if x < 5 else [1, 3, 5])


def test_the_sql_leaves_and_score_equal_the_forests_own_transform(spark, tmp_path):
    # A forest of depth 3 on random inputs. (Spark puts thresholds between seen values, so ties at a threshold need
    # the literal tree above.)
    rng = random.Random(5)
    rows = [(float(rng.randrange(8)) / 2, rng.randrange(6), int(rng.random() < 0.3 + 0.1 * (n % 5)))
            for n in range(400)]
    inputs = with_model_inputs(spark.createDataFrame(rows, "x double, y bigint, label int"), [X, Y])
    frame = with_numeric_vector(inputs, ["x", "y"]).withColumn("row", F.monotonically_increasing_id())
    model = train_gbdt(frame, PARAMS.model_copy(update={"num_trees": 4, "max_depth": 3}), "label")
    trees, weights = forest_of(spark, model, tmp_path)
    assert max(leaves_per_tree(trees)) > 2
    offsets = leaf_offsets(leaves_per_tree(trees))
    theirs = {row["row"]: row for row in model.copy().setLeafCol("leaf").transform(frame).collect()}
    for row in scored_by_forest(trees, weights, frame).collect():
        spark_row = theirs[row["row"]]
        assert row[GBDT_LEAVES] == [offset + int(o) for o, offset in zip(spark_row["leaf"], offsets)]
        assert row["gbdt_score"] == pytest.approx(spark_row["probability"][1], abs=1e-12)


@pytest.mark.slow
def test_lr_probability_equals_the_models_own_transform(spark):
    frame = stacked_frame(spark, [(float(x), int(x >= 5 or x == 2), 0.5) for x in range(10) for _ in range(3)])
    for total_leaves, trees in ((0, 0), (6, 3)):
        model = fit_lr(frame, ["x"], "label", 0.1, PARAMS, total_leaves)
        ours = [row["p"] for row in frame.select(lr_probability(model, ["x"], trees).alias("p")).collect()]
        vectors = with_numeric_vector(frame, ["x"])
        if total_leaves:
            vectors = VectorAssembler(inputCols=["raw", "leaf_vector"], outputCol="raw_and_leaves").transform(
                with_leaf_vector(vectors, total_leaves))
        theirs = [row["probability"][1] for row in model.transform(vectors).collect()]
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_leaf_vector_has_a_one_at_each_global_leaf_id(spark):
    frame = spark.createDataFrame([([0, 2, 4],), ([1, 3, 5],), ([1, 2, 5],)], f"{GBDT_LEAVES} array<int>")
    got = [row["leaf_vector"] for row in with_leaf_vector(frame, 6).collect()]
    assert got == [SparseVector(6, [0, 2, 4], [1.0] * 3), SparseVector(6, [1, 3, 5], [1.0] * 3),
                   SparseVector(6, [1, 2, 5], [1.0] * 3)]


def test_rows_at_most_keeps_a_small_frame_and_samples_a_large_one_with_its_seed(spark):
    frame = stumps_frame(spark)  # 50 rows
    assert rows_at_most(frame, 50, 50, seed=7) is frame
    sampled = sorted(map(tuple, rows_at_most(frame, 50, 20, seed=7).select("x", "y").collect()))
    assert 0 < len(sampled) < 50
    assert sampled == sorted(map(tuple, rows_at_most(frame, 50, 20, seed=7).select("x", "y").collect()))


def test_the_evaluation_lr_fits_on_at_most_max_train_rows(spark):
    frame = stumps_frame(spark)  # 50 rows
    capped = fit_lr(frame, ["x", "y"], "label", 0.01, PARAMS.model_copy(update={"max_train_rows": 20}))
    whole = fit_lr(frame, ["x", "y"], "label", 0.01, PARAMS)
    assert capped.summary.predictions.count() == rows_at_most(frame, 50, 20, PARAMS.seed).count() < 50
    assert whole.summary.predictions.count() == 50


def stacked_frame(spark, rows):
    """(x, label, leaves, gbdt score) rows as compare_models gets them: the stumps' leaves below/above x = 5."""
    frame = spark.createDataFrame(
        [(float(x), label, [0, 2, 4] if x < 5 else [1, 3, 5], score) for x, label, score in rows],
        f"x double, label int, {GBDT_LEAVES} array<int>, gbdt_score double")
    return with_model_inputs(frame, [X])


def test_compare_models_scores_day_d_with_each_model_and_capped_lrs(spark):
    train = stacked_frame(spark, [(float(x), int(x >= 5), 0.5) for x in range(10) for _ in range(5)])
    day = stacked_frame(spark, [(1.0, 0, 0.2), (4.0, 0, 0.6), (6.0, 1, 0.4), (8.0, 1, 0.8)])
    results = {r["model"]: r for r in compare_models(
        train, train, day, "label", PARAMS.model_copy(update={"max_train_rows": 20}), ["x"], total_leaves=6,
        trees=3)}
    assert set(results) == {"lr_raw", "gbdt", "gbdt_lr"}
    assert all(r["rows"] == 4 and r["label_rate"] == 0.5 for r in results.values())
    # The GBDT's own scores: positives at 0.4 and 0.8, negatives at 0.2 and 0.6 -> 3 of 4 pairs ordered right.
    assert results["gbdt"]["auc"] == 0.75
    expected = -(math.log(0.8) + math.log(0.4) + math.log(0.4) + math.log(0.8)) / 4
    assert results["gbdt"]["logloss"] == pytest.approx(expected, abs=1e-9)  # exact_avg: terms to 2 ** -32
    # Both LRs, each fitted on a sample of the 50 rows, learned "x >= 5": x = 6, 8 rank above x = 1, 4.
    assert results["lr_raw"]["auc"] == results["gbdt_lr"]["auc"] == 1.0


D = dt.date(1998, 4, 22)


def write_samples(spark, cfg, days, flip_day=None, seed=3):
    """Samples with every numeric feature of the spec; the label follows user_n_rating_1d (flipped on flip_day)."""
    numeric = [f for f in feature_spec(cfg).features if f.kind == "numeric"]
    rng = random.Random(seed)
    for day in days:
        rows = []
        for n in range(60):
            values = {f.name: (rng.random() * 10 if f.dtype == "double" else rng.randrange(10)) for f in numeric}
            label = int(values["user_n_rating_1d"] >= 5)
            rows.append((f"u{n}", f"m{n % 7}", label if day != flip_day else 1 - label, *values.values(), day))
        schema = ", ".join(["user_id string", "item_id string", "label_like int"]
                           + [f"{f.name} {f.dtype}" for f in numeric] + ["dt date"])
        replace_partition(spark.createDataFrame(rows, schema), cfg.table_path("samples"), {"dt": day})


def leaves_of_training_days(spark, cfg):
    table = spark.read.format("delta").load(cfg.table_path("gbdt_leaves")).where(F.col("dt") < F.lit(D))
    return sorted((r["dt"], r["user_id"], tuple(r[GBDT_LEAVES])) for r in table.collect())


def leaf_days(spark, cfg):
    table = spark.read.format("delta").load(cfg.table_path("gbdt_leaves")).where(F.col("as_of") == F.lit(D))
    return sorted(r["dt"] for r in table.select("dt").distinct().collect())


@pytest.mark.slow
def test_with_an_attribution_window_the_forest_and_its_stacking_end_where_labels_are_known(spark, tmp_path):
    # W = 1: the labels of D-1 need the events of D, so the last day the forest side may learn is D-2.
    cfg = config_for(tmp_path, MOVIELENS, profiles={"windows": [1]}, samples={"attribution_days": 1},
                     gate=gate_without_named_features(MOVIELENS),
                     gbdt={"train_days": 3, "stack_days": 1, "num_trees": 2, "max_depth": 2})
    write_samples(spark, cfg, [D - dt.timedelta(days=n) for n in (3, 2, 1, 0)])
    report = gbdt_leaves(spark, cfg, D)
    assert "on 1998-04-18..1998-04-19" in report  # the forest: [D-M-W, D-S-W-1]; the stacking LR: D-2 only
    rows_of = {r["model"]: r["rows"] for r in spark.read.format("delta").load(cfg.table_path("gbdt_metrics"))
               .collect()}
    assert rows_of == {"lr_raw": 60, "gbdt": 60, "gbdt_lr": 60}  # each evaluated on D's 60 rows
    assert leaf_days(spark, cfg) == [D - dt.timedelta(days=n) for n in (2, 1, 0)]


@pytest.mark.slow
def test_the_model_as_of_d_never_sees_the_samples_of_d_and_a_rerun_reuses_it(spark, tmp_path):
    days = [D - dt.timedelta(days=n) for n in (3, 2, 1, 0)]
    overrides = {"profiles": {"windows": [1]}, "gate": gate_without_named_features(MOVIELENS),
                 "gbdt": {"train_days": 3, "stack_days": 1, "num_trees": 4, "max_depth": 2}}
    clean = config_for(tmp_path / "clean", MOVIELENS, **overrides)
    write_samples(spark, clean, days)
    report = gbdt_leaves(spark, clean, D)
    assert report.startswith(f"gbdt_leaves {D} (trained 4 trees") and "on 1998-04-19..1998-04-20" in report
    # Leaves only for the days the forest did not learn on: the stacking day D-1 and D itself.
    assert leaf_days(spark, clean) == [D - dt.timedelta(days=1), D]
    metrics = {r["model"]: r for r in spark.read.format("delta").load(clean.table_path("gbdt_metrics")).collect()}
    assert set(metrics) == {"lr_raw", "gbdt", "gbdt_lr"} and metrics["gbdt"]["auc"] > 0.9  # the planted rule
    # Day D's labels turned upside down: the model (and so every training-day leaf) is the same; only D scores worse.
    flipped = config_for(tmp_path / "flipped", MOVIELENS, **overrides)
    write_samples(spark, flipped, days, flip_day=D)
    gbdt_leaves(spark, flipped, D)
    assert leaves_of_training_days(spark, flipped) == leaves_of_training_days(spark, clean)
    flipped_auc = {r["model"]: r["auc"] for r in spark.read.format("delta").load(flipped.table_path("gbdt_metrics"))
                   .collect()}
    assert flipped_auc["gbdt"] == pytest.approx(1 - metrics["gbdt"]["auc"])
    # A re-run of D loads the saved forest and writes identical leaves.
    before = leaves_of_training_days(spark, clean)
    assert "(reused 4 trees" in gbdt_leaves(spark, clean, D)
    assert leaves_of_training_days(spark, clean) == before
    # A changed forest setting trains a new forest rather than reusing the one saved with the old settings.
    fewer_trees = config_for(tmp_path / "clean", MOVIELENS,
                             **{**overrides, "gbdt": {**overrides["gbdt"], "num_trees": 3}})
    assert gbdt_leaves(spark, fewer_trees, D).startswith(f"gbdt_leaves {D} (trained 3 trees")
    # A re-run with nothing to evaluate (no stacking day) leaves none of the earlier forest's metrics behind.
    unstacked = config_for(tmp_path / "clean", MOVIELENS,
                           **{**overrides, "gbdt": {**overrides["gbdt"], "stack_days": 0}})
    assert gbdt_leaves(spark, unstacked, D).endswith(f"no samples of {D} (or of {D}..{D - dt.timedelta(days=1)}) "
                                                     "to evaluate")
    metrics_of_d = spark.read.format("delta").load(clean.table_path("gbdt_metrics")).where(F.col("as_of") == F.lit(D))
    assert metrics_of_d.count() == 0


def test_a_balanced_sum_adds_pairs_so_its_expression_nests_log2_deep(spark):
    terms = [F.col(name) for name in "abcde"]
    assert str(balanced_sum(terms)) == "Column<'+(+(+(a, b), +(c, d)), e)'>"  # ((a + b) + (c + d)) + e
    frame = spark.createDataFrame([(1.0, 2.0, 4.0, 8.0, 16.0)], "a double, b double, c double, d double, e double")
    assert frame.select(balanced_sum(terms).alias("total")).first()["total"] == 31.0

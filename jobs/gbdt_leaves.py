"""GBDT leaf encoding as of D (He et al., "Practical Lessons from Predicting Clicks on Ads at Facebook", 2014).

A GBTClassifier learns the label from the numeric features of the `gbdt` group over the samples of
[D-M-W, D-S-W-1], never of D (W = samples.attribution_days: a day's labels are known W days after it, so the last
day with labels known before D is L = D-1-W). Each sample's leaf in every tree becomes a global leaf id (tree offset
+ leaf ordinal): a multi-valued categorical feature, `gbdt_leaves`, for the wide part of the rankers. The leaves of
the days the forest did not learn on, [D-S-W, D], scored by the model as of D, go to the `gbdt_leaves` table
(partition as_of = D); the rows the forest was fitted on get none, since their leaves would carry their own labels.
The model and its offsets are saved per as_of; a re-run or backfill of D reuses them, so the leaves reproduce.

Evaluation on D (AUC, logloss to `gbdt_metrics`): logistic regression on the raw features of [D-M-W, L], the GBDT
alone, and LR on leaves + raw fitted on [D-S-W, L], the days the forest did not see (as in the paper, where the
LR learns on data after the trees').
"""
from __future__ import annotations

import datetime as dt
import sys
from typing import Sequence

from pyspark.ml.classification import LogisticRegression, LogisticRegressionModel
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import CountVectorizerModel, VectorAssembler
from pyspark.ml.functions import array_to_vector
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from core.cli import run_day_job
from core.config_schema import GbdtConfig, PipelineConfig
from core.lake import read_partitions, replace_partition, require_table
from core.metrics import EPSILON
from core.spark import without_whole_stage_codegen
from core.sums import exact_avg
from core.tables import GBDT_LEAVES_TABLE, GBDT_METRICS_TABLE, SAMPLES_TABLE
from features.samples import KEY_COLUMNS, label_columns
from features.spec import GBDT_LEAVES, Feature, feature_spec, missing_flag, model_input_columns
from jobs.forest_sql import leaves_per_tree, lr_probability
from jobs.saved_forest import fit_or_load

# The evaluation LRs stop on L-BFGS's tolerance before this: lr_raw after 46-52 iterations, gbdt_lr after 13-20
# (MovieLens 1998-04-15..22; a 1M-event synthetic day: 40 and 13). A cap of 30 moved lr_raw's AUC by up to 4e-4
# and saved no time that stood out of the noise, so the fits run to convergence and the metrics stay comparable.
LR_MAX_ITER = 100


def with_model_inputs(samples: DataFrame, features: Sequence[Feature]) -> DataFrame:
    """Each numeric feature as the models read it (features.spec.Feature: the one meaning of missing): the value,
    log1p where the spec says, with a missing value as 0; and its missing flag, 1.0 where the value is missing."""
    values = {}
    for feature in features:
        raw = F.col(feature.name).cast("double")
        value = F.log1p(F.greatest(raw, F.lit(0.0))) if feature.log1p else raw
        values[feature.name] = F.coalesce(value, F.lit(0.0))
        values[missing_flag(feature.name)] = F.when(raw.isNull(), 1.0).otherwise(0.0)
    return samples.withColumns(values)


def with_numeric_vector(frame: DataFrame, inputs: Sequence[str], output: str = "raw") -> DataFrame:
    """Add a dense vector of the (already prepared) input columns, in order, for Spark ML to fit on.

    Only the rows a model is fitted on get one; scoring reads the columns (`with_leaves`, `lr_probability`)."""
    return frame.withColumn(output, array_to_vector(F.array(*inputs)))


def with_leaf_vector(frame: DataFrame, total_leaves: int) -> DataFrame:
    """Add `leaf_vector`: the one-hot (one 1 per tree) sparse vector of the global leaf ids."""
    # A count vectorizer whose vocabulary is the ids themselves ("0" at index 0, ...) builds the sparse vector in
    # the JVM, not row by row in a Python worker as a UDF would. Ids are distinct within a row (one per tree, each
    # tree its own range), so the binary counts are the one-hot 1s.
    one_hot = CountVectorizerModel.from_vocabulary([str(leaf) for leaf in range(total_leaves)], "leaf_tokens",
                                                   "leaf_vector", binary=True)
    return one_hot.transform(frame.withColumn("leaf_tokens", F.col(GBDT_LEAVES).cast("array<string>"))).drop(
        "leaf_tokens")


def rows_at_most(frame: DataFrame, rows: int, max_rows: int, seed: int) -> DataFrame:
    """`frame` (of `rows` rows) itself, or a seeded sample of about max_rows of its rows when it holds more."""
    return frame if rows <= max_rows else frame.sample(fraction=max_rows / rows, seed=seed)


def fit_lr(train: DataFrame, inputs: Sequence[str], label: str, l2: float, params: GbdtConfig,
           total_leaves: int = 0) -> LogisticRegressionModel:
    """Logistic regression of the label on the input columns and (total_leaves > 0) the one-hot leaves after them, on
    about params.max_train_rows rows (seeded); the vectors are built for those rows only."""
    sample = rows_at_most(train, train.count(), params.max_train_rows, params.seed)
    vectors = with_numeric_vector(sample, inputs)
    if total_leaves:
        both = VectorAssembler(inputCols=["raw", "leaf_vector"], outputCol="raw_and_leaves")
        vectors = both.transform(with_leaf_vector(vectors, total_leaves))
    lr = LogisticRegression(featuresCol="raw_and_leaves" if total_leaves else "raw", labelCol=label, regParam=l2,
                            maxIter=LR_MAX_ITER, standardization=True)
    return lr.fit(vectors.withColumn(label, F.col(label).cast("double")))


def logloss(label: str, probability: str) -> Column:
    """Mean log loss (an aggregate), probabilities clipped to [EPSILON, 1 - EPSILON]; exact_avg, so it does not
    depend on how the rows are partitioned."""
    p = F.least(F.greatest(F.col(probability), F.lit(EPSILON)), F.lit(1 - EPSILON))
    y = F.col(label).cast("double")
    return exact_avg(-(y * F.log(p) + (1 - y) * F.log(1 - p)))


def auc(frame: DataFrame, label: str, probability: str) -> float:
    evaluator = BinaryClassificationEvaluator(rawPredictionCol=probability, labelCol=label, metricName="areaUnderROC")
    return evaluator.evaluate(frame.withColumn(label, F.col(label).cast("double")))


def compare_models(raw_train: DataFrame, stack_train: DataFrame, day: DataFrame, label: str, params: GbdtConfig,
                   inputs: Sequence[str], total_leaves: int, trees: int) -> list[dict]:
    """AUC and logloss on day D of LR on the raw inputs (fitted on raw_train), the GBDT alone (`gbdt_score`), and LR
    on leaves + raw (fitted on stack_train); each LR on about params.max_train_rows rows, like the forest."""
    lr_raw = fit_lr(raw_train, inputs, label, params.lr_reg, params)
    gbdt_lr = fit_lr(stack_train, inputs, label, params.stack_lr_reg, params, total_leaves)
    probabilities = {"lr_raw": lr_probability(lr_raw, inputs), "gbdt": F.col("gbdt_score"),
                     "gbdt_lr": lr_probability(gbdt_lr, inputs, trees)}
    scored = day.select(F.col(label).cast("double").alias(label),
                        *[p.alias(name) for name, p in probabilities.items()]).persist()
    try:
        results = []
        for name in probabilities:
            # One pass for the sums; AUC is the evaluator's own job.
            stats = scored.agg(logloss(label, name).alias("logloss"), F.count(F.lit(1)).alias("rows"),
                               F.avg(label).alias("label_rate")).first()
            results.append({"model": name, "auc": auc(scored, label, name), **stats.asDict()})
        return results
    finally:
        scored.unpersist()


def gbdt_leaves(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    # Whole-stage codegen fuses this job's wide projections (58 inputs, 32 of them log1p; a forest and two LRs as SQL)
    # into one method per stage, too big for HotSpot to JIT (it runs interpreted: reading the 58 inputs of 5.8M
    # samples took 47 s instead of 9) or for Java (past 64 KB Spark logs a compile error, then falls back). Without
    # it Spark splits each projection's code into small methods.
    with without_whole_stage_codegen(spark):
        return leaves_as_of(spark, cfg, ds)


def write_gbdt_metrics(spark: SparkSession, cfg: PipelineConfig, ds: dt.date, rows: list[tuple]) -> None:
    """Replace D's metrics partition, also with no rows: a re-run with nothing to evaluate must not leave the metrics
    of an earlier forest behind."""
    schema = ("model string, label string, auc double, logloss double, rows long, label_rate double, "
              "forest_rows long, leaves int, as_of date")
    replace_partition(spark.createDataFrame(rows, schema), cfg.table_path(GBDT_METRICS_TABLE), {"as_of": ds})


def leaves_as_of(spark: SparkSession, cfg: PipelineConfig, ds: dt.date) -> str:
    params = cfg.gbdt
    label = params.label or label_columns(cfg.samples.mode)[0]
    label_lag = cfg.samples.attribution_days
    last_day = ds - dt.timedelta(days=1 + label_lag)  # the last day whose labels are all known before D
    first_day = ds - dt.timedelta(days=params.train_days + label_lag)
    stack_first = last_day - dt.timedelta(days=params.stack_days - 1)  # the forest learns the days before this one
    path = cfg.table_path(SAMPLES_TABLE)
    require_table(spark, path, "build_samples")
    features = list(feature_spec(cfg).group("gbdt"))
    inputs = model_input_columns(features)
    columns = [f.name for f in features]
    samples = with_model_inputs(read_partitions(spark, path, "dt", first_day, ds).select(*KEY_COLUMNS, label, *columns),
                                features)
    forest_days = samples.where(F.col("dt") < F.lit(stack_first))  # never the samples of D
    stats = forest_days.agg(F.count(F.lit(1)).alias("rows"), F.sum(label).alias("positives")).first()
    if not stats["rows"] or stats["positives"] in (0, stats["rows"]):
        # The first days of a lake: no history, or one class only.
        empty = spark.createDataFrame([], f"dt date, user_id string, item_id string, {GBDT_LEAVES} array<int>")
        replace_partition(empty.withColumn("as_of", F.lit(ds)), cfg.table_path(GBDT_LEAVES_TABLE), {"as_of": ds})
        write_gbdt_metrics(spark, cfg, ds, [])
        return (f"gbdt_leaves {ds}: skipped, the samples of {first_day}..{stack_first - dt.timedelta(days=1)} hold "
                f"{stats['rows']} rows and {stats['positives'] or 0} positives of {label}; both classes are needed")
    fit_rows = with_numeric_vector(rows_at_most(forest_days, stats["rows"], params.max_train_rows, params.seed), inputs)
    forest = fit_or_load(cfg.artifact_path("gbdt", ds.isoformat()), fit_rows, inputs, label, params,
                         params.reuse_model)
    total_leaves = sum(leaves_per_tree(forest.trees))
    # Nothing is cached: scoring is a SQL expression, cheaper to run again than to keep 58 inputs per sample.
    scored = forest.score(samples.where(F.col("dt") >= F.lit(stack_first)))  # never the rows the forest learned
    replace_partition(scored.select(*KEY_COLUMNS, GBDT_LEAVES, F.lit(ds).alias("as_of")),
                      cfg.table_path(GBDT_LEAVES_TABLE), {"as_of": ds})
    day = scored.where(F.col("dt") == F.lit(ds))
    stack_train = scored.where(F.col("dt").between(F.lit(stack_first), F.lit(last_day)))
    metrics = [] if day.isEmpty() or stack_train.isEmpty() else compare_models(
        samples.where(F.col("dt") <= F.lit(last_day)), stack_train, day, label, params, inputs, total_leaves,
        len(forest.offsets))
    write_gbdt_metrics(spark, cfg, ds, [(m["model"], label, m["auc"], m["logloss"], m["rows"], m["label_rate"],
                                         stats["rows"], total_leaves, ds) for m in metrics])
    written = read_partitions(spark, cfg.table_path(GBDT_LEAVES_TABLE), "as_of", ds, ds).count()
    table = " ".join(f"{m['model']}: auc={m['auc']:.4f} logloss={m['logloss']:.4f}" for m in metrics)
    return (f"gbdt_leaves {ds} ({'reused' if forest.reused else 'trained'} {len(forest.offsets)} trees, "
            f"{total_leaves} leaves, on {first_day}..{stack_first - dt.timedelta(days=1)}, label {label}): "
            f"{written} leaf rows; " + (table or f"no samples of {ds} (or of {stack_first}..{last_day}) to evaluate"))


if __name__ == "__main__":
    sys.exit(run_day_job(__doc__, gbdt_leaves))

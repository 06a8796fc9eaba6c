"""The forest of `jobs.gbdt_leaves` as of a day: trained, or loaded when one was saved for that day from the same
inputs, label and forest settings (so a re-run or backfill writes the same leaves)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pyspark.ml.classification import GBTClassificationModel, GBTClassifier
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from core.config_schema import GbdtConfig
from jobs.forest_sql import Tree, leaf_offsets, leaves_per_tree, saved_trees, with_leaves


def train_gbdt(train: DataFrame, params: GbdtConfig, label: str) -> GBTClassificationModel:
    gbt = GBTClassifier(featuresCol="raw", labelCol=label, maxIter=params.num_trees, maxDepth=params.max_depth,
                        stepSize=params.step_size, subsamplingRate=params.subsampling_rate,
                        minInstancesPerNode=params.min_instances_per_node, seed=params.seed)
    return gbt.fit(train.withColumn(label, F.col(label).cast("double")))


# A saved forest is reused only when every gbdt setting is unchanged except these: the LRs' strengths only shape the
# evaluation, reuse_model is the switch itself, and the label is compared on its own. Excluding (rather than listing)
# means a setting added later invalidates reuse by default.
NOT_FOREST_SETTINGS = {"lr_reg", "stack_lr_reg", "reuse_model", "label"}


@dataclass(frozen=True)
class SavedForest:
    """A forest as its saved files hold it (jobs.forest_sql.saved_trees), whether trained now or earlier."""

    trees: list[Tree]
    weights: list[float]
    offsets: list[int]
    features: list[str]
    label: str
    reused: bool

    def score(self, frame: DataFrame) -> DataFrame:
        """`frame` (with the prepared input columns) plus its leaves and GBDT score."""
        return with_leaves(frame, self.trees, self.weights, self.offsets, self.features)


def fit_or_load(path: Path, train: DataFrame, inputs: Sequence[str], label: str, params: GbdtConfig,
                reuse: bool) -> SavedForest:
    """Load the forest saved for this as_of when it was built from the same input columns, label and forest
    settings, else train one and save it; the save goes to a temporary folder that is renamed, so a crash never
    leaves half a model."""
    names = list(inputs)
    settings = params.model_dump(mode="json", exclude=NOT_FOREST_SETTINGS)
    meta_file = path / "forest.json"
    if reuse and meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if meta["features"] == names and meta["label"] == label and meta.get("settings") == settings:
            trees, weights = saved_trees(train.sparkSession, str(path / "model"))
            return SavedForest(trees, weights, meta["offsets"], names, label, True)
    staging = path.with_name(path.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    train_gbdt(train, params, label).write().overwrite().save(str(staging / "model"))
    # The trees are read back from the files, as a reused forest is: one way to a forest's trees.
    trees, weights = saved_trees(train.sparkSession, str(staging / "model"))
    leaves = leaves_per_tree(trees)
    offsets = leaf_offsets(leaves)
    (staging / "forest.json").write_text(json.dumps({"features": names, "label": label, "settings": settings,
                                                     "offsets": offsets, "leaves": leaves}, indent=1))
    shutil.rmtree(path, ignore_errors=True)
    staging.rename(path)
    return SavedForest(trees, weights, offsets, names, label, False)

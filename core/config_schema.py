"""The config's typed schema: one frozen pydantic class per section of conf/base.yaml, checked when core.config
loads the overlays (an unknown, missing or mistyped key fails there, naming the key and its file)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator

from core.config_base import DayRange, Frozen
from core.config_dataset import DatasetConfig
from core.config_gate import GateConfig
from core.config_recall import RecallConfig


class SparkConfig(Frozen):
    master: str
    app_name: str
    # Maven coordinates of the Delta jars; "auto" derives them from the installed delta-spark/pyspark.
    delta_package: str
    # Any Spark setting, passed through verbatim (so a cluster overlay can set executors, memory, ...).
    settings: dict[str, str | int | float | bool]
    # Start driver JVMs from a class-data-sharing archive of Spark's classes (core.class_archive) once one is built.
    class_archive: bool
    # JVM options of spark-submitted day tasks only (the DAG's, `python -m core.spark`), after the settings' own:
    # a short-lived driver over a small day can skip what only pays off in a long-lived one (the range runner's).
    submit_java_options: str
    # How the DAG runs its Spark day tasks: `spark_submit` (a driver JVM per task, on the connection dailyrec_spark)
    # or `spark_connect` (each task a client of one long-lived Spark Connect server, on dailyrec_spark_connect;
    # ops.spark_connect starts one on this machine for make run when that connection is not set).
    airflow_tasks: Literal["spark_submit", "spark_connect"]


class RateSpec(Frozen):
    """A Bayesian-smoothed rate: (numerator + w * global rate) / (denominator + w) over each window."""

    name: str
    numerator: str  # a rollup column: n_<event type> or value_sum
    denominator: str  # n_<event type> or value_count
    prior_weight: float

    @field_validator("prior_weight")
    @classmethod
    def _positive_weight(cls, weight: float) -> float:
        if not weight > 0:  # 0 divides by zero for an entity with no denominator in a window (an error under ANSI)
            raise ValueError(f"must be > 0, got {weight}")
        return weight


class ProfileConfig(Frozen):
    windows: list[int]  # N of each N-day window; a profile as of D uses days [D-N, D-1]
    top_categories: int  # K of the user's top categories
    recent_items: int  # K of the user's last K distinct items
    rates: list[RateSpec]

    @field_validator("windows")
    @classmethod
    def _positive_sorted(cls, windows: list[int]) -> list[int]:
        if not windows or any(n < 1 for n in windows) or len(set(windows)) != len(windows):
            raise ValueError(f"must be distinct positive day counts, got {windows}")
        return sorted(windows)


class SampleConfig(Frozen):
    """How day D's labels come from day D's events (and, with attribution_days > 0, the days after)."""

    # ratings: every rating is a sample, label_like = value >= like_threshold (MovieLens);
    # sampled_negatives: clicked (user, item) pairs + unclicked items drawn from the items clicked on D, weighted
    # by their clicks (so negatives share the positives' item distribution; jobs.build_samples) (Taobao);
    # impressions: every impressed (user, item) pair (a log with real exposures, e.g. synthetic).
    mode: Literal["ratings", "sampled_negatives", "impressions"]
    like_threshold: float | None
    exposure_type: str | None  # impressions mode
    click_type: str | None
    conversion_type: str | None
    negatives_per_click: int
    attribution_days: int  # a conversion counts if it happens on D .. D + attribution_days
    leak_auc_threshold: float  # a single feature with univariate AUC above this fails the job
    missing_auc_threshold: float  # ... and so does a feature whose missing flag alone has an AUC above this

    @model_validator(mode="after")
    def _mode_needs(self) -> "SampleConfig":
        needed = {"ratings": ["like_threshold"], "sampled_negatives": ["click_type", "conversion_type"],
                  "impressions": ["exposure_type", "click_type", "conversion_type"]}[self.mode]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"mode {self.mode} needs {', '.join(missing)}")
        if self.attribution_days < 0 or self.negatives_per_click < 1:
            raise ValueError("attribution_days must be >= 0 and negatives_per_click >= 1")
        return self

    @property
    def sample_event_type(self) -> str | None:
        """The event type whose (user, item) pairs of day D become samples; None in ratings mode (rated events)."""
        return {"impressions": self.exposure_type, "sampled_negatives": self.click_type}.get(self.mode)


class FeatureKnobs(Frozen):
    """Sizes the feature spec gives each kind of feature (features/spec.py)."""

    id_buckets: int  # user/item ids and lists of item ids are hashed into this many buckets
    category_buckets: int  # other categorical values
    embedding_dim: int
    max_list_length: int  # multi-valued features keep this many values per row


class GbdtConfig(Frozen):
    """GBDT leaf encoding (He et al. 2014): a GBTClassifier as of D, trained on the samples of [D-M, D-S-1]."""

    train_days: int  # M
    # S: the forest learns [D-M, D-S-1] and the LR on its leaves learns [D-S, D-1], where the leaves are out of
    # sample. Leaves of the rows a forest was fitted on are over-confident, and an LR trained on them overfits.
    stack_days: int
    label: str | None  # the label column to learn; None: the first label of the sample mode
    num_trees: int
    max_depth: int
    step_size: float
    subsampling_rate: float
    min_instances_per_node: int
    max_train_rows: int  # a seeded sample of the training days beyond this many rows
    lr_reg: float  # L2 strength of the evaluation's LR on raw features
    # L2 strength of the LR on leaves + raw: hundreds of one-hot leaves on a few days of rows need far more
    # (MovieLens 1998-04-21/22: AUC 0.62/0.77 at 0.01, 0.76/0.81 at 1.0).
    stack_lr_reg: float
    reuse_model: bool  # a re-run (backfill) of D loads the model saved for D instead of training again
    seed: int

    @model_validator(mode="after")
    def _split(self) -> "GbdtConfig":
        if not 0 <= self.stack_days < self.train_days:
            raise ValueError(f"stack_days ({self.stack_days}) must lie in 0..train_days-1 ({self.train_days - 1})")
        return self


class RankerConfig(Frozen):
    """Daily TF ranker training: fit on [D-M, D-2], early-stop on D-1, evaluate on D (models/train.py)."""

    # M; "all": every day with samples before D (the input streams, so memory does not grow with M)
    train_days: int | Literal["all"]
    batch_size: int
    # Training steps per call into TF's compiled step: Python's and Keras' overhead per call is paid once for all.
    steps_per_execution: int
    max_epochs: int
    # Later epochs come from memory when the first epoch's model inputs fit in this many MiB (else every epoch is
    # read from the samples again); 0 = never.
    input_cache_mib: int
    patience: int  # epochs without a better validation loss before stopping (the best weights are kept)
    hidden_units: list[int]
    dropout: float
    learning_rate: float
    l2: float  # L2 on the wide weights and embedding vectors each batch looks up, per example; 0 = none
    warm_start: bool  # start from the weights of the model's latest candidate before D, where shapes match
    negative_keep_rate: float  # < 1: train on that share of negatives; predictions are re-calibrated
    use_gbdt_leaves: bool  # add the `gbdt_leaves` of as_of D (jobs/gbdt_leaves.py) to the wide part
    # Features of the spec the rankers do not take (the samples keep them, GBDT and reports still see them): on a
    # small dataset, ids the models can only memorise. Checked against the spec when a model is built.
    exclude_features: list[str]
    models: list[str]  # the rankers the daily DAG trains, gates and exports (names of models.registry)
    seed: int

    @model_validator(mode="after")
    def _sane(self) -> "RankerConfig":
        if self.train_days != "all" and self.train_days < 2:
            raise ValueError("train_days must be >= 2 (one day at least to fit, the last to early-stop on) or all")
        if not 0 < self.negative_keep_rate <= 1:
            raise ValueError(f"negative_keep_rate must lie in (0, 1], got {self.negative_keep_rate}")
        if self.l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {self.l2}")
        if self.input_cache_mib < 0:
            raise ValueError(f"input_cache_mib must be >= 0, got {self.input_cache_mib}")
        return self


class RunConfig(DayRange):
    """The days `make run` (its last) and the range runner take when none is given, and where the DAG's schedule
    starts. Without a `run` section: the last RUN_DAYS days of the dataset's window."""

    # The DAG's start_date (Airflow creates no task for a day before it, outside a backfill); None: `start`. A long
    # dump's window would otherwise schedule every day of it.
    schedule_start: dt.date | None = None

    @model_validator(mode="after")
    def _schedule_before_end(self) -> "RunConfig":
        if self.schedule_start is not None and self.schedule_start > self.end:
            raise ValueError(f"schedule_start {self.schedule_start} is after end {self.end}")
        return self

    @property
    def dag_start(self) -> dt.date:
        return self.schedule_start or self.start


RUN_DAYS = 7


class PipelineConfig(Frozen):
    lake_root: str
    artifact_root: str  # model files (GBDT models, TF candidates, exports); the lake holds only tables
    cache_dir: str
    spark: SparkConfig
    dataset: DatasetConfig
    profiles: ProfileConfig
    samples: SampleConfig
    recall: RecallConfig
    features: FeatureKnobs
    gbdt: GbdtConfig
    ranker: RankerConfig
    gate: GateConfig
    run: RunConfig
    sources: tuple[str, ...] = ()  # the files this config was merged from, in order

    @model_validator(mode="before")
    @classmethod
    def _default_run(cls, data: object) -> object:
        """No `run` section: the window's last RUN_DAYS days (a shorter window: all of it)."""
        if isinstance(data, dict) and "run" not in data:
            window = (data.get("dataset") or {}).get("window") if isinstance(data.get("dataset"), dict) else None
            if isinstance(window, dict) and all(isinstance(window.get(k), dt.date) for k in ("start", "end")):
                start = max(window["start"], window["end"] - dt.timedelta(days=RUN_DAYS - 1))
                data = {**data, "run": {"start": start, "end": window["end"]}}
        return data

    @model_validator(mode="after")
    def _run_in_window(self) -> "PipelineConfig":
        window = self.dataset.window
        if not window.start <= self.run.start <= self.run.end <= window.end:
            raise ValueError(f"run {self.run.start}..{self.run.end} is not inside dataset.window "
                             f"{window.start}..{window.end}")
        if self.run.schedule_start is not None and self.run.schedule_start < window.start:
            raise ValueError(f"run.schedule_start {self.run.schedule_start} is before dataset.window.start")
        return self

    @model_validator(mode="after")
    def _known_event_types(self) -> "PipelineConfig":
        known = set(self.dataset.canonical_event_types)
        unknown = set(self.recall.event_weights) - known
        if unknown:
            raise ValueError(f"recall.event_weights names event types the dataset does not have: {sorted(unknown)}")
        for key in ("exposure_type", "click_type", "conversion_type"):
            named = getattr(self.samples, key)
            if named is not None and named not in known:
                raise ValueError(f"samples.{key} {named!r} is not a canonical event type of the dataset "
                                 f"({', '.join(sorted(known))})")
        return self

    def table_path(self, table: str) -> str:
        return f"{self.lake_root.rstrip('/')}/{table}"

    def artifact_path(self, *parts: str) -> Path:
        return Path(self.artifact_root).joinpath(*parts)

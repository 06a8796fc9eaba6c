"""The config's typed schema: one frozen pydantic class per section of conf/base.yaml, checked when core.config
loads the overlays (an unknown, missing or mistyped key fails there, naming the key and its file)."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from core.days import date_range


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class SparkConfig(_Frozen):
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


class DayRange(_Frozen):
    """An inclusive range of days."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> "DayRange":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def days(self) -> list[dt.date]:
        return date_range(self.start, self.end)


class Window(DayRange):
    """Inclusive range of local days that the dataset covers; events outside it are quarantined."""


# Encodings a raw file may be in: those Spark's `decode` knows in which '\n' and '\r' are single bytes of their own
# (jobs.delimited splits lines on bytes before decoding). Each spelling a user may write -> Spark's name.
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "us-ascii": "us-ascii", "ascii": "us-ascii",
             "iso-8859-1": "iso-8859-1", "latin-1": "iso-8859-1", "latin1": "iso-8859-1"}


class DelimitedFile(_Frozen):
    """A delimited text file (or a folder of them) and the names of its columns in order, read one record per line
    by Spark's CSV parser (jobs.delimited)."""

    path: str
    columns: list[str]
    delimiter: str = ","  # one or more characters: ",", "\t", "::"
    header: bool = False  # the first line of each file names the columns (it is skipped, not checked)
    quote: str | None = '"'  # a field in quotes may hold the delimiter; None: quotes are ordinary characters
    escape: str = '"'  # the character before a quote inside a quoted field: '"' is RFC 4180's doubled quote
    encoding: str = "utf-8"  # utf-8, latin-1 (iso-8859-1) or us-ascii
    sha256: str | None = None  # when set, the file's digest is checked before it is read (a single file only)
    # A quoted field may hold line breaks: each file is then read whole by one task (slower; it must fit in memory).
    # Without it a record is one line, and the lines of a record that spans lines are quarantined as malformed.
    multiline: bool = False

    @property
    def is_one_local_file(self) -> bool:
        """Whether `path` names one file on this machine: not remote (hdfs://, s3a://), not one per day (`{ds}`)."""
        return "://" not in self.path and "{ds}" not in self.path

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            return ENCODINGS[encoding.lower()]
        except KeyError:
            raise ValueError(f"unsupported encoding {encoding!r}; use one of {', '.join(ENCODINGS)}") from None

    @model_validator(mode="after")
    def _parsable(self) -> "DelimitedFile":
        if not self.delimiter:
            raise ValueError("delimiter is empty")
        for key in ("quote", "escape"):
            value = getattr(self, key)
            if value is not None and len(value) != 1:
                raise ValueError(f"{key} must be one character, got {value!r}")
        if self.multiline and (self.quote is None or self.escape != self.quote):
            raise ValueError("multiline needs a quote, escaped by doubling it (escape = quote)")
        if self.quote is not None and self.quote in self.delimiter:
            raise ValueError(f"quote {self.quote!r} is part of the delimiter {self.delimiter!r}")
        if not self.columns or len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns must be distinct names, got {self.columns}")
        if self.sha256 is not None:
            if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
                raise ValueError(f"sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
            if not self.is_one_local_file:
                raise ValueError(f"sha256 pins one local file; {self.path} is remote or one per day")
        return self


class RawSource(DelimitedFile):
    # dump: one file holding every day (a day's delivery is the rows whose event day is that day);
    # daily: `path` contains `{ds}` and names the folder/file delivered for that day.
    layout: Literal["dump", "daily"] = "dump"
    # How the file gets onto this machine when it is missing: "none" (it must exist) or a fetcher name.
    fetch: Literal["none", "movielens_recbole"] = "none"


class EventFields(_Frozen):
    """Which raw column feeds each canonical event field."""

    user_id: str
    item_id: str
    event_time: str
    event_type: str | None = None  # None: every row has `fixed_event_type`
    value: str | None = None


class AttributeTable(DelimitedFile):
    id_column: str
    keep: list[str]  # attribute columns to keep, after `rename`
    rename: dict[str, str] = {}
    int_columns: list[str] = []
    list_columns: dict[str, str] = {}  # column -> separator; becomes array<string>
    # The column of the time a row became known (epoch, in dataset.time_unit), when the file is a log rather than
    # a catalogue (Taobao's items come from the event dump): D's snapshot then holds only rows known before D.
    # None: every row is catalogue data, known on any day.
    known_at: str | None = None


class Attributes(_Frozen):
    users: AttributeTable | None = None
    items: AttributeTable | None = None


class DatasetConfig(_Frozen):
    name: str  # names the dataset's lake, artifacts and exports (`{dataset}` in their roots)
    window: Window
    source: RawSource
    fields: EventFields
    event_types: dict[str, str]  # raw event type -> canonical event type
    timezone: str = "UTC"  # the zone of the local days events belong to
    time_unit: Literal["s", "ms"] = "s"
    fixed_event_type: str | None = None
    value_range: list[float] | None = None  # [min, max] allowed event value, both included
    attributes: Attributes = Attributes()
    item_category: str | None = None  # the item attribute (string or list of strings) that rollups group by

    @property
    def canonical_event_types(self) -> tuple[str, ...]:
        """Every canonical event type, in the order the config declares them, each once."""
        return tuple(dict.fromkeys(self.event_types.values()))

    @field_validator("name")
    @classmethod
    def _path_safe(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ValueError(f"must be letters, digits, '_', '.' or '-' (it names folders), got {name!r}")
        return name

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone

    @field_validator("value_range")
    @classmethod
    def _min_max(cls, bounds: list[float] | None) -> list[float] | None:
        if bounds is not None and (len(bounds) != 2 or bounds[0] > bounds[1]):
            raise ValueError(f"must be [min, max], got {bounds}")
        return bounds

    @model_validator(mode="after")
    def _one_event_type_rule(self) -> "DatasetConfig":
        if (self.fields.event_type is None) == (self.fixed_event_type is None):
            raise ValueError("set exactly one of fields.event_type and fixed_event_type")
        return self

    @model_validator(mode="after")
    def _columns_exist(self) -> "DatasetConfig":
        """Every column a key names is one its file has: found here, not when a job first reads the file."""
        unknown = [f"fields.{key} {column!r}" for key, column in self.fields.model_dump().items()
                   if column is not None and column not in self.source.columns]
        for kind in ("users", "items"):
            table: AttributeTable | None = getattr(self.attributes, kind)
            if table is None:
                continue
            renamed = [table.rename.get(column, column) for column in table.columns]
            where = f"attributes.{kind}"
            unknown += [f"{where}.rename {column!r}" for column in table.rename if column not in table.columns]
            named = {"id_column": [table.id_column], "keep": table.keep,
                     "known_at": [table.known_at] if table.known_at else []}
            unknown += [f"{where}.{key} {column!r}" for key, columns in named.items()
                        for column in columns if column not in renamed]
            unknown += [f"{where}.{key} {column!r} (not in keep)" for key, columns in
                        (("int_columns", table.int_columns), ("list_columns", list(table.list_columns)))
                        for column in columns if column not in table.keep]
        if unknown:
            raise ValueError(f"names columns its file does not declare: {'; '.join(unknown)}")
        if self.item_category is not None and (self.attributes.items is None
                                               or self.item_category not in self.attributes.items.keep):
            raise ValueError(f"item_category {self.item_category!r} is not a kept item attribute "
                             f"(attributes.items.keep)")
        if self.fixed_event_type is not None and self.fixed_event_type not in self.event_types:
            # Unmapped, every row would be quarantined as unknown_event_type.
            raise ValueError(f"fixed_event_type {self.fixed_event_type!r} is not a raw type of event_types")
        return self


class RateSpec(_Frozen):
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


class ProfileConfig(_Frozen):
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


class SampleConfig(_Frozen):
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


class AlsConfig(_Frozen):
    rank: int
    alpha: float  # confidence = 1 + alpha * interaction strength (Hu, Koren, Volinsky 2008)
    reg_param: float
    max_iter: int
    blocks: int  # user and item blocks; fixed so that a re-run partitions (and so computes) identically
    seed: int


class ItemCfConfig(_Frozen):
    max_history: int  # skew control: only a user's most recent items enter the co-occurrence self-join
    max_item_users: int  # skew control: a very popular item keeps a seeded sample of this many users
    neighbours: int  # M most similar items kept per item
    recent_items: int  # a user's candidates come from the neighbours of their last R items
    half_life_days: float  # recency weight of a recent item = 0.5 ** ((days before D - 1) / half life)


class Item2VecConfig(_Frozen):
    vector_size: int
    window: int  # Word2Vec context: this many items either side in a user's sequence
    min_count: int  # items seen fewer times get no vector (and so are never candidates)
    max_iter: int
    step_size: float
    seed: int
    recent_items: int  # a user's candidates are the neighbours of their last R items
    half_life_days: float  # recency weight, as item-CF's


class TwoTowerConfig(_Frozen):
    embedding_dim: int  # of ids, categories and the towers' output vectors
    hidden_units: list[int]
    recent_items: int  # the user tower pools the user's last R items and their categories
    max_categories: int  # categories kept per item
    temperature: float  # in-batch softmax over cosines / temperature
    batch_size: int  # also the number of in-batch negatives (minus one)
    epochs: int
    learning_rate: float
    seed: int


class MergeConfig(_Frozen):
    tune_days: int  # the merge's weights are chosen on the candidates of [D-T, D-1] and those days' positives
    tune_k: int  # ... by pooled recall@K


class RecallConfig(_Frozen):
    history_days: int  # N: recall as of D learns from the interactions of [D-N, D-1]
    # Interaction strength of a (user, item) = sum over event types of weight * (count, or value sum for
    # `values`, e.g. ratings); only pairs with strength > 0 are interactions.
    strength: Literal["counts", "values"]
    event_weights: dict[str, float]
    exclude_seen: bool  # never recommend an item the user interacted with in [D-N, D-1]
    top_k: int  # candidates per user and source
    eval_k: list[int]
    popular_days: int  # the popularity baseline ranks items by distinct users over [D-P, D-1]
    rrf_k: int  # merge: reciprocal rank fusion, score = sum over sources of 1 / (rrf_k + rank)
    als: AlsConfig
    itemcf: ItemCfConfig
    item2vec: Item2VecConfig
    two_tower: TwoTowerConfig
    merge: MergeConfig

    @model_validator(mode="after")
    def _consistent(self) -> "RecallConfig":
        if not self.event_weights or all(weight <= 0 for weight in self.event_weights.values()):
            raise ValueError("event_weights must give at least one event type a positive weight")
        if any(k < 1 or k > self.top_k for k in [*self.eval_k, self.merge.tune_k]):
            raise ValueError(f"eval_k {self.eval_k} and merge.tune_k {self.merge.tune_k} must lie in 1..top_k "
                             f"({self.top_k})")
        if self.popular_days > self.history_days:
            raise ValueError("popular_days cannot exceed history_days (the interactions read)")
        return self


class FeatureKnobs(_Frozen):
    """Sizes the feature spec gives each kind of feature (features/spec.py)."""

    id_buckets: int  # user/item ids and lists of item ids are hashed into this many buckets
    category_buckets: int  # other categorical values
    embedding_dim: int
    max_list_length: int  # multi-valued features keep this many values per row


class GbdtConfig(_Frozen):
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


class RankerConfig(_Frozen):
    """Daily TF ranker training: fit on [D-M, D-2], early-stop on D-1, evaluate on D (models/train.py)."""

    # M; "all": every day with samples before D (the input streams, so memory does not grow with M)
    train_days: int | Literal["all"]
    batch_size: int
    # Training steps per call into TF's compiled step: Python's and Keras' overhead per call is paid once for all.
    steps_per_execution: int
    max_epochs: int
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
        return self


class DataChecks(_Frozen):
    """Day D's samples must look like data a model can be judged on (models/validate_and_export.py)."""

    min_rows: int
    label_rate: list[float]  # [min, max] of each label column's rate
    max_null_rate: float  # of any feature column not in null_rate_ceilings
    null_rate_ceilings: dict[str, float]  # tighter (or looser) ceilings of named features
    drift_bins: int  # PSI over this many quantile bins of the previous day's values
    max_psi: float  # population stability index of a drift feature, D against D-1
    drift_features: list[str]  # the main numeric features watched for drift; empty: no drift check

    @model_validator(mode="after")
    def _bounds(self) -> "DataChecks":
        if len(self.label_rate) != 2 or not 0 <= self.label_rate[0] <= self.label_rate[1] <= 1:
            raise ValueError(f"label_rate must be [min, max] within [0, 1], got {self.label_rate}")
        return self


class ModelChecks(_Frozen):
    """A candidate's day-D metrics against absolute bounds and against the blessed model re-scored on D."""

    min_auc: float
    max_logloss: float
    calibration: list[float]  # [min, max] of mean prediction / label rate
    max_auc_drop: float  # non-regression: candidate AUC >= blessed AUC - this, on the same day


class GateConfig(_Frozen):
    export_root: str  # <export_root>/<model>/<version>/: the TensorFlow Serving layout
    keep_versions: int  # published versions kept per model (the blessed one is never removed)
    golden_rows: int  # rows of day D scored by the export in a fresh TF-only process
    parity_tolerance: float  # max |export score - training process score|
    data: DataChecks
    model: ModelChecks


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


class PipelineConfig(_Frozen):
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

"""Layered YAML config (base + environment + dataset overlays) loaded once into a typed, frozen object."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from core.errors import PipelineError

REPO_ROOT = Path(__file__).resolve().parent.parent
BASE_CONF = REPO_ROOT / "conf" / "base.yaml"
DEFAULT_CONF = "conf/local.yaml,conf/datasets/movielens_100k.yaml"


def add_conf_option(parser) -> None:
    """The `--conf` option of every entry point: comma-separated overlays on top of conf/base.yaml."""
    parser.add_argument("--conf", default=DEFAULT_CONF,
                        help=f"comma-separated config overlays (default {DEFAULT_CONF})")


class ConfigError(PipelineError, ValueError):
    """A missing, unknown or mistyped config value; the message names the key and the file."""


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


class Window(_Frozen):
    """Inclusive range of local days that the dataset covers; events outside it are quarantined."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def days(self) -> list[dt.date]:
        return date_range(self.start, self.end)


class DelimitedFile(_Frozen):
    """A delimited text file (or a folder of them) and the names of its columns in order."""

    path: str
    delimiter: str
    header: bool
    columns: list[str]


class RawSource(DelimitedFile):
    # dump: one file holding every day (a day's delivery is the rows whose event day is that day);
    # daily: `path` contains `{ds}` and names the folder/file delivered for that day.
    layout: Literal["dump", "daily"]
    # How the file gets onto this machine when it is missing: "none" (it must exist) or a fetcher name.
    fetch: Literal["none", "movielens_recbole"]


class EventFields(_Frozen):
    """Which raw column feeds each canonical event field."""

    user_id: str
    item_id: str
    event_time: str
    event_type: str | None  # None: every row has `fixed_event_type`
    value: str | None


class AttributeTable(DelimitedFile):
    id_column: str
    keep: list[str]  # attribute columns to keep, after `rename`
    rename: dict[str, str]
    int_columns: list[str]
    list_columns: dict[str, str]  # column -> separator; becomes array<string>
    # The column of the time a row became known (epoch, in dataset.time_unit), when the file is a log rather than
    # a catalogue (Taobao's items come from the event dump): D's snapshot then holds only rows known before D.
    # None: every row is catalogue data, known on any day.
    known_at: str | None = None


class Attributes(_Frozen):
    users: AttributeTable | None
    items: AttributeTable | None


class DatasetConfig(_Frozen):
    name: str
    timezone: str
    window: Window
    source: RawSource
    fields: EventFields
    time_unit: Literal["s", "ms"]
    fixed_event_type: str | None
    event_types: dict[str, str]  # raw event type -> canonical event type
    value_range: list[float] | None  # [min, max] allowed event value, both included
    attributes: Attributes
    item_category: str | None  # the item attribute (string or list of strings) that rollups group by

    @property
    def canonical_event_types(self) -> tuple[str, ...]:
        """Every canonical event type, in the order the config declares them, each once."""
        return tuple(dict.fromkeys(self.event_types.values()))

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

    @model_validator(mode="after")
    def _consistent(self) -> "RecallConfig":
        if not self.event_weights or all(weight <= 0 for weight in self.event_weights.values()):
            raise ValueError("event_weights must give at least one event type a positive weight")
        if any(k < 1 or k > self.top_k for k in self.eval_k):
            raise ValueError(f"eval_k {self.eval_k} must lie in 1..top_k ({self.top_k})")
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


class RunConfig(_Frozen):
    """The default date range of `make run` / the range runner when none is given."""

    start: dt.date
    end: dt.date


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

    @model_validator(mode="after")
    def _known_event_types(self) -> "PipelineConfig":
        unknown = set(self.recall.event_weights) - set(self.dataset.canonical_event_types)
        if unknown:
            raise ValueError(f"recall.event_weights names event types the dataset does not have: {sorted(unknown)}")
        return self

    def table_path(self, table: str) -> str:
        return f"{self.lake_root.rstrip('/')}/{table}"

    def artifact_path(self, *parts: str) -> Path:
        return Path(self.artifact_root).joinpath(*parts)


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both included."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def load_config(overlays: str | list[str] = DEFAULT_CONF) -> PipelineConfig:
    """Merge conf/base.yaml with the overlays (comma-separated string or list), validate, freeze.

    Relative paths in the overlays list are taken from the repository root; `{repo}`, `{cache_dir}`
    and `~` in string values are expanded after merging.
    """
    files = [BASE_CONF] + [_resolve(p) for p in _split(overlays)]
    merged: dict[str, Any] = {}
    origin: dict[tuple[str, ...], Path] = {}
    for path in files:
        _deep_merge(merged, _read_yaml(path), origin, path, ())
    merged["sources"] = tuple(str(p) for p in files)
    merged = _expand(merged, {"repo": str(REPO_ROOT), "cache_dir": _cache_dir(merged)})
    try:
        return PipelineConfig.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_explain(err, origin, files)) from None


def _split(overlays: str | list[str]) -> list[str]:
    items = overlays.split(",") if isinstance(overlays, str) else overlays
    return [item.strip() for item in items if item.strip()]


def _resolve(path: str) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        candidate = REPO_ROOT / candidate
    return candidate


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    with path.open() as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _deep_merge(into: dict, overlay: Mapping, origin: dict, path: Path, prefix: tuple[str, ...]) -> None:
    for key, value in overlay.items():
        key_path = prefix + (str(key),)
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value, origin, path, key_path)
        else:
            into[key] = value
            origin[key_path] = path


def _cache_dir(merged: dict) -> str:
    raw = os.environ.get("DAILYREC_CACHE_DIR") or merged.get("cache_dir") or "~/.cache/dailyrec"
    return os.path.expanduser(str(raw))


def _expand(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, names) for item in value]
    if isinstance(value, str):
        for name, replacement in names.items():
            value = value.replace("{" + name + "}", replacement)
        return os.path.expanduser(value) if value.startswith("~") else value
    return value


def _explain(err: ValidationError, origin: dict[tuple[str, ...], Path], files: list[Path]) -> str:
    lines = []
    for problem in err.errors():
        key = tuple(str(part) for part in problem["loc"])
        dotted = ".".join(key) or "<top>"
        where = _origin_of(key, origin)
        if problem["type"] == "missing":
            detail = f"missing (looked in {', '.join(str(f) for f in files)})"
        elif problem["type"] == "extra_forbidden":
            detail = f"unknown key, set in {where}"
        else:
            detail = f"{problem['msg']} (got {problem.get('input')!r}, set in {where})"
        lines.append(f"{dotted}: {detail}")
    return "invalid config:\n  " + "\n  ".join(lines)


def _origin_of(key: tuple[str, ...], origin: dict[tuple[str, ...], Path]) -> str:
    """The file that set key; for a section (a check across its fields), every file that set part of it."""
    within = [str(path) for set_key, path in origin.items() if set_key[:len(key)] == key]
    if within:
        return ", ".join(dict.fromkeys(within))
    for length in range(len(key) - 1, 0, -1):
        if key[:length] in origin:
            return str(origin[key[:length]])
    return "<unknown file>"

"""What the gate's data checks read of day D (models.validate_and_export, step 1): D's samples, the reference day
for drift, which features are null by right (a window of days without any event) and which rows are warm (their
user or item had an event in the profiles' longest window before D). Read through `deltalake`, without Spark."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from core.config_schema import PipelineConfig
from core.delta_arrow import delta_dataset, is_delta_table, rows_between
from core.tables import EVENTS_TABLE, ITEM_DAILY_TABLE, USER_DAILY_TABLE
from features.samples import KEY_COLUMNS, label_columns
from features.spec import GBDT_LEAVES, FeatureSpec
from models.checks import Check, WarmRows, data_checks, noted
from models.sample_batches import Snapshot
from models.train import model_spec, training_days


def day_table(snapshot: Snapshot, day: dt.date, columns: list[str]) -> pa.Table:
    return snapshot.dataset().to_table(columns=columns, filter=pads.field("dt") == day)


@dataclass(frozen=True)
class CheckedDay:
    """Day D's samples as the data checks read them, with what decides how each feature's null rate is measured."""
    today: pa.Table
    features: list[str]
    labels: list[str]
    eventless: set[str]  # eventless_features
    warm: dict[str, WarmRows]  # warm_rows


def checked_features(spec: FeatureSpec) -> list[str]:
    return [f.name for f in spec.features if f.name != GBDT_LEAVES]  # leaves live in their own table


def checked_day(cfg: PipelineConfig, spec: FeatureSpec, snapshot: Snapshot, ds: dt.date) -> CheckedDay:
    features, labels = checked_features(spec), list(label_columns(cfg.samples.mode))
    keys = [key for key in KEY_COLUMNS if key != "dt" and key not in features]  # warm_rows looks the ids up
    today = day_table(snapshot, ds, features + labels + keys)
    return CheckedDay(today, features, labels, eventless_features(cfg, spec, ds), warm_rows(cfg, spec, today, ds))


def check_data(cfg: PipelineConfig, snapshot: Snapshot, ds: dt.date) -> list[Check]:
    spec = model_spec(cfg)  # gate.data's feature names are the spec's: core.config checks them when it loads
    day = checked_day(cfg, spec, snapshot, ds)
    reference_day = training_days(cfg, ds, snapshot).validation
    reference = day_table(snapshot, reference_day, cfg.gate.data.drift_features)
    checks = data_checks(day.today, reference, day.features, day.labels, cfg.gate.data, day.eventless, day.warm)
    if reference_day != ds - dt.timedelta(days=1) and cfg.gate.data.drift_features and reference.num_rows:
        checks.append(noted("psi_reference", f"D-1 has no samples: drift against {reference_day}"))
    return checks


def eventless_features(cfg: PipelineConfig, spec: FeatureSpec, ds: dt.date) -> set[str]:
    """The features whose window of days before D holds no event in the lake (e.g. 1-day ones after an empty day)."""
    events = cfg.table_path(EVENTS_TABLE)
    windows = {f.window_days for f in spec.features if f.window_days}
    empty = {days for days in windows if not rows_between(events, "dt", ds - dt.timedelta(days=days),
                                                          ds - dt.timedelta(days=1))}
    return {f.name for f in spec.features if f.window_days in empty}


def warm_rows(cfg: PipelineConfig, spec: FeatureSpec, today: pa.Table, ds: dt.date) -> dict[str, WarmRows]:
    """Per feature taken from a user's or item's history: D's rows whose user (item) is in the daily rollups of the
    profiles' longest window before D, the days its profile is built from (read without Spark). Without the rollup
    table (samples written by other means) its features are left out: their null rates are over all rows."""
    days = max(cfg.profiles.windows)
    window = (pads.field("dt") >= ds - dt.timedelta(days=days)) & (pads.field("dt") <= ds - dt.timedelta(days=1))
    by_entity = {}
    for entity in sorted({f.history_of for f in spec.features if f.history_of}):
        key, path = f"{entity}_id", cfg.table_path({"user": USER_DAILY_TABLE, "item": ITEM_DAILY_TABLE}[entity])
        if not is_delta_table(path):
            continue
        active = delta_dataset(path).to_table(columns=[key], filter=window).column(key)
        mask = pc.is_in(today.column(key), value_set=pc.unique(active))
        by_entity[entity] = WarmRows(entity, days, np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool))
    return {f.name: by_entity[f.history_of] for f in spec.features if f.history_of in by_entity}

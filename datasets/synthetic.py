"""A seeded synthetic impression log drawn from a hidden user x item preference model, one folder per day.

For scale tests and for ESMM (it has real exposures: impressions, clicks and conversions); never a stand-in
for real data in quality figures. Layout matches conf/datasets/synthetic.yaml:
    <out>/events/dt=YYYY-MM-DD/part-00000.csv   user_id,item_id,event_type,ts_ms
    <out>/users.csv (user_id,segment)   <out>/items.csv (item_id,category_id)   <out>/truth.npz
"""
from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from core.cli import parse_day

DAY_MS = 86_400_000
CHUNK = 1_000_000  # impressions generated per batch; bounds memory whatever the size


@dataclass(frozen=True)
class SyntheticSpec:
    users: int = 10_000
    items: int = 5_000
    categories: int = 50
    start: dt.date = dt.date(2024, 1, 1)
    days: int = 3
    impressions_per_day: int = 100_000
    latent_dim: int = 8
    seed: int = 7
    # 0: conversion affinity independent of click affinity (the log has no selection bias); towards 1 conversions
    # are driven by the click factors, so clicked rows convert more than unclicked ones would. See hidden_model.
    selection_bias: float = 0.0


@dataclass(frozen=True)
class HiddenModel:
    """The ground truth the log is drawn from: click and conversion affinities per user and item."""

    user_click: np.ndarray
    item_click: np.ndarray
    user_convert: np.ndarray
    item_convert: np.ndarray
    item_bias: np.ndarray
    item_popularity: np.ndarray
    user_activity: np.ndarray
    item_category: np.ndarray
    user_segment: np.ndarray

    def click_probability(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        affinity = np.einsum("ij,ij->i", self.user_click[users], self.item_click[items])
        return _sigmoid(-2.2 + 1.5 * affinity + self.item_bias[items])

    def conversion_probability(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        affinity = np.einsum("ij,ij->i", self.user_convert[users], self.item_convert[items])
        return _sigmoid(-2.0 + 1.5 * affinity)


def hidden_model(spec: SyntheticSpec) -> HiddenModel:
    """The seeded truth. With b = spec.selection_bias in [0, 1], the conversion factors mix the click factors
    (rescaled to the conversion factors' per-entry spread, 1/sqrt(latent_dim)) with independent ones:

        user_convert = b * user_click / 1.5        + sqrt(1 - b^2) * U,   U ~ N(0, 1/latent_dim)
        item_convert = b * item_click / sqrt(1.49)  + sqrt(1 - b^2) * I,   I ~ N(0, 1/latent_dim)

    so each entry keeps its spread, and corr(click affinity, conversion affinity) ~ b^2 (0.81 at b = 0.9).
    b = 0 draws exactly the model of a spec without the knob (same seed, same draws).
    """
    if not 0.0 <= spec.selection_bias <= 1.0:
        raise ValueError(f"selection_bias must be in [0, 1], got {spec.selection_bias}")
    rng = np.random.default_rng(spec.seed)
    scale = 1.0 / np.sqrt(spec.latent_dim)
    item_category = rng.integers(0, spec.categories, spec.items)
    category_vectors = rng.normal(0, 1, (spec.categories, spec.latent_dim))
    # Items of a category share a direction, so category is a useful (not perfect) feature.
    item_click = (category_vectors[item_category] + rng.normal(0, 0.7, (spec.items, spec.latent_dim))) * scale
    popularity = 1.0 / np.arange(1, spec.items + 1) ** 0.9  # Zipf-like head and long tail
    rng.shuffle(popularity)
    activity = rng.lognormal(0.0, 1.0, spec.users)
    # Drawn in the order the knob-less generator drew them, so b = 0 reproduces its logs.
    user_click = rng.normal(0, 1, (spec.users, spec.latent_dim)) * scale * 1.5
    independent_user = rng.normal(0, 1, (spec.users, spec.latent_dim)) * scale
    independent_item = rng.normal(0, 1, (spec.items, spec.latent_dim)) * scale
    shared, own = spec.selection_bias, np.sqrt(1.0 - spec.selection_bias ** 2)
    # item_click's entries spread as sqrt(1 + 0.7^2) * scale (category direction plus item noise).
    return HiddenModel(
        user_click=user_click,
        item_click=item_click,
        user_convert=shared * user_click / 1.5 + own * independent_user,
        item_convert=shared * item_click / np.sqrt(1.49) + own * independent_item,
        item_bias=rng.normal(0, 0.3, spec.items),
        item_popularity=popularity / popularity.sum(),
        user_activity=activity / activity.sum(),
        item_category=item_category,
        user_segment=rng.integers(0, 5, spec.users),
    )


def day_events(model: HiddenModel, day: dt.date, impressions: int, seed: int) -> pa.Table:
    """All events of one day, time-sorted: impressions, the clicks they led to, and the conversions."""
    rng = np.random.default_rng([seed, day.toordinal()])
    day_start_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    batches = []
    for offset in range(0, impressions, CHUNK):
        n = min(CHUNK, impressions - offset)
        users = rng.choice(len(model.user_activity), n, p=model.user_activity)
        items = rng.choice(len(model.item_popularity), n, p=model.item_popularity)
        shown = day_start_ms + rng.integers(0, DAY_MS - 120_000, n)
        clicked = rng.random(n) < model.click_probability(users, items)
        click_time = shown[clicked] + rng.integers(1_000, 30_000, clicked.sum())
        converted = rng.random(clicked.sum()) < model.conversion_probability(users[clicked], items[clicked])
        convert_time = click_time[converted] + rng.integers(1_000, 60_000, converted.sum())
        batches.append((users, items, "impression", shown))
        batches.append((users[clicked], items[clicked], "click", click_time))
        batches.append((users[clicked][converted], items[clicked][converted], "conversion", convert_time))
    user_ids = np.concatenate([b[0] for b in batches])
    item_ids = np.concatenate([b[1] for b in batches])
    types = np.concatenate([np.full(len(b[0]), b[2], dtype=object) for b in batches])
    times = np.concatenate([b[3] for b in batches])
    order = np.argsort(times, kind="stable")
    return pa.table({
        "user_id": pa.array(np.char.add("u", user_ids[order].astype(str))),
        "item_id": pa.array(np.char.add("i", item_ids[order].astype(str))),
        "event_type": pa.array(types[order], type=pa.string()),
        "ts_ms": pa.array(times[order], type=pa.int64()),
    })


def load_truth(path: Path) -> HiddenModel:
    """The hidden model `write_synthetic` saved as truth.npz, e.g. for true click and conversion probabilities."""
    with np.load(path) as saved:
        return HiddenModel(**{k: saved[k] for k in HiddenModel.__dataclass_fields__})


def write_synthetic(out: Path, spec: SyntheticSpec) -> list[Path]:
    """Write attribute files, the hidden truth (its factors: HiddenModel.click_probability and
    conversion_probability of any user and item; load it with load_truth) and one CSV per day; returns the day
    files."""
    out = Path(out)
    model = hidden_model(spec)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "users.csv", pa.table({
        "user_id": [f"u{i}" for i in range(spec.users)], "segment": [f"s{s}" for s in model.user_segment]}))
    _write_csv(out / "items.csv", pa.table({
        "item_id": [f"i{i}" for i in range(spec.items)], "category_id": [f"c{c}" for c in model.item_category]}))
    np.savez_compressed(out / "truth.npz", **{k: getattr(model, k) for k in HiddenModel.__dataclass_fields__})
    files = []
    for index in range(spec.days):
        day = spec.start + dt.timedelta(days=index)
        path = out / "events" / f"dt={day.isoformat()}" / "part-00000.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_csv(path, day_events(model, day, spec.impressions_per_day, spec.seed))
        files.append(path)
    return files


def synthetic_samples(spec, rows: int, first_day: dt.date, days: int, seed: int = 0) -> pa.Table:
    """A `samples`-shaped Arrow table for a feature spec (random values, `label_like` from a hidden linear rule of
    the numerics), for input-pipeline tests and benchmarks, never for quality figures."""
    rng = np.random.default_rng(seed)
    columns, signal = {}, np.zeros(rows)
    for feature in spec.features:
        if feature.kind == "numeric":
            values = rng.gamma(2.0, 3.0, rows)
            signal += values / (1 + len(columns))
            columns[feature.name] = pa.array(values if feature.dtype == "double" else values.astype(np.int64))
        elif feature.kind == "categorical":
            columns[feature.name] = pa.array(np.char.add(feature.name[:4], rng.integers(0, 5000, rows).astype(str)))
        else:
            tokens = rng.integers(0, 300, (rows, 3)).astype(str)
            columns[feature.name] = pa.array(tokens.tolist(), type=pa.list_(pa.string()))
    label = (signal + rng.normal(0, signal.std(), rows) > np.median(signal)).astype(np.int32)
    day_of_row = [first_day + dt.timedelta(days=int(d)) for d in rng.integers(0, days, rows)]
    return pa.table({**columns, "label_like": label, "dt": pa.array(day_of_row, type=pa.date32())})


def _write_csv(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
    tmp.replace(path)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def main(argv: list[str] | None = None) -> None:
    defaults = SyntheticSpec()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="e.g. ~/.cache/dailyrec/datasets/synthetic")
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--items", type=int, default=defaults.items)
    parser.add_argument("--start", type=parse_day, default=defaults.start)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--impressions-per-day", type=int, default=defaults.impressions_per_day)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--selection-bias", type=float, default=defaults.selection_bias,
                        help="0..1: how much conversions share the click factors (see hidden_model); 0 = none")
    args = parser.parse_args(argv)
    spec = SyntheticSpec(users=args.users, items=args.items, start=args.start, days=args.days,
                         impressions_per_day=args.impressions_per_day, seed=args.seed,
                         selection_bias=args.selection_bias)
    for path in write_synthetic(args.out, spec):
        print(path)


if __name__ == "__main__":
    main()

"""Ranker training speed: the product's training path next to the same model from memory and next to the floor of
this machine, a plain Keras model of the same shape on integer ids, all in one run, each side in its own process.

    python -m bench.training_speed [--rows 131072] [--models wide_deep,deepfm] [--batches 1024,4096]
    python -m bench.training_speed --rows 1000000 --daily      (also the wall time of one models.train on it)
    python -m bench.training_speed --input-cache-mib 0         (every epoch of the product streams from Delta)
    BENCH_QUICK=1: 8192 rows, batch 1024, one model.
Data: a synthetic samples table (datasets.synthetic.synthetic_samples) with the MovieLens feature spec, ids
included (user_id, item_id, recent items, titles, zip codes: 100k-bucket tables), over 14 days; it measures
speed, not quality. The three sides run at once, each in its own process (its own peak RSS), but take turns: one
warm-up epoch each, then rounds of one timed epoch each, each round starting with the next side, so that the
machine's drift (on these 2 shared cores an epoch's time varies by up to 2x from minute to minute) hits every side
alike. Examples/s of each side's best timed epoch:
  (a) product: models.inputs from the Delta table (shuffled across days, string ids hashed ahead) into the
      registry's id model, compiled as models.train compiles it, one dataset for all epochs: what a daily run
      does. Its first (warm-up) epoch streams from Delta, later ones come from memory when the pass fits in
      ranker.input_cache_mib (1 GiB): both rates are reported (first_epoch_examples_per_second);
  (b) memory: the same model and batches, converted once to tensors and cached, replayed in one fixed order;
  (b') memory_shuffled: the product's trained model (on the packed blocks) from the same rows held as tensors in
      memory, reshuffled every epoch in tf.data (a seeded permutation per epoch, each batch gathered from the
      tensors), as Keras shuffles arrays it is given: what shuffling in memory costs, which (b) does not pay;
  (c) floor (bench.training_floor): a plain Keras model with the same tables (embeddings, wide weights), MLP (its
      dropout too) and FM on the same rows' ids hashed to int buckets beforehand and numerics with their missing
      flags (the deep input's width), from memory, with sparse (lazy) Adam updates and tables read row by row
      (models.tables.SparseReadEmbedding): the fastest form of this model this machine runs.
ratio: (a) / (c) per model and batch (goal >= 0.8); also (a) / (b) (goal >= 0.9) and (a) / (b'). Peak RSS of each
process.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from bench.common import DATA_DIR, quick, write_overlay, write_result
from bench.training_floor import floor_data, floor_model
from bench.turns import reply, run_in_turns
from core.config import load_config
from datasets.synthetic import synthetic_samples
from features.spec import feature_spec
from models.preprocessing import id_model_of
from models.registry import compile_model
from models.train import model_params

DAYS = 14
FIRST_DAY = dt.date(1998, 4, 1)
LAST_DAY = FIRST_DAY + dt.timedelta(days=DAYS - 1)
SIDES = ("product", "memory", "memory_shuffled", "floor")
CONF = ["conf/local.yaml", "conf/datasets/movielens_100k.yaml"]


def samples_path(rows: int):
    return DATA_DIR / f"training_speed_{rows}" / "samples"


def ensure_samples(rows: int) -> None:
    path = samples_path(rows)
    if (path / "_delta_log").exists():
        return
    from deltalake import write_deltalake

    table = synthetic_samples(feature_spec(load_config(CONF)), rows, FIRST_DAY, DAYS + 1)
    write_deltalake(str(path), table, partition_by=["dt"])


def bench_config(rows: int, batch: int, input_cache_mib: int | None = None):
    """The MovieLens config with its ids back in, on the bench's lake, at this batch size; with `input_cache_mib`
    (0: every epoch streams from Delta) instead of the conf's limit of the epochs kept in memory."""
    ranker = {"exclude_features": [], "batch_size": batch}
    if input_cache_mib is not None:
        ranker["input_cache_mib"] = input_cache_mib
    overlay = write_overlay(f"training_speed_{rows}_{batch}_{input_cache_mib}", {
        "lake_root": str(samples_path(rows).parent), "artifact_root": str(samples_path(rows).parent / "_artifacts"),
        "ranker": ranker})
    return load_config([*CONF, str(overlay)])


def product_parts(rows: int, batch: int, model_name: str, input_cache_mib: int | None):
    """The id model and input pipeline exactly as models.train builds and fits them for the last day."""
    from models.days import TrainingDays
    from models.preprocessing import numeric_stats
    from models.registry import build_model
    from models.sample_batches import latest_snapshot
    from models.train import model_params, model_spec, stepped_model, training_input

    cfg = bench_config(rows, batch, input_cache_mib)
    days = TrainingDays.as_of(LAST_DAY + dt.timedelta(days=1), DAYS)
    data = training_input(cfg, model_name, days, latest_snapshot(str(samples_path(rows))))
    stats = numeric_stats(data.features, data.numeric_batches(days.fit_first, days.fit_last))
    model = build_model(model_name, model_spec(cfg), stats, model_params(cfg))
    return stepped_model(model_name, model, data, model_params(cfg)), data, days


def prepared_side(side: str, rows: int, batch: int, model_name: str, input_cache_mib: int | None):
    """(model, dataset it fits on every epoch, rows per epoch) of one side."""
    keras.utils.set_random_seed(1)
    if side == "floor":
        cfg = bench_config(rows, batch)
        spec = feature_spec(cfg)
        data = floor_data(spec, samples_path(rows), FIRST_DAY, LAST_DAY, batch)
        return floor_model(model_name, spec, cfg.ranker.dropout), data, sum(int(y.shape[0]) for _, y in data)
    model, data, days = product_parts(rows, batch, model_name, input_cache_mib)
    # Counted apart: a pass over the product's dataset would be the one that streams from Delta.
    trained_rows = sum(len(y["ctr"]) for _, y in data.batches(days.fit_first, days.fit_last, hashed=True))
    # One dataset for every epoch, as models.train's one fit: the first pass streams from Delta, later ones come
    # from memory when the pass fits in ranker.input_cache_mib.
    dataset = data.dataset(days.fit_first, days.fit_last)
    if side == "memory_shuffled":
        return model, shuffled_in_memory(list(dataset), batch), trained_rows
    if side == "memory":  # the id model itself, on its features as separate tensors, replayed by tf.data's cache
        packing = data.packing()
        cached = [(packing.unpack(x), y) for x, y in dataset]
        model = id_model_of(model)
        compile_model(model_name, model, model_params(bench_config(rows, batch)))
        signature = tf.nest.map_structure(lambda t: tf.TensorSpec((None, *t.shape[1:]), t.dtype), cached[0])
        dataset = tf.data.Dataset.from_generator(lambda: iter(cached), output_signature=signature).cache()
    return model, dataset, trained_rows


def shuffled_in_memory(packed_batches: list, batch: int, seed: int = 1) -> tf.data.Dataset:
    """The rows of packed_batches joined into one tensor per block and label, in a new permutation each pass (drawn
    once per pass from a seeded generator), cut into batches of `batch` rows, each gathered from the tensors."""
    whole = tf.nest.map_structure(lambda *parts: tf.concat(parts, axis=0), *packed_batches)
    count = int(tf.nest.flatten(whole)[0].shape[0])
    rng = np.random.default_rng(seed)
    permutations = tf.data.Dataset.from_generator(lambda: iter([rng.permutation(count)]),
                                                  output_signature=tf.TensorSpec((count,), tf.int64))
    full = count // batch * batch

    def batches_of(order):
        cut = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full], (-1, batch)))
        return cut.concatenate(tf.data.Dataset.from_tensors(order[full:])) if count > full else cut

    return (permutations.flat_map(batches_of)
            .map(lambda rows: tf.nest.map_structure(lambda values: tf.gather(values, rows), whole))
            .prefetch(tf.data.AUTOTUNE))


def serve_side(side: str, rows: int, batch: int, model_name: str, input_cache_mib: int | None) -> None:
    """A child's loop (bench.turns): build the side, say so, then fit one epoch per `round` line read; at the end, its
    rows and peak RSS."""
    model, dataset, trained_rows = prepared_side(side, rows, batch, model_name, input_cache_mib)
    reply({"ready": side})
    for command in sys.stdin:
        if command.strip() != "round":
            break
        began = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)  # the product shuffles in its input
        reply({"seconds": time.perf_counter() - began})
    reply({"rows": trained_rows, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})


def compare_sides(epochs: int, *args: str) -> dict[str, dict]:
    """Every side in its own process, built one after another, then in turns (bench.turns): a warm-up epoch each (it
    traces the step and fills caches; for the product, the pass read from Delta), then `epochs` rounds of one epoch
    each, each round starting with the next side."""
    results = {}
    for side, end in run_in_turns("bench.training_speed", SIDES, 1 + epochs, *args).items():
        first, *timed = end["seconds"]
        results[side] = {"examples_per_second": round(end["rows"] / min(timed)), "rows": end["rows"],
                         "first_epoch_examples_per_second": round(end["rows"] / first),
                         "seconds": [round(s, 2) for s in timed], "peak_rss_mib": end["peak_rss_mib"]}
    return results


def daily_training(rows: int, batch: int, model_name: str, input_cache_mib: int | None = None) -> dict:
    """Wall time of one models.train of the bench's last day (stats pass, fit with early stopping, scoring D)."""
    from models.train import train

    began = time.perf_counter()
    record = train(bench_config(rows, batch, input_cache_mib), LAST_DAY + dt.timedelta(days=1), model_name)
    return {"wall_seconds": round(time.perf_counter() - began, 1), "epochs": record["epochs"],
            "train_seconds": record["train_seconds"], "peak_rss_mib": record["peak_rss_mib"]}


def child_result(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.training_speed", *args], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8192 if quick() else 131072)
    parser.add_argument("--models", default="wide_deep" if quick() else "wide_deep,deepfm")
    parser.add_argument("--batches", default="1024" if quick() else "1024,4096")
    parser.add_argument("--epochs", type=int, default=1 if quick() else 3, help="timed rounds after the warm-up")
    parser.add_argument("--daily", action="store_true", help="also time one models.train at the first batch size")
    parser.add_argument("--input-cache-mib", type=int,
                        help="ranker.input_cache_mib for the product and daily sides (0: every epoch streams)")
    parser.add_argument("--side", choices=(*SIDES, "daily"), help=argparse.SUPPRESS)  # a child's part
    args = parser.parse_args(argv)
    batches, models = [int(b) for b in args.batches.split(",")], args.models.split(",")
    cache = [] if args.input_cache_mib is None else ["--input-cache-mib", str(args.input_cache_mib)]
    if args.side == "daily":
        reply(daily_training(args.rows, batches[0], models[0], args.input_cache_mib))
        return
    if args.side:
        serve_side(args.side, args.rows, batches[0], models[0], args.input_cache_mib)
        return
    ensure_samples(args.rows)
    results, ratios = {}, {}
    for model_name in models:
        for batch in batches:
            key = f"{model_name}@{batch}"
            results[key] = compare_sides(args.epochs, "--rows", str(args.rows), "--batches", str(batch),
                                         "--models", model_name, *cache)
            rate = {side: results[key][side]["examples_per_second"] for side in SIDES}
            ratios[key] = {"product/floor": round(rate["product"] / rate["floor"], 3),
                           "product/memory": round(rate["product"] / rate["memory"], 3),
                           "product/memory_shuffled": round(rate["product"] / rate["memory_shuffled"], 3)}
            print(key, rate, ratios[key], "product's first epoch:",
                  results[key]["product"]["first_epoch_examples_per_second"], flush=True)
    daily = None
    if args.daily:
        daily = child_result("--side", "daily", "--rows", str(args.rows), "--batches", str(batches[0]),
                             "--models", models[0], *cache)
    write_result("training_speed", dataset="synthetic samples, MovieLens feature spec with ids",
                 rows=args.rows, days=DAYS, sides=results, daily_training=daily, input_cache_mib=args.input_cache_mib,
                 seconds={key: {side: min(r[side]["seconds"]) for side in SIDES} for key, r in results.items()},
                 compared="(a) product path streamed from Delta vs (b) same model from memory (one order) vs (b') "
                          "the trained model from memory reshuffled each epoch vs (c) plain Keras "
                          "floor with sparse updates, examples/s per model and batch",
                 ratio=ratios)


if __name__ == "__main__":
    main()

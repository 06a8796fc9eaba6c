"""Training throughput reading from Delta (models.inputs: Delta snapshot -> Arrow batches -> tf.data) next to the
same model fed from tensors already in memory, in one process, epochs alternating so neither side runs warmer.

    python -m bench.training_input [--rows 1000000] [--model wide_deep]     (BENCH_QUICK=1: 20k rows)
Data: a synthetic samples table with the MovieLens feature spec (values drawn at random, labels from a hidden
linear rule); it measures the input path, not model quality. Figures: examples/s of each side, ratio =
Delta / in-memory (target >= 0.9), peak RSS of the process.
"""
from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from bench.common import DATA_DIR, quick, write_result
from core.config import load_config
from datasets.synthetic import synthetic_samples
from features.spec import feature_spec
from models.inputs import TrainingInput, latest_snapshot
from models.preprocessing import numeric_stats
from models.rankers import ModelParams
from models.registry import build_model, compile_model

DAYS = 4
FIRST_DAY = dt.date(1998, 4, 1)


def epoch(model, data, steps_per_side: dict, side: str) -> None:
    began = time.perf_counter()
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    steps_per_side[side].append(time.perf_counter() - began)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000 if quick() else 1_000_000)
    parser.add_argument("--model", default="wide_deep")
    parser.add_argument("--epochs", type=int, default=2 if quick() else 3)
    args = parser.parse_args(argv)
    cfg = load_config(["conf/local.yaml", "conf/datasets/movielens_100k.yaml"])
    spec = feature_spec(cfg)
    path = DATA_DIR / f"training_samples_{args.rows}"
    if not path.exists():
        from deltalake import write_deltalake

        shutil.rmtree(path, ignore_errors=True)
        write_deltalake(str(path), synthetic_samples(spec, args.rows, FIRST_DAY, DAYS), partition_by=["dt"])
    data = TrainingInput(latest_snapshot(str(path)), spec.features, {"ctr": "label_like"}, cfg.ranker.batch_size)
    last_day = FIRST_DAY + dt.timedelta(days=DAYS - 1)
    stats = numeric_stats(spec.features, (x for x, _ in data.batches(FIRST_DAY, last_day)))
    # The in-memory side: every batch the pipeline yields, converted once to tensors and kept.
    began = time.perf_counter()
    cached = [(x, y) for x, y in data.batches(FIRST_DAY, last_day, np.random.default_rng(0))]
    load_seconds = time.perf_counter() - began
    in_memory = tf.data.Dataset.from_generator(
        lambda: iter(cached), output_signature=data.dataset(FIRST_DAY, last_day).element_spec).cache()
    keras.utils.set_random_seed(1)
    model = build_model(args.model, spec, stats, ModelParams())
    compile_model(args.model, model, ModelParams())
    model.fit(in_memory.take(2), epochs=1, verbose=0)  # compile the train step before anything is timed
    model.fit(in_memory, epochs=1, verbose=0)  # fill the in-memory cache
    seconds: dict[str, list[float]] = {"delta": [], "in_memory": []}
    for _ in range(args.epochs):
        epoch(model, data.dataset(FIRST_DAY, last_day), seconds, "delta")
        epoch(model, in_memory, seconds, "in_memory")
    rate = {side: round(args.rows / min(times)) for side, times in seconds.items()}
    write_result(
        "training_input", dataset="synthetic samples, MovieLens feature spec", rows=args.rows, model=args.model,
        seconds={side: [round(t, 2) for t in times] for side, times in seconds.items()},
        examples_per_second=rate, load_into_memory_seconds=round(load_seconds, 1),
        peak_rss_mib_both_sides=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        compared="one training epoch fed from Delta (streamed, prefetched) vs from tensors held in memory",
        ratio=round(rate["delta"] / rate["in_memory"], 3),
    )


if __name__ == "__main__":
    main()

"""A training step's cost against the size of its table: one embedding table read whole, as keras.layers.Embedding
reads it (ops.take on the variable), next to the same table read by rows (models.tables.SparseReadEmbedding), both
trained with LazyAdam, at several table sizes, in one run.

    python -m bench.table_reads [--sizes 1000,100000,1000000] [--batch 1024] [--rows 65536] [--epochs 3]
    BENCH_QUICK=1: tables of 1000 and 100000 rows, 8192 rows, one timed epoch.
Data: random ids, uniform over the table, 3 per row, and random labels: it measures speed, not quality. Model: the
ids' 16-wide embeddings, Dense(32, relu), a sigmoid; steps_per_execution 16 as the rankers run. Figures: examples/s,
the best of the timed epochs after a warm-up epoch. ratio: by rows / whole, per size. Without the table's size in a
step's cost, "by rows" stays flat as the table grows; "whole" falls, because once LazyAdam has scatter-updated a
table TensorFlow copies all of it on every whole read (copy-on-read mode).
"""
from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from bench.common import quick, write_result
from models.optimizers import LazyAdam
from models.tables import SparseReadEmbedding

IDS_PER_ROW = 3
DIM = 16
STEPS_PER_EXECUTION = 16
SIDES = {"whole": keras.layers.Embedding, "by_rows": SparseReadEmbedding}


def one_table_model(table_rows: int, table: type[keras.layers.Embedding]) -> keras.Model:
    ids = keras.Input((IDS_PER_ROW,), dtype="int64")
    hidden = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(table(table_rows, DIM)(ids)))
    model = keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(LazyAdam(1e-3), "binary_crossentropy", steps_per_execution=STEPS_PER_EXECUTION)
    return model


def examples_per_second(model: keras.Model, ids: np.ndarray, labels: np.ndarray, batch: int, epochs: int) -> float:
    model.fit(ids, labels, batch_size=batch, epochs=1, verbose=0)  # traces the step
    seconds = []
    for _ in range(epochs):
        began = time.perf_counter()
        model.fit(ids, labels, batch_size=batch, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - began)
    return len(ids) / min(seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000" if quick() else "1000,100000,1000000")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--rows", type=int, default=8192 if quick() else 65536)
    parser.add_argument("--epochs", type=int, default=1 if quick() else 3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=(args.rows, 1)).astype("float32")
    sides, ratio = {}, {}
    for size in (int(s) for s in args.sizes.split(",")):
        ids = rng.integers(0, size, size=(args.rows, IDS_PER_ROW))
        keras.utils.set_random_seed(1)
        sides[size] = {name: round(examples_per_second(one_table_model(size, table), ids, labels, args.batch,
                                                       args.epochs)) for name, table in SIDES.items()}
        ratio[size] = round(sides[size]["by_rows"] / sides[size]["whole"], 2)
        print(f"table of {size:,} rows: {sides[size]} by_rows/whole {ratio[size]}", flush=True)
    write_result("table_reads", dataset="random ids", rows=args.rows, batch=args.batch, sides=sides, ratio=ratio,
                 seconds={size: round(args.rows / rate["by_rows"], 2) for size, rate in sides.items()},
                 compared="examples/s of one table read whole (keras.layers.Embedding) vs by rows "
                          "(SparseReadEmbedding), LazyAdam in both, per table size")


if __name__ == "__main__":
    main()

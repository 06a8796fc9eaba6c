"""Two-tower recall as of D (models.two_tower): trained on the interactions of [D-N, D-1] alone, it writes each
user's top-K unseen items by exact brute-force search into `recall_candidates` (source `two_tower`), the item
vectors into `two_tower_item_vectors` (partition as_of = D) and the user tower, which serves raw ids, as a SavedModel
to `<artifact_root>/two_tower/<D>/user_tower/`.

    python -m models.recall_two_tower --ds 1998-04-22 --conf conf/local.yaml,conf/datasets/movielens_100k.yaml

Its own process, as the rankers' training (TensorFlow stays out of the Spark driver); reads and writes the lake
through deltalake. Seeded: a re-run on one machine gives the same candidates.
"""
from __future__ import annotations

import datetime as dt
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from core.cli import day_job_parser, one_line_errors
from core.config import load_config
from core.config_recall import TwoTowerConfig
from core.config_schema import PipelineConfig
from core.days import days_before
from core.delta_arrow import replace_rows
from core.tables import RECALL_CANDIDATES_TABLE, TWO_TOWER_ITEM_VECTORS_TABLE
from core.top_k import exact_top_k, top_rows

SOURCE = "two_tower"
MEMBER_SEED_STEP = 1000  # an ensemble's member j trains from seed + 1000 * j (recall.two_tower.ensemble)
CANDIDATES = pa.schema([("user_id", pa.string()), ("item_id", pa.string()), ("score", pa.float64()),
                        ("rank", pa.int32()), ("sources", pa.list_(pa.field("element", pa.string()))),
                        ("as_of", pa.date32()), ("source", pa.string())])
ITEM_VECTORS = pa.schema([("item_id", pa.string()), ("vector", pa.list_(pa.field("element", pa.float32()))),
                          ("as_of", pa.date32())])


def frequent_items(item_ids: pd.Series, min_count: int) -> list[str]:
    """The items with an embedding of their own: those of at least min_count training rows, by id. The others share
    the unknown-id row and are told apart by their categories alone: an id seen once (most of Taobao's) would
    otherwise get an embedding that only memorises its one row."""
    counts = item_ids.value_counts()
    return sorted(counts[counts >= min_count].index)


def search_vectors(user_vectors: np.ndarray, item_vectors: np.ndarray, item_log_share: np.ndarray,
                   params: TwoTowerConfig) -> tuple[np.ndarray, np.ndarray]:
    """(user rows, item rows) whose dot product is the search score: the towers' vectors as they are without a
    popularity_weight; with one, users scaled by 1 / temperature and both sides one column longer, so that
    <user, item> = cosine / temperature + popularity_weight * log share of the item's training rows."""
    if params.popularity_weight == 0:
        return user_vectors, item_vectors
    users = np.hstack([user_vectors / params.temperature, np.full((len(user_vectors), 1), params.popularity_weight)])
    return users, np.hstack([item_vectors, np.asarray(item_log_share, dtype=item_vectors.dtype).reshape(-1, 1)])


def log_share(item_ids: np.ndarray, training_items: np.ndarray) -> np.ndarray:
    """Per item of item_ids, the log of its share of the training rows (training_items: each row's item)."""
    counts = pd.Series(training_items).value_counts()
    return np.log(counts.reindex(item_ids).to_numpy(np.float64) / len(training_items))


def log_sampling_probability(item_ids: np.ndarray) -> np.ndarray:
    """Per training row, log of its item's share of all rows: the chance the item is drawn as an in-batch row."""
    return log_share(item_ids, item_ids).astype(np.float32)


def fit(towers, examples: dict[str, np.ndarray], params: TwoTowerConfig) -> list[float]:
    """Train towers.both on the examples for params.epochs shuffled passes; the mean loss of each epoch."""
    import tensorflow as tf

    from models.optimizers import LazyAdam
    from models.two_tower import in_batch_softmax_loss

    tensors = {name: tf.constant(tf_ready(values)) for name, values in examples.items()}
    item_codes = tf.constant(pd.factorize(examples["item_id"])[0].astype(np.int64))
    log_q = tf.constant(log_sampling_probability(examples["item_id"]))
    optimizer = LazyAdam(params.learning_rate)
    variables = towers.both.trainable_variables

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
    def step(rows):
        batch = {name: tf.gather(values, rows) for name, values in tensors.items()}
        with tf.GradientTape() as tape:
            users, items = towers.both(batch, training=True)
            loss = in_batch_softmax_loss(users, items, tf.gather(item_codes, rows), tf.gather(log_q, rows),
                                         params.temperature)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    order = np.random.default_rng(params.seed)
    count = len(examples["item_id"])
    losses = []
    for _ in range(params.epochs):
        shuffled = order.permutation(count)
        batches = [shuffled[start:start + params.batch_size] for start in range(0, count, params.batch_size)]
        epoch = [float(step(tf.constant(rows, tf.int64))) for rows in batches if len(rows) > 1]
        losses.append(float(np.mean(epoch)) if epoch else float("nan"))
    return losses


def tf_ready(values: np.ndarray) -> np.ndarray:
    """Strings (object arrays of ids) as numpy str, which TensorFlow takes; numbers as they are."""
    return values.astype(str) if values.dtype == object else values


def vectors_of(tower, inputs: dict[str, np.ndarray], batch_rows: int = 4096) -> np.ndarray:
    """The tower's output for every row of inputs (string arrays), batch by batch."""
    import tensorflow as tf

    count = len(next(iter(inputs.values())))
    parts = [tower({name: tf.constant(tf_ready(values[start:start + batch_rows])) for name, values in inputs.items()},
                   training=False).numpy() for start in range(0, count, batch_rows)]
    return np.concatenate(parts) if parts else np.zeros((0, tower.output_shape[-1]), np.float32)


def seen_positions(rollups: pd.DataFrame, users: np.ndarray, positions: dict[str, int]) -> list[list[int]]:
    """Per user of users: the positions of the items with summed strength > 0 over the history (interactions)."""
    totals = rollups.groupby(["user_id", "item_id"], sort=False)["strength"].sum()
    interacted = totals[totals > 0].reset_index()
    interacted["position"] = interacted["item_id"].map(positions)
    by_user = interacted.dropna(subset=["position"]).groupby("user_id")["position"].apply(
        lambda p: sorted(int(x) for x in p))
    return [by_user.get(user, []) for user in users]


def write_candidates(cfg: PipelineConfig, ds: dt.date, top: pd.DataFrame, item_ids: np.ndarray) -> int:
    rows = pa.table({"user_id": top["user_id"].astype(str).tolist(),
                     "item_id": item_ids[top["position"].to_numpy()].astype(str).tolist() if len(top) else [],
                     "score": top["score"].to_numpy(np.float64), "rank": top["rank"].to_numpy(np.int32),
                     "sources": [[SOURCE]] * len(top), "as_of": [ds] * len(top), "source": [SOURCE] * len(top)},
                    schema=CANDIDATES)
    replace_rows(cfg.table_path(RECALL_CANDIDATES_TABLE), rows, {"as_of": ds, "source": SOURCE}, ["as_of", "source"])
    return rows.num_rows


def write_item_vectors(cfg: PipelineConfig, ds: dt.date, item_ids: np.ndarray, vectors: np.ndarray) -> None:
    rows = pa.table({"item_id": item_ids.astype(str).tolist(), "vector": [v.tolist() for v in vectors],
                     "as_of": [ds] * len(item_ids)}, schema=ITEM_VECTORS)
    replace_rows(cfg.table_path(TWO_TOWER_ITEM_VECTORS_TABLE), rows, {"as_of": ds}, ["as_of"])


@dataclass(frozen=True)
class TrainedDay:
    """The towers as of D, trained on [D-N, D-1], and what the search needs: the catalogue (items of the history)
    with its vectors, the users to serve (their tower inputs) and the positions each has seen."""
    towers: object
    item_ids: np.ndarray
    item_vectors: np.ndarray
    item_log_share: np.ndarray  # each catalogue item's log share of the training rows (search_vectors)
    users: dict[str, np.ndarray]
    seen: list[list[int]]
    examples: int
    losses: list[float]
    train_seconds: float

    def search(self, params: TwoTowerConfig) -> tuple[np.ndarray, np.ndarray]:
        """The (user rows, item rows) the candidates are searched with (search_vectors)."""
        return search_vectors(vectors_of(self.towers.user, self.users), self.item_vectors, self.item_log_share, params)


def train_day(cfg: PipelineConfig, ds: dt.date, rollups: pd.DataFrame) -> TrainedDay | None:
    """Train on the rollups of [D-N, D-1] (read_rollups); None when they hold no interaction."""
    import keras

    from models.two_tower import Vocabularies, build_towers, ensemble
    from models.two_tower_data import (
        catalogue_inputs,
        in_time_order,
        item_stats,
        read_item_categories,
        serving_users,
        training_examples,
    )

    params = cfg.recall.two_tower
    rows = in_time_order(rollups)
    if rows.empty:
        return None
    categories = read_item_categories(cfg, ds)
    stats = item_stats(rows, ds, cfg.recall.history_days)
    examples = training_examples(rows, categories, stats, params.recent_items, params.max_categories)
    item_ids = np.array(sorted(set(rows["item_id"])), dtype=object)
    vocabularies = Vocabularies(users=sorted(set(rows["user_id"])),
                                items=frequent_items(rows["item_id"], params.min_item_count),
                                categories=sorted({c for item in item_ids for c in categories.get(item, ())}))
    members, member_losses, trained = [], [], 0.0
    for member in range(params.ensemble):
        seeded = params.model_copy(update={"seed": params.seed + MEMBER_SEED_STEP * member})
        keras.utils.set_random_seed(seeded.seed)
        members.append(build_towers(vocabularies, params.embedding_dim, params.hidden_units, params.recent_items,
                                    params.max_categories, name=f"member_{member}_" if params.ensemble > 1 else ""))
        began = time.perf_counter()
        member_losses.append(fit(members[-1], examples, seeded))
        trained += time.perf_counter() - began
    towers, losses = ensemble(members), np.mean(member_losses, axis=0).tolist()
    item_vectors = vectors_of(towers.item, catalogue_inputs(item_ids, categories, stats, params.max_categories))
    users = serving_users(rows, categories, params.recent_items, params.max_categories)
    seen = (seen_positions(rollups, users["user_id"], {item: i for i, item in enumerate(item_ids)})
            if cfg.recall.exclude_seen else [[] for _ in users["user_id"]])
    return TrainedDay(towers, item_ids, item_vectors, log_share(item_ids, examples["item_id"]), users, seen,
                      len(examples["item_id"]), losses, trained)


def recall_two_tower(cfg: PipelineConfig, ds: dt.date) -> str:
    from models.two_tower_data import read_rollups

    first_day, last_day = days_before(ds, cfg.recall.history_days)
    header = f"recall_{SOURCE} {ds} (days {first_day}..{last_day})"
    day = train_day(cfg, ds, read_rollups(cfg, first_day, last_day))
    if day is None:  # a lake's first day: the partition is written empty, as the other sources do
        write_candidates(cfg, ds, top_rows([], np.zeros((0, 0)), [], 1), np.array([], dtype=object))
        return f"{header}: 0 candidates; no interactions yet"
    began = time.perf_counter()
    top = exact_top_k(day.users["user_id"], *day.search(cfg.recall.two_tower), day.seen, cfg.recall.top_k)
    searched = time.perf_counter() - began
    written = write_candidates(cfg, ds, top, day.item_ids)
    write_item_vectors(cfg, ds, day.item_ids, day.item_vectors)
    export_dir = Path(cfg.artifact_root) / SOURCE / str(ds) / "user_tower"
    shutil.rmtree(export_dir, ignore_errors=True)
    day.towers.user.export(str(export_dir), format="tf_saved_model", verbose=False)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = cfg.recall.two_tower
    return (f"{header}: {written} candidates; {day.examples} examples, {params.epochs} epochs, {params.ensemble} "
            f"tower pair(s) in {day.train_seconds:.1f}s (loss {day.losses[0]:.3f} -> {day.losses[-1]:.3f}); "
            f"{len(day.item_ids)} items x {len(day.users['user_id'])} users searched in {searched:.2f}s "
            f"({written / max(searched, 1e-9):.0f} candidates/s, user tower included); peak RSS {peak_mib:.0f} MiB; "
            f"user tower at {export_dir}")


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    args = day_job_parser(__doc__).parse_args(argv)
    print(recall_two_tower(load_config(args.conf), args.ds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The two-tower recall as of one day on a lake that has its rollups (e.g. bench.quality's): training time, the
exact top-K search's candidates per second next to a plain numpy search of the same vectors, and peak RSS.

    python -m bench.two_tower --dataset movielens_100k --lake bench/data/lake_quality_movielens_100k --ds 1998-04-22
    python -m bench.two_tower --dataset taobao_userbehavior --lake bench/data/lake_quality_taobao_userbehavior \
        --ds 2017-12-03

The reference is the plain search: float32 `users @ items.T`, seen items set to -inf, `np.argpartition` for the
top K and a sort of those K. The project's search (core.top_k) scores 20-bit quantised vectors exactly in float64
so that a user's list does not depend on the batch it was scored in; ratio = its candidates/s over the plain one's.
Both are given the same vectors and seen items, and their top-K sets are compared.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from bench.common import DATA_DIR, DATASET_HELP, dataset_conf, write_overlay, write_result
from core.cli import parse_day
from core.config import load_config
from core.days import days_before
from core.top_k import exact_top_k
from models.recall_two_tower import train_day
from models.two_tower_data import read_rollups

REPEATS = 3  # each search runs this many times; the best time counts


def plain_search(user_vectors: np.ndarray, item_vectors: np.ndarray, seen: list[list[int]], k: int) -> np.ndarray:
    """(users, k): per user the positions of the k best items by a float32 product, best first; -1 where fewer than
    k unseen items are left."""
    scores = user_vectors.astype(np.float32) @ item_vectors.astype(np.float32).T
    for row, positions in enumerate(seen):
        scores[row, positions] = -np.inf
    take = min(k, scores.shape[1])
    best = np.argpartition(-scores, take - 1, axis=1)[:, :take]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
    ranked = np.take_along_axis(best, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(scores, ranked, axis=1)), ranked, -1)


def best_of(run) -> tuple[float, object]:
    times, result = [], None
    for _ in range(REPEATS):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return min(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="movielens_100k", type=dataset_conf, help=DATASET_HELP)
    parser.add_argument("--lake", type=Path, required=True, help="a lake with the rollups of the days before --ds")
    parser.add_argument("--ds", type=parse_day, required=True, help="the as_of day D")
    args = parser.parse_args(argv)
    overlay = write_overlay("two_tower_bench", {"lake_root": str(args.lake), "artifact_root": str(DATA_DIR / "_tt")})
    cfg = load_config(["conf/local.yaml", args.dataset, str(overlay)])
    first, last = days_before(args.ds, cfg.recall.history_days)
    day = train_day(cfg, args.ds, read_rollups(cfg, first, last))
    if day is None:
        raise SystemExit(f"no interactions in {first}..{last} under {args.lake}")
    k = cfg.recall.top_k
    user_vectors, item_vectors = day.search(cfg.recall.two_tower)
    exact_seconds, top = best_of(lambda: exact_top_k(day.users["user_id"], user_vectors, item_vectors, day.seen, k))
    plain_seconds, plain = best_of(lambda: plain_search(user_vectors, item_vectors, day.seen, k))
    exact = top.groupby("user_id", sort=False)["position"].apply(set).to_dict()
    plain_sets = [set(row) - {-1} for row in plain.tolist()]
    agree = np.mean([len(exact.get(user, set()) & found) / max(1, len(found))
                     for user, found in zip(day.users["user_id"], plain_sets)])
    candidates = len(top)
    peak_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    params = cfg.recall.two_tower
    print(f"{cfg.dataset.name} {args.ds}: {day.examples} examples x {params.epochs} epochs x {params.ensemble} "
          f"tower pair(s) in {day.train_seconds:.1f}s; {len(day.item_ids)} items x {len(user_vectors)} users: "
          f"exact search {candidates / exact_seconds:.0f} candidates/s, plain {candidates / plain_seconds:.0f}/s "
          f"(top-{k} sets agree {agree:.4f}); peak RSS {peak_mib} MiB")
    write_result(f"two_tower_{cfg.dataset.name}", dataset=cfg.dataset.name, rows=day.examples, as_of=args.ds,
                 seconds={"train": round(day.train_seconds, 2), "exact_search": round(exact_seconds, 4),
                          "plain_search": round(plain_seconds, 4)},
                 compared="exact quantised top-K search vs plain float32 matmul + argpartition, same vectors",
                 ratio=round(plain_seconds / exact_seconds, 3), candidates=candidates, items=len(day.item_ids),
                 users=len(user_vectors), ensemble=params.ensemble, examples_per_second=round(
                     day.examples * params.epochs * params.ensemble / day.train_seconds),
                 candidates_per_second={"exact": round(candidates / exact_seconds),
                                        "plain": round(candidates / plain_seconds)},
                 top_k_agreement=round(float(agree), 4), peak_rss_mib=peak_mib)


if __name__ == "__main__":
    main()

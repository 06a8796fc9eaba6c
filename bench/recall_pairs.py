"""Is one recall source really better than another? recall@k of every source of a lake's `recall_candidates`, paired
over the evaluated (day, user)s: each source against `popular` (does a learned source beat popularity?; `--against`
adds others) and `merged` against each single source (does the merge lose to its best source?), as the mean
difference and its standard error. The pooled figures are bench.quality's (evaluate_recall's positives and pooling:
each day weighted by its evaluated users); the pairing tells a gain from the noise of a few days of a sparse log.
Reads the lake, trains nothing.

    python -m bench.recall_pairs --dataset taobao_userbehavior --first 2017-12-01 --last 2017-12-03 [-k 50,100]
        (default lake bench/data/lake_quality_<dataset>, built by bench.quality)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads

from bench.common import DATA_DIR, DATASET_HELP, comma_ints, dataset_conf, write_overlay, write_result
from bench.day_stats import paired_difference
from bench.recall_tuning import day_positives, recall_at
from core.cli import parse_day
from core.config import load_config
from core.days import date_range, days_before
from core.delta_arrow import delta_dataset
from core.tables import RECALL_CANDIDATES_TABLE
from models.two_tower_data import read_rollups

REFERENCE = "popular"
MERGED = "merged"


def comparisons(sources: list[str], references: list[str]) -> list[tuple[str, str]]:
    """(reference, other) pairs to report: every other source against each reference (popular by default), then
    merged against every single source, each pair once."""
    sources = sorted(sources)
    pairs = [(reference, source) for reference in references if reference in sources
             for source in sources if source != reference]
    pairs += [(source, MERGED) for source in sources if MERGED in sources and source != MERGED]
    kept: list[tuple[str, str]] = []
    for pair in pairs:
        if pair not in kept and pair[::-1] not in kept:
            kept.append(pair)
    return kept


def source_recall(candidates: pd.DataFrame, positives: dict[str, set], ks: list[int]) -> dict[str, dict[int, list]]:
    """source -> k -> each evaluated user's recall@k (positives' order), from one day's candidates (source, user_id,
    item_id, rank); a source without a list for a user scores 0 for them."""
    return {source: recall_at(lists, positives, ks) for source, lists in candidates.groupby("source")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="taobao_userbehavior", type=dataset_conf, help=DATASET_HELP)
    parser.add_argument("--lake", type=Path, help="lake root (default bench/data/lake_quality_<dataset>)")
    parser.add_argument("--first", type=parse_day, required=True, help="first as_of day scored")
    parser.add_argument("--last", type=parse_day, required=True, help="last as_of day scored")
    parser.add_argument("-k", type=comma_ints, default=[50, 100], help="cutoffs, comma-separated")
    parser.add_argument("--against", default=REFERENCE,
                        help="sources every other source is paired with, comma-separated")
    args = parser.parse_args(argv)
    name = load_config(["conf/local.yaml", args.dataset]).dataset.name
    lake = args.lake or DATA_DIR / f"lake_quality_{name}"
    overlay = write_overlay(f"recall_pairs_{name}", {"lake_root": str(lake), "artifact_root": str(lake / "_art")})
    cfg = load_config(f"conf/local.yaml,{args.dataset},{overlay}")
    per_user: dict[str, dict[int, list]] = {}
    evaluated = 0
    for ds in date_range(args.first, args.last):
        positives = day_positives(read_rollups(cfg, days_before(ds, cfg.recall.history_days)[0], ds), ds,
                                  cfg.recall.history_days, cfg.recall.exclude_seen)
        candidates = delta_dataset(cfg.table_path(RECALL_CANDIDATES_TABLE)).to_table(
            columns=["source", "user_id", "item_id", "rank"], filter=pads.field("as_of") == ds).to_pandas()
        day = source_recall(candidates, positives, args.k)
        if per_user and set(day) != set(per_user):
            raise SystemExit(f"{ds} has the sources {sorted(day)}, the days before {sorted(per_user)}")
        for source, by_k in day.items():
            for k, values in by_k.items():
                per_user.setdefault(source, {}).setdefault(k, []).extend(values)
        evaluated += len(positives)
        print(f"{ds}: {len(positives)} users, sources {', '.join(sorted(day))}", flush=True)
    recall = {source: {k: sum(values) / len(values) if values else 0.0 for k, values in by_k.items()}
              for source, by_k in per_user.items()}
    pairs = {}
    for k in args.k:
        print(f"recall@{k}: " + ", ".join(f"{source} {recall[source][k]:.4f}" for source in sorted(recall)))
        for reference, other in comparisons(list(per_user), args.against.split(",")):
            mean, error = paired_difference(per_user[reference][k], per_user[other][k])
            pairs[f"{other}-{reference}@{k}"] = {"mean": mean, "se": error}
            print(f"  {other} - {reference}: {mean:+.4f} ± {error:.4f}")
    write_result(f"recall_pairs_{name}", dataset=name, days=[args.first, args.last], rows=evaluated,
                 compared=f"recall@k per source, paired over {evaluated} (day, user)s: mean difference ± its standard "
                          "error", recall=recall, pairs=pairs)


if __name__ == "__main__":
    main()

"""Does a user's category history add to global popularity? recall@k, paired over (day, user), of two lists built
from a lake's rollups without training anything:
- `popular`: items by distinct users over [D-P, D-1] (recall.popular_days), the user's seen items left out;
- `category_mix`: the user's best `--from-categories` items by (the user's share of their history in the item's
  category) x log(1 + popularity), then `popular` to fill k.
Positives and recall as `bench.recall_tuning` (and evaluate_recall) count them. A yardstick for feature-aware recall
sources: on the Taobao sample, where popularity beats every learned source, a list that knows the user's categories
shows how much is there to take.

    python -m bench.category_popularity --dataset taobao_userbehavior --first 2017-11-27 --last 2017-11-30
        (default lake bench/data/lake_quality_<dataset>, built by bench.quality; --from-categories 25, -k 50)
"""
from __future__ import annotations

import argparse
import itertools
import math
from collections import defaultdict
from pathlib import Path

import pandas as pd

from bench.common import DATA_DIR, DATASET_HELP, dataset_conf, write_overlay, write_result
from bench.day_stats import paired_difference
from bench.recall_tuning import _interactions, day_positives, recall_at
from core.cli import parse_day
from core.config import load_config
from core.days import date_range, days_before
from models.two_tower_data import read_item_categories, read_rollups

LISTS = ("popular", "category_mix")


def popularity(rollups: pd.DataFrame, first_day, last_day) -> pd.Series:
    """item -> distinct users with a positive row in [first_day, last_day], most first (ties by item id)."""
    window = rollups[(rollups["dt"] >= first_day) & (rollups["dt"] <= last_day) & (rollups["strength"] > 0)]
    counts = window.groupby("item_id")["user_id"].nunique()
    return counts.sort_index().sort_values(ascending=False, kind="stable")


def category_shares(history: pd.DataFrame, category_of: dict[str, str]) -> dict[str, dict[str, float]]:
    """user -> category -> the share of the user's interactions (user, item) in that category."""
    shares: dict[str, dict[str, float]] = defaultdict(dict)
    known = history.assign(category=history["item_id"].map(category_of)).dropna(subset=["category"])
    totals = known.groupby("user_id").size()
    for (user, category), count in known.groupby(["user_id", "category"]).size().items():
        shares[user][category] = count / totals[user]
    return shares


def category_mix(shares: dict[str, float], seen: set, popular: pd.Series, category_of: dict[str, str], k: int,
                 from_categories: int) -> list[str]:
    """The user's list: up to from_categories unseen items of their categories by share x log(1 + popularity)
    (ties by item id), then unseen popular items not already in it, to k. Without shares (or from_categories 0) it
    is the popular list."""
    scored = [(-shares[category_of[item]] * math.log1p(users), item) for item, users in popular.items()
              if item not in seen and category_of.get(item) in shares]
    mine = [item for _, item in sorted(scored)[:from_categories]]
    taken = set(mine)
    fill = (item for item in popular.index if item not in seen and item not in taken)
    return mine[:k] + list(itertools.islice(fill, max(0, k - len(mine))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="taobao_userbehavior", type=dataset_conf, help=DATASET_HELP)
    parser.add_argument("--lake", type=Path, help="lake root (default bench/data/lake_quality_<dataset>)")
    parser.add_argument("--first", type=parse_day, required=True)
    parser.add_argument("--last", type=parse_day, required=True)
    parser.add_argument("-k", type=int, default=50)
    parser.add_argument("--from-categories", type=int, default=25)
    args = parser.parse_args(argv)
    name = load_config(["conf/local.yaml", args.dataset]).dataset.name
    lake = args.lake or DATA_DIR / f"lake_quality_{name}"
    roots = {"lake_root": str(lake), "artifact_root": str(lake / "_art")}
    overlay = write_overlay(f"category_popularity_{name}", roots)
    cfg = load_config(f"conf/local.yaml,{args.dataset},{overlay}")
    users = {name: [] for name in LISTS}
    for ds in date_range(args.first, args.last):
        first, last = days_before(ds, cfg.recall.history_days)
        rollups = read_rollups(cfg, first, ds)
        positives = day_positives(rollups, ds, cfg.recall.history_days, cfg.recall.exclude_seen)
        history = _interactions(rollups, first, last)
        seen = history.groupby("user_id")["item_id"].agg(set).to_dict()
        category_of = {item: values[0] for item, values in read_item_categories(cfg, ds).items() if values}
        shares = category_shares(history, category_of)
        popular = popularity(rollups, *days_before(ds, cfg.recall.popular_days))
        lists = {"popular": {user: category_mix({}, seen.get(user, set()), popular, category_of, args.k, 0)
                             for user in positives},
                 "category_mix": {user: category_mix(shares.get(user, {}), seen.get(user, set()), popular, category_of,
                                                     args.k, args.from_categories) for user in positives}}
        for list_name, by_user in lists.items():
            ranked = pd.DataFrame([(user, item, rank) for user, items in by_user.items()
                                   for rank, item in enumerate(items, start=1)], columns=["user_id", "item_id", "rank"])
            users[list_name] += recall_at(ranked, positives, [args.k])[args.k]
        print(f"{ds}: {len(positives)} users", flush=True)
    recall = {list_name: sum(values) / len(values) if values else 0.0 for list_name, values in users.items()}
    gain, error = paired_difference(users["popular"], users["category_mix"])
    print(f"recall@{args.k}: popular {recall['popular']:.4f}, category_mix {recall['category_mix']:.4f} "
          f"({gain:+.4f} ± {error:.4f} paired over {len(users['popular'])} (day, user)s)")
    write_result(f"category_popularity_{name}", dataset=name, days=[args.first, args.last], rows=len(users["popular"]),
                 compared=f"recall@{args.k}: category_mix vs popular, paired over (day, user)", recall=recall,
                 ratio=round(recall["category_mix"] / recall["popular"], 3) if recall["popular"] else None,
                 gain=gain, gain_se=error, from_categories=args.from_categories)


if __name__ == "__main__":
    main()

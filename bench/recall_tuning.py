"""A recall source's settings chosen on days before the quality protocol's window: recall@K of each candidate setting
over the as_of days [--first, --last], each day trained as the source's job trains it (on [D-N, D-1] alone) and
scored as `evaluate_recall` scores it (the users with history, their positives of D not seen before).

    python -m bench.recall_tuning --set temperature=0.05,0.2 --set epochs=20        (the two-tower, the default)
    python -m bench.recall_tuning --set temperature=0.05 --set epochs=20 --combine
    python -m bench.recall_tuning --first 1998-03-24 --last 1998-04-22 --set embedding_dim=64
    python -m bench.recall_tuning --source item2vec --set window=20,50

`--source` is `two_tower` (recall_two_tower's training, in this process without Spark) or `item2vec`
(recall_item2vec's Word2Vec fit and candidates, in a Spark session). Each --set value runs alone, the other settings
as the config has them (--combine: every combination of the --set values), after the config's own settings, the
reference. The default days are MovieLens's 30 as_of days before bench.quality's (1998-02-22..03-23), so that a
choice made here is then measured on days it was not chosen on. The lake (`bench/data/lake_tuning_<dataset>`, or
--lake) gets its rollups in range mode first (--skip-build: it has them). Each setting's recall@K is pooled over
(day, user) as bench.quality pools it; `paired` is the mean and standard error over the evaluated (day, user)s of the
difference from the reference. `--seeds 7,8` trains each setting once per seed and scores the mean: one seed's figure
moves by about as much as a setting does.
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import yaml

from bench.common import DATA_DIR, DATASET_HELP, comma_ints, dataset_conf, write_overlay, write_result
from bench.day_stats import paired_difference
from bench.quality import ROLLUP_JOBS
from core.cli import parse_day
from core.config import load_config
from core.config_base import Frozen
from core.config_schema import PipelineConfig
from core.days import date_range, days_before
from core.spark import build_session
from core.top_k import exact_top_k
from jobs.recall_common import history_range, read_interactions
from jobs.recall_item2vec import item2vec_candidates, item_sequences, train_item2vec
from models.recall_two_tower import train_day
from models.two_tower_data import read_rollups

SOURCES = ("two_tower", "item2vec")
# A day's top k of a source trained as of that day, as (user_id, item_id, rank), and its training seconds.
DayTop = Callable[[PipelineConfig, dt.date, int], tuple[pd.DataFrame, float]]


def settings_grid(base: Frozen, options: list[str], combine: bool = False, source: str = "two_tower") -> list:
    """base (the source's config), then each value of each `name=v1,v2,...` option in turn with the others as in base,
    or with combine every combination of the options' values (values read as YAML: 0.05, 20, [64, 32])."""
    names, choices, kind = [], [], type(base)
    for option in options:
        name, _, values = option.partition("=")
        if name not in kind.model_fields:
            known = ", ".join(kind.model_fields)
            raise SystemExit(f"--set {option}: {name!r} is not a setting of recall.{source} ({known})")
        names.append(name)
        choices.append([yaml.safe_load(value) for value in _split_values(values)])
    if combine:
        changes = [dict(zip(names, combination)) for combination in itertools.product(*choices)]
    else:
        changes = [{name: value} for name, values in zip(names, choices) for value in values]
    grid = [base]
    for change in changes:
        setting = kind.model_validate({**base.model_dump(), **change})
        if setting not in grid:
            grid.append(setting)
    return grid


def _split_values(values: str) -> list[str]:
    """`0.1,0.2` -> two values; `[64],[64,32]` -> two lists (commas inside brackets stay)."""
    parts, depth, current = [], 0, ""
    for char in values:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def day_positives(rollups: pd.DataFrame, ds: dt.date, history_days: int, exclude_seen: bool) -> dict[str, set]:
    """user -> their positives of D, as evaluate_recall defines them: users with an interaction in [D-N, D-1],
    items of strength > 0 on D, minus the items they had in [D-N, D-1] with exclude_seen."""
    first_day, last_day = days_before(ds, history_days)
    history = _interactions(rollups, first_day, last_day)
    day = _interactions(rollups, ds, ds)
    day = day[day["user_id"].isin(set(history["user_id"]))]
    if exclude_seen:
        seen = set(zip(history["user_id"], history["item_id"]))
        day = day[[pair not in seen for pair in zip(day["user_id"], day["item_id"])]]
    return day.groupby("user_id")["item_id"].agg(set).to_dict()


def _within(rollups: pd.DataFrame, first_day: dt.date, last_day: dt.date) -> pd.DataFrame:
    return rollups[(rollups["dt"] >= first_day) & (rollups["dt"] <= last_day)]


def _interactions(rollups: pd.DataFrame, first_day: dt.date, last_day: dt.date) -> pd.DataFrame:
    totals = _within(rollups, first_day, last_day).groupby(["user_id", "item_id"], as_index=False)["strength"].sum()
    return totals[totals["strength"] > 0]


def recall_at(ranked: pd.DataFrame, positives: dict[str, set], ks: list[int]) -> dict[int, list]:
    """k -> each evaluated user's hits in their top k (ranked: user_id, item_id, rank) over their positives (0 for a
    user without candidates)."""
    lists = ranked.sort_values(["user_id", "rank"]).groupby("user_id")["item_id"].agg(list).to_dict()
    return {k: [len(set(lists.get(user, [])[:k]) & wanted) / len(wanted) for user, wanted in positives.items()]
            for k in ks}


def two_tower_day(cfg: PipelineConfig, ds: dt.date, k: int, rollups: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The two-tower's top k as of ds, trained as recall_two_tower trains it (on the rollups of [D-N, D-1])."""
    import keras

    trained = train_day(cfg, ds, _within(rollups, *days_before(ds, cfg.recall.history_days)))
    top = exact_top_k(trained.users["user_id"], *trained.search(cfg.recall.two_tower), trained.seen, k)
    keras.backend.clear_session()
    return top.assign(item_id=trained.item_ids[top["position"].to_numpy()] if len(top) else []), trained.train_seconds


def item2vec_day(cfg: PipelineConfig, ds: dt.date, k: int, spark) -> tuple[pd.DataFrame, float]:
    """Item2vec's top k as of ds, as recall_item2vec builds it: Word2Vec over the lake's interactions of [D-N, D-1],
    then the job's candidates."""
    params = cfg.recall.item2vec
    interacted = read_interactions(spark, cfg, *history_range(cfg.recall, ds)).persist()
    began = time.perf_counter()
    vectors = train_item2vec(item_sequences(interacted), params).persist()
    vectors.count()
    seconds = time.perf_counter() - began
    ranked = item2vec_candidates(interacted, vectors, ds, params, k, cfg.recall.exclude_seen).toPandas()
    vectors.unpersist()
    interacted.unpersist()
    return ranked, seconds


def score_setting(cfg: PipelineConfig, source: str, setting: Frozen, day_top: DayTop,
                  positives_by_day: dict[dt.date, dict[str, set]], ks: list[int], seeds: list[int]) -> dict:
    """Each evaluated (day, user)'s recall@k, the mean over the seeds trained (the setting's own seed when none)."""
    seeds = seeds or [setting.seed]
    by_seed, seconds = [], 0.0
    for seed in seeds:
        seeded = setting.model_copy(update={"seed": seed})
        tuned = cfg.model_copy(update={"recall": cfg.recall.model_copy(update={source: seeded})})
        users = {k: [] for k in ks}
        for ds, positives in positives_by_day.items():
            ranked, train_seconds = day_top(tuned, ds, max(ks))
            for k, hits in recall_at(ranked, positives, ks).items():
                users[k].extend(hits)
            seconds += train_seconds
        by_seed.append(users)
    mean = {k: np.mean([users[k] for users in by_seed], axis=0) for k in ks}
    return {"setting": setting.model_dump(), "seeds": seeds, "train_seconds": round(seconds, 1),
            "users": {k: mean[k].tolist() for k in ks},
            **{f"recall@{k}": float(mean[k].mean()) for k in ks},
            **{f"recall@{k} by seed": [float(np.mean(users[k])) for users in by_seed] for k in ks}}


def paired(reference: dict, other: dict, k: int) -> tuple[float, float]:
    """Mean and standard error over the evaluated (day, user)s of other's recall@k minus reference's (both were
    scored on the same users in the same order)."""
    return paired_difference(reference["users"][k], other["users"][k])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="movielens_100k", type=dataset_conf, help=DATASET_HELP)
    parser.add_argument("--lake", type=Path, help="lake root (default bench/data/lake_tuning_<dataset>)")
    parser.add_argument("--first", type=parse_day, default=dt.date(1998, 2, 22), help="first as_of day scored")
    parser.add_argument("--last", type=parse_day, default=dt.date(1998, 3, 23), help="last as_of day scored")
    parser.add_argument("--source", choices=SOURCES, default="two_tower", help="the recall source tuned")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=V1,V2",
                        help="a setting of the source's config and the values to try, each alone (repeatable)")
    parser.add_argument("--combine", action="store_true", help="run every combination of the --set values instead")
    parser.add_argument("--seeds", type=comma_ints, default=[],
                        help="train each setting once per seed and score the mean (default: the config's seed)")
    parser.add_argument("--skip-build", action="store_true", help="the lake has the rollups already")
    args = parser.parse_args(argv)
    name = load_config(["conf/local.yaml", args.dataset]).dataset.name
    lake = args.lake or DATA_DIR / f"lake_tuning_{name}"
    overlay = write_overlay(f"tuning_{name}", {"lake_root": str(lake), "artifact_root": str(lake / "_art")})
    conf = f"conf/local.yaml,{args.dataset},{overlay}"
    cfg = load_config(conf)
    history_start = args.first - dt.timedelta(days=cfg.recall.history_days)
    if not args.skip_build:
        _build_rollups(conf, history_start, args.last)
    rollups = read_rollups(cfg, history_start, args.last)
    positives_by_day = {ds: positives for ds in date_range(args.first, args.last)
                        if (positives := day_positives(rollups, ds, cfg.recall.history_days, cfg.recall.exclude_seen))}
    ks = [k for k in cfg.recall.eval_k if k <= cfg.recall.top_k]
    began = time.perf_counter()
    if args.source == "two_tower":
        day_top = partial(two_tower_day, rollups=rollups)
    else:
        day_top = partial(item2vec_day, spark=build_session(cfg))
    base = getattr(cfg.recall, args.source)
    results, config = [], base.model_dump()
    for setting in settings_grid(base, args.set, args.combine, args.source):
        results.append(score_setting(cfg, args.source, setting, day_top, positives_by_day, ks, args.seeds))
        changed = {key: value for key, value in setting.model_dump().items() if value != config[key]}
        results[-1]["changed"] = changed
        results[-1]["paired"] = {f"recall@{k}": paired(results[0], results[-1], k) for k in ks}
        print(_line(results[-1], ks), flush=True)
    best = max(results, key=lambda result: result["recall@50"] if 50 in ks else result[f"recall@{ks[-1]}"])
    write_result(f"{args.source}_tuning_{name}", dataset=name, as_of=[args.first, args.last],
                 rows=sum(len(positives) for positives in positives_by_day.values()),
                 seconds=round(time.perf_counter() - began, 1),
                 compared=f"{args.source} settings on days before the quality window, paired by (day, user) with "
                          "the config",
                 ratio=round(best["recall@50"] / results[0]["recall@50"], 3) if 50 in ks else None,
                 best=best["changed"], results=results)


def _line(result: dict, ks: list[int]) -> str:
    """The setting's changes, each recall@k (its paired difference from the config's and the standard error), the
    recall@k of each seed, the training time."""
    figures = []
    for k in ks:
        difference, se = result["paired"][f"recall@{k}"]
        seeds = "/".join(f"{value:.3f}" for value in result[f"recall@{k} by seed"])
        figures.append(f"@{k} {result[f'recall@{k}']:.4f} ({difference:+.4f} se {se:.4f}; seeds {seeds})")
    return f"{str(result['changed'] or 'config'):<32} " + " ".join(figures) + f" train {result['train_seconds']:.0f}s"


def _build_rollups(conf: str, first: dt.date, last: dt.date) -> None:
    """The range runner in a process of its own: Spark's JVM stays out of the process that trains."""
    command = [sys.executable, "-m", "jobs.backfill", "--conf", conf, "--start", first.isoformat(),
               "--end", last.isoformat(), "--jobs", ",".join(ROLLUP_JOBS)]
    if subprocess.run(command).returncode:
        raise SystemExit(f"backfill {first}..{last} failed")


if __name__ == "__main__":
    main()

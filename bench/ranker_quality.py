"""Day-D quality of the rankers forward in time: for every D in the range, each model trains on the samples
before D (models.train) and is scored on D, next to two baselines scored on the same rows: an item feature known
before D (its smoothed rate, or its popularity rank for sampled negatives; no training) and the `lr` model on the
same features.

    python -m bench.ranker_quality --lake DIR --start 1998-04-09 --end 1998-04-22 [--models lr,wide_deep,deepfm]
        [--seeds 7,8,9]
The lake must hold the samples (e.g. from bench.quality or jobs.backfill). Figures: mean AUC, logloss and GAUC
over the days per model (and conversion_auc where the samples label conversions: D's conversions ranked among all
its rows by ctcvr where a model learns it, by ctr otherwise, by the baseline's feature for the baseline); ratio =
each ranker's mean AUC / the item-rate baseline's; and per day the best AUC one feature's missing flag alone gets
(0.5: missingness tells nothing about the label).

With `--seeds` every model trains once per seed (`ranker.seed`) on every day; a day's figure is the mean over the
seeds, and `seed_spread` gives the standard deviation over seeds of each model's mean over the days: on days of a
few hundred rows the seed alone moves a model's AUC by about as much as the differences a single seed would claim.
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from bench.common import comma_ints, lake_config, lake_days_parser, result_name, write_result
from bench.day_stats import mean_present, paired_differences, seed_mean, seed_spread
from core.days import date_range
from core.metrics import auc, gauc
from core.tables import SAMPLES_TABLE
from features.samples import feature_columns, label_columns
from jobs.label_leak import missing_flag_auc
from models.sample_batches import latest_snapshot, record_batches
from models.train import train

BASELINE_FEATURES = {  # the item-rate baseline per sample mode: a smoothed rate known before D
    "ratings": "item_mean_rating_30d",
    "sampled_negatives": "item_popularity_rank_30d",
    "impressions": "item_ctr_30d",
}


def baseline_metrics(cfg, day: dt.date) -> dict:
    """AUC/GAUC of the item-rate baseline on day D (a popularity rank is negated: rank 1 is the best), and its
    conversion_auc where the samples label conversions."""
    feature = BASELINE_FEATURES[cfg.samples.mode]
    labels = label_columns(cfg.samples.mode)
    table = pa.Table.from_batches(list(record_batches(latest_snapshot(cfg.table_path(SAMPLES_TABLE)), day, day,
                                                      ["user_id", feature, *labels], 65536)))
    scores = table.column(feature).to_numpy(zero_copy_only=False).astype(float)
    scores = -scores if "rank" in feature else scores
    click = table.column(labels[0]).to_numpy(zero_copy_only=False)
    users = table.column("user_id").to_numpy(zero_copy_only=False)
    metrics = {"auc": auc(scores, click), "gauc": gauc(scores, click, users), "logloss": None}
    if len(labels) > 1:
        metrics["conversion_auc"] = auc(scores, table.column(labels[1]).to_numpy(zero_copy_only=False))
    return metrics


def missingness_auc(cfg, day: dt.date) -> dict:
    """The best AUC (as max(AUC, 1 - AUC)) that one feature's missing flag alone gets on day D's label, and which
    feature: 0.5 when missingness says nothing about the label (the leak alarm, jobs.label_leak, fails a day above
    samples.missing_auc_threshold)."""
    label = label_columns(cfg.samples.mode)[0]
    snapshot = latest_snapshot(cfg.table_path(SAMPLES_TABLE))
    features = feature_columns(snapshot.dataset().schema.names)
    table = pa.Table.from_batches(list(record_batches(snapshot, day, day, [*features, label], 65536)))
    labels = table.column(label).to_numpy()
    best = {"auc": 0.5, "feature": None}
    for name in features:
        value = missing_flag_auc(pc.is_null(table.column(name)).to_numpy(zero_copy_only=False), labels)
        if value is not None and max(value, 1 - value) > best["auc"]:
            best = {"auc": max(value, 1 - value), "feature": name}
    return best


def main(argv: list[str] | None = None) -> None:
    parser = lake_days_parser(__doc__, "lr,wide_deep,deepfm")
    parser.add_argument("--seeds", type=comma_ints,
                        help="comma-separated ranker seeds, one training per seed (default: the config's seed)")
    args = parser.parse_args(argv)
    cfg = lake_config("ranker_quality", args)
    seeds = args.seeds or [cfg.ranker.seed]
    per_model: dict[str, list[dict]] = {"item_rate_baseline": []}
    per_seed: dict[str, dict[int, list[dict]]] = {}
    missingness = []
    for day in date_range(args.start, args.end):
        missingness.append(missingness_auc(cfg, day))
        print(f"{day} missingness alone: auc={missingness[-1]['auc']:.4f} ({missingness[-1]['feature']})", flush=True)
        per_model["item_rate_baseline"].append(baseline_metrics(cfg, day))
        for name in args.models.split(","):
            for seed in seeds:
                seeded = cfg.model_copy(update={"ranker": cfg.ranker.model_copy(update={"seed": seed})})
                record = train(seeded, day, name)
                per_seed.setdefault(name, {}).setdefault(seed, []).append(record)
                print(f"{day} {name} seed {seed}: auc={record['auc']:.4f} logloss={record['logloss']:.4f} "
                      f"gauc={record['gauc'] or float('nan'):.4f} epochs={record['epochs']} {record['train_seconds']}s"
                      + (f" conversion_auc={record['conversion_auc']:.4f}" if "conversion_auc" in record else ""),
                      flush=True)
    for name, by_seed in per_seed.items():  # a day's figure: the mean over the seeds
        per_model[name] = [seed_mean(list(records)) for records in zip(*by_seed.values(), strict=True)]
    metrics = ("auc", "logloss", "gauc", *(("conversion_auc",) if len(label_columns(cfg.samples.mode)) > 1 else ()))
    summary = {name: {metric: mean_present(r.get(metric) for r in records) for metric in metrics}
               for name, records in per_model.items()}
    summary_seconds = {name: mean_present(r.get("train_seconds") for r in records)
                       for name, records in per_model.items()}
    for name, values in summary.items():
        print(f"{name:<20} " + " ".join(f"{k}={v:.4f}" if v is not None else f"{k}=-" for k, v in values.items()))
    differences = {f"{name} - {against}": paired_differences(per_model[name], per_model[against])
                   for name in per_model for against in ("item_rate_baseline", "lr")
                   if name not in (against, "item_rate_baseline") and against in per_model}
    for pair, values in differences.items():
        print(f"{pair:<36} " + " ".join(f"{k}: {v['mean']:+.4f} (se {v['se']:.4f})" for k, v in values.items()))
    spread = {name: seed_spread(by_seed) for name, by_seed in per_seed.items()}
    if len(seeds) > 1:
        for name, values in spread.items():
            print(f"{name:<20} sd over seeds of the mean: " + " ".join(f"{k}={v:.4f}" for k, v in values.items()))
    base = summary["item_rate_baseline"]["auc"]
    write_result(result_name("ranker_quality", cfg, args), dataset=cfg.dataset.name, days=[args.start, args.end],
                 seeds=seeds, seed_spread=spread,
                 rows=sum(r["rows"] for r in per_model.get(args.models.split(",")[0], [])),
                 compared="rankers vs the item-rate baseline and LR, day-D metrics averaged over the days",
                 summary=summary, seconds=summary_seconds, paired_differences=differences,
                 per_day={name: [{k: r.get(k) for k in metrics} for r in records]
                          for name, records in per_model.items()},
                 ratio={name: round(values["auc"] / base, 3) for name, values in summary.items() if base},
                 missingness_alone={"max_auc": max(m["auc"] for m in missingness), "per_day": missingness})


if __name__ == "__main__":
    main()

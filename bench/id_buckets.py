"""Collision rates of the hashed features on a lake's samples: for each string categorical of the spec, its distinct
values over the days, its bucket count (`features.id_buckets` or `features.category_buckets`), the share of those
values that share a bucket with another (measured, and as expected of uniform hashing), and the power-of-two bucket
count that `--rate` needs (models.id_buckets).

    python -m bench.id_buckets --lake DIR --start 1998-04-08 --end 1998-04-21 [--dataset movielens_100k] [--rate 0.05]

Run it over a training window (`ranker.train_days` before a day) to size a dataset overlay's buckets.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from bench.common import lake_config, lake_days_parser, result_name, write_result
from core.tables import SAMPLES_TABLE
from features.spec import feature_spec
from models.id_buckets import buckets_for, collision_rate, expected_collision_rate
from models.preprocessing import INT_DTYPES
from models.sample_batches import latest_snapshot, record_batches


def distinct_values(batches, features) -> tuple[dict[str, pa.Array], int]:
    """Per feature, the distinct non-null values of its column over the batches (lists flattened); and the rows."""
    parts: dict[str, list[pa.Array]] = {f.name: [] for f in features}
    rows = 0
    for batch in batches:
        rows += batch.num_rows
        for feature in features:
            column = batch.column(feature.name)
            parts[feature.name].append(pc.unique(pc.list_flatten(column) if feature.kind == "multi_categorical"
                                                 else column))
    return {name: pc.unique(pa.concat_arrays(arrays)).drop_null() if arrays else pa.array([], pa.string())
            for name, arrays in parts.items()}, rows


def main(argv: list[str] | None = None) -> None:
    parser = lake_days_parser(__doc__, "")
    parser.add_argument("--rate", type=float, default=0.05, help="the collision rate to size buckets for")
    args = parser.parse_args(argv)
    cfg = lake_config("id_buckets", args)
    hashed = [f for f in feature_spec(cfg).features if f.kind != "numeric" and f.dtype not in INT_DTYPES]
    batches = record_batches(latest_snapshot(cfg.table_path(SAMPLES_TABLE)), args.start, args.end,
                             [f.name for f in hashed], 65536)
    per_feature, rows = distinct_values(batches, hashed)
    features = {}
    for feature in hashed:
        values = per_feature[feature.name]
        distinct = len(values)
        suggested = buckets_for(distinct, args.rate) if distinct else 1
        strings = values.to_numpy(zero_copy_only=False)
        features[feature.name] = figures = {
            "distinct": distinct, "buckets": feature.buckets,
            "collision_rate": round(collision_rate(strings, feature.buckets), 4),
            "expected_rate": round(expected_collision_rate(distinct, feature.buckets), 4),
            "buckets_for_rate": suggested, "collision_rate_there": round(collision_rate(strings, suggested), 4)}
        print(f"{feature.name:<24} distinct={distinct:<7} buckets={feature.buckets:<7} "
              f"collision_rate={figures['collision_rate']:.4f} (expected {figures['expected_rate']:.4f}); "
              f"{suggested} buckets for {args.rate}: {figures['collision_rate_there']:.4f}", flush=True)
    write_result(result_name("id_buckets", cfg, args), dataset=cfg.dataset.name, days=[args.start, args.end],
                 rows=rows, target_rate=args.rate, features=features)


if __name__ == "__main__":
    main()

"""Build, with the range runner, the history day D needs before the daily DAG runs D: the data jobs of the
`ranker.train_days` days before D (the rankers train on their samples), only when a day is missing.

    python -m ops.history --ds 1998-04-22 --conf conf/local.yaml,conf/datasets/movielens_100k.yaml
Days already in the lake's `samples` are skipped; from the first missing day on, every day is rebuilt, since a
day's profiles read the rollups of the days before it.
"""
from __future__ import annotations

import datetime as dt
import sys

from core.cli import day_job_parser
from core.config import PipelineConfig, date_range, load_config
from core.delta_arrow import is_delta_table
from jobs.backfill import main as run_range

# What later days read (rollups, profiles, samples); recall and GBDT of past days are not needed to run D.
HISTORY_JOBS = ("ingest_attributes", "ingest_events", "build_daily_rollups", "build_profiles", "build_samples")


def history_days(cfg: PipelineConfig, ds: dt.date) -> list[dt.date]:
    return date_range(ds - dt.timedelta(days=cfg.ranker.train_days), ds - dt.timedelta(days=1))


def sample_days(cfg: PipelineConfig) -> set[dt.date]:
    """The days the lake's samples table holds (read without a JVM, just for a check)."""
    path = cfg.table_path("samples")
    if not is_delta_table(path):
        return set()
    from deltalake import DeltaTable

    # The log's partition values: no data file is opened.
    return {dt.date.fromisoformat(str(part["dt"])) for part in DeltaTable(path).partitions()}


def main(argv: list[str] | None = None) -> int:
    args = day_job_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg = load_config(args.conf)
    wanted = history_days(cfg, args.ds)
    missing = [day for day in wanted if day not in sample_days(cfg)]
    if not missing:
        print(f"history {wanted[0]}..{wanted[-1]} for {args.ds}: already in {cfg.lake_root}")
        return 0
    return run_range(["--start", str(missing[0]), "--end", str(wanted[-1]), "--conf", args.conf,
                      "--jobs", ",".join(HISTORY_JOBS)])


if __name__ == "__main__":
    sys.exit(main())

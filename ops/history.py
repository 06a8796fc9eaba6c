"""Build, with the range runner, the history day D needs before the daily DAG runs D: the data jobs of the days
its rankers and forest train on (`ranker.train_days`, `gbdt.train_days` before D), only when a day is missing.

    python -m ops.history --ds 1998-04-22 --conf conf/local.yaml,conf/datasets/movielens_100k.yaml
Days already in the lake's `samples`, and empty days already ingested, are skipped; from the first missing day on,
every day is rebuilt, since a day's profiles read the rollups of the days before it. (`jobs.backfill --with-models`
does the same for its range.)
"""
from __future__ import annotations

import sys

from core.cli import day_job_parser
from core.config import load_config
from jobs import backfill


def main(argv: list[str] | None = None) -> int:
    args = day_job_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg = load_config(args.conf)
    days = backfill.history_to_build(cfg, args.ds, backfill.built_days(cfg))
    if not days:
        print(f"history for {args.ds}: already in {cfg.lake_root}")
        return 0
    return backfill.main(["--start", str(days[0]), "--end", str(days[-1]), "--conf", args.conf,
                          "--jobs", ",".join(backfill.HISTORY_JOBS)])


if __name__ == "__main__":
    sys.exit(main())

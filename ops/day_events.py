"""Does the lake hold day D's events? The DAG's check between ingest_events and the jobs that read them.

    python -m ops.day_events --ds 1997-12-11 --conf conf/local.yaml,conf/datasets/movielens_100k.yaml
Exit 0: it does. Exit 99 (EMPTY_DAY_EXIT): D is an empty day of a dump, as ingest_events logged it (`ingest_log`, read
= 0; see jobs.ingest_events), and the DAG skips the run's later tasks (BashOperator skip_on_exit_code); the next day
runs as usual. Exit 1: the config is bad, or D has no events and no such log row (ingest_events has not run for D,
or a daily delivery failed and its partition was removed since). Reads the lake without Spark. One line says which,
naming the day and the table.
"""
from __future__ import annotations

import sys

from core.cli import day_job_parser, one_line_errors
from core.config import load_config
from core.tables import EVENTS_TABLE, INGEST_LOG_TABLE
from jobs.ingest_events import day_has_events, empty_days

EMPTY_DAY_EXIT = 99  # the DAG task's skip_on_exit_code


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    args = day_job_parser(__doc__.splitlines()[0]).parse_args(argv)
    cfg = load_config(args.conf)
    table = cfg.table_path(EVENTS_TABLE)
    if day_has_events(cfg, args.ds):
        print(f"events of {args.ds}: in {table}", flush=True)
        return 0
    if args.ds in empty_days(cfg):
        print(f"{args.ds} is an empty day of the {cfg.dataset.name} dump (no row of it read, per "
              f"{cfg.table_path(INGEST_LOG_TABLE)}): the day's later tasks are skipped", flush=True)
        return EMPTY_DAY_EXIT
    print(f"error: no events of {args.ds} in {table}, and ingest_events has not logged it as an empty day; run "
          f"ingest_events for {args.ds}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

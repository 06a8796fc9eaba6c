"""Is day D's raw log there? The data-availability check the daily DAG waits on before ingesting D.

    python -m ops.raw_data --ds 1998-04-22 --conf conf/local.yaml,conf/datasets/movielens_100k.yaml
Exit 0: available. Exit 3: not there yet (a sensor pokes again later). Exit 1: it never will be (D is outside the
dataset's window) or the config is bad. One line says which, naming the day and the path.
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from core.cli import day_job_parser, one_line_errors
from core.config import load_config
from core.config_schema import PipelineConfig
from core.errors import PipelineError
from datasets.fetch import MissingSourceError, ensure_source

NOT_YET = 3  # BashSensor(retry_exit_code=NOT_YET): poke again later instead of failing


def raw_log_status(cfg: PipelineConfig, ds: dt.date) -> tuple[bool, str]:
    """(available, reason). Raises PipelineError when day D can never arrive."""
    dataset = cfg.dataset
    if not dataset.window.start <= ds <= dataset.window.end:
        raise PipelineError(f"{ds} is outside the window of dataset {dataset.name} "
                            f"({dataset.window.start}..{dataset.window.end}): its raw log will never arrive")
    try:
        path = ensure_source(cfg, ds)  # fetches the dataset first when it has a fetcher (MovieLens)
    except MissingSourceError as err:
        return False, str(err)
    if "://" in path:
        return True, f"{path} (remote: existence is checked by Spark at ingest)"
    files = [path] if Path(path).is_file() else [p for p in Path(path).rglob("*") if p.is_file()]
    size = sum(Path(p).stat().st_size for p in files)
    if size == 0:
        return False, f"raw log of dataset {dataset.name} for {ds} is empty: {path}"
    if dataset.source.layout == "dump":  # one file for every day of the window, and D is inside it
        return True, f"{path}: {size} bytes, a dump of {dataset.window.start}..{dataset.window.end}"
    return True, f"{path}: {size} bytes delivered for {ds}"


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    args = day_job_parser(__doc__.splitlines()[0]).parse_args(argv)
    available, reason = raw_log_status(load_config(args.conf), args.ds)
    print(f"raw log for {args.ds} {'available' if available else 'not there yet'}: {reason}", flush=True)
    return 0 if available else NOT_YET


if __name__ == "__main__":
    sys.exit(main())

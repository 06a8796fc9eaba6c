"""The command line every daily entry point shares: --ds and --conf."""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import sys
from typing import Any, Callable

from core.config import add_conf_option, load_config
from core.config_schema import PipelineConfig
from core.errors import PipelineError
from core.spark import build_session


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def one_line_errors(*errors: type[Exception]) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate an entry point's main: an error of `errors` (default PipelineError: bad input or config) is printed
    as one `error:` line on stderr and gives exit code 1, instead of a traceback."""
    caught = errors or (PipelineError,)

    def decorate(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def wrapped(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except caught as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
        return wrapped
    return decorate


def day_job_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--ds", type=parse_day, required=True, help="logical date D, YYYY-MM-DD")
    add_conf_option(parser)
    return parser


@one_line_errors()
def run_day_job(description: str, day_job: Callable[[Any, PipelineConfig, dt.date], object],
                argv: list[str] | None = None) -> int:
    """Parse --ds/--conf, load config once, start Spark, run day_job and print its report."""
    args = day_job_parser(description).parse_args(argv)
    cfg = load_config(args.conf)
    print(day_job(build_session(cfg), cfg, args.ds))
    return 0

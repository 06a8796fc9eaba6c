"""Fetch once, before several processes start at the same time, what each would otherwise fetch on first use:
the dataset's files (MovieLens from its wheel, verified), the Delta jars, which the first Spark session resolves
into the Ivy cache, and the driver JVM's class archive (core.class_archive). `make test` runs this before its two
test workers, which would otherwise both resolve into one Ivy cache at once on a fresh clone; `make run` before its
history and DAG.

    python -m ops.prepare --conf conf/local.yaml,conf/datasets/movielens_100k.yaml
"""
from __future__ import annotations

import argparse
import sys

from core.class_archive import ensure_class_archive
from core.cli import one_line_errors
from core.config import add_conf_option, load_config
from core.spark import build_session, cached_jars, jar_manifest
from datasets.fetch import fetch_dataset


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_conf_option(parser)
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    fetch_dataset(cfg)
    if cached_jars(cfg) is None:
        build_session(cfg).stop()  # resolves the jars and writes their manifest
    archive = ensure_class_archive(cfg, args.conf)  # after the jars: its JVM starts from them
    print(f"prepared {cfg.dataset.name}; Delta jars listed in {jar_manifest(cfg)}; JVM class archive: "
          f"{archive or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

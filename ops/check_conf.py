"""Check a config and show what it makes of a dataset, without Spark: the files it reads and how, the days it runs,
where its tables go, and the features its samples will have.

    python -m ops.check_conf --conf conf/local.yaml,my_dataset.yaml [--run-day | --roots]
Exit 0: the config loads (each problem found at load time is printed on a line of its own otherwise, exit 1). Files
that are not there yet are listed as missing, not an error: they may be delivered later. `--run-day` prints only the
day `make run` runs (run.end), `--roots` only the config's lake, artifact and export folders, one a line (what
`make clean-lake` removes): the Makefile asks these.
"""
from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

from core.cli import one_line_errors
from core.config import REPO_ROOT, add_conf_option, load_config
from core.config_dataset import DatasetConfig, DelimitedFile, decoded_text
from core.config_schema import PipelineConfig
from core.delta_arrow import delta_dataset, is_delta_table
from core.errors import PipelineError
from core.tables import LAKE_DATASET_TABLE
from features.spec import feature_spec


def describe(cfg: PipelineConfig) -> list[str]:
    """The lines check_conf prints for a loaded config."""
    dataset, run = cfg.dataset, cfg.run
    lines = [f"config: {' + '.join(cfg.sources)}",
             f"dataset {dataset.name}: window {dataset.window.start}..{dataset.window.end} ({dataset.timezone} days), "
             f"run {run.start}..{run.end} (make run: {run.end}), DAG scheduled from {run.dag_start}",
             f"  events: {_file(dataset.source)}, {dataset.source.layout}"]
    fields = dataset.fields.model_dump()
    lines.append("  fields: " + ", ".join(f"{name} <- {column}" for name, column in fields.items() if column)
                 + (f"; every row is a {dataset.fixed_event_type!r}" if dataset.fixed_event_type else "")
                 + _time_reading(dataset))
    types = dataset.event_types.items()
    lines.append("  event types: " + ", ".join(f"{raw} -> {canonical}" for raw, canonical in types))
    for kind in ("users", "items"):
        table = getattr(dataset.attributes, kind)
        if table is not None:
            lines.append(f"  {kind}: {_file(table)}, keyed by {table.id_column}, keeps {', '.join(table.keep)}")
    lines.append(f"samples: {cfg.samples.mode}; rankers: {', '.join(cfg.ranker.models)}")
    lines.append(f"lake {cfg.lake_root} ({_lake_state(cfg)})")
    lines.append(f"artifacts {cfg.artifact_root}, exports {cfg.gate.export_root}")
    spec = feature_spec(cfg, with_gbdt_leaves=cfg.ranker.use_gbdt_leaves)
    excluded = set(cfg.ranker.exclude_features)
    lines.append(f"features ({len(spec.features)}; * = not taken by the rankers, ranker.exclude_features):")
    for kind in ("categorical", "multi_categorical", "numeric"):
        names = [f.name + ("*" if f.name in excluded else "") for f in spec.features if f.kind == kind]
        lines.append(f"  {kind} ({len(names)}): {', '.join(names)}")
    return lines


def _time_reading(dataset: DatasetConfig) -> str:
    if dataset.time_format is None:
        return f"; time in epoch {dataset.time_unit}"
    return f"; time as text {dataset.time_format!r}" + ("" if dataset.time_has_zone else f" ({dataset.timezone})")


def _file(text: DelimitedFile) -> str:
    quoting = f"quote {text.quote!r}" if text.quote else "no quoting"
    where = text.path if not text.is_one_local_file or Path(text.path).exists() else f"{text.path} (missing)"
    pin = (", sha256 pinned" if text.sha256 else "") + (", records may span lines" if text.multiline else "")
    if text.format == "json":
        return f"{where}: JSON Lines, keys {', '.join(text.columns)}, {text.encoding}{pin}"
    return (f"{where}: {len(text.columns)} columns split on {text.delimiter!r}, {quoting}, {text.encoding}"
            f"{', header line' if text.header else ''}{pin}{_header_check(text)}")


def _header_check(text: DelimitedFile) -> str:
    """What a local file's header line says of the declared columns: a column count that differs from the file's
    quarantines every row as malformed."""
    if not text.header or not text.is_one_local_file or not Path(text.path).is_file():
        return ""
    with (gzip.open if text.path.endswith(".gz") else open)(text.path, "rb") as handle:  # Spark reads .gz as text
        head = handle.read(1 << 16)  # decoded as the reader decodes the file (UTF-16 without a mark is big-endian)
    first_line = decoded_text(head, text.encoding).split("\n", 1)[0].rstrip("\r")
    names = [name.strip().strip(text.quote or "") for name in first_line.split(text.delimiter)]
    if names == text.columns:
        return " (its header names the same columns)"
    if len(names) == len(text.columns):
        return f" (its header: {', '.join(names)}; columns are read by position)"
    return f"; WARNING: its header has {len(names)} columns ({', '.join(names)}): every row would be malformed"


def _lake_state(cfg: PipelineConfig) -> str:
    path = cfg.table_path(LAKE_DATASET_TABLE)
    if "://" not in path and not Path(path).exists():
        return "new"
    if not is_delta_table(path):
        return "no dataset recorded yet"
    held = sorted(set(delta_dataset(path).to_table().column("dataset").to_pylist()))
    refused = "" if held == [cfg.dataset.name] else ": another dataset, ingest will refuse it"
    return f"holds {', '.join(held)}{refused}"


def local_roots(cfg: PipelineConfig) -> list[str]:
    """The config's lake, artifact and export folders: the dataset's own, which `make clean-lake` removes."""
    roots = [cfg.lake_root, cfg.artifact_root, cfg.gate.export_root]
    remote = [root for root in roots if "://" in root]
    if remote:
        raise PipelineError(f"{', '.join(remote)}: not a local folder; remove remote roots with their own tools")
    local = [Path(root).resolve() for root in roots]
    holding = [str(root) for root in local if REPO_ROOT.is_relative_to(root) or Path.home().is_relative_to(root)]
    if holding:
        raise PipelineError(f"{', '.join(holding)}: holds the repository or the home folder, "
                            "not a dataset's own folder")
    return [str(root) for root in local]


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conf_option(parser)
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--run-day", action="store_true", help="print only the day make run runs (run.end)")
    shown.add_argument("--roots", action="store_true", help="print only the lake, artifact and export folders")
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    if args.run_day:
        print(cfg.run.end)
    else:
        print("\n".join(local_roots(cfg) if args.roots else describe(cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

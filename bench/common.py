"""What every benchmark shares: sizes (BENCH_QUICK=1 for tiny CI runs) and one JSON result per benchmark."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from core.cli import parse_day
from core.config import REPO_ROOT, load_config
from core.config_schema import PipelineConfig

# Overridable so a test (or a second run) can keep its results and data away from the real ones.
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS_DIR") or REPO_ROOT / "bench" / "results")
DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR") or REPO_ROOT / "bench" / "data")


def quick() -> bool:
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


@contextmanager
def stopwatch(into: dict, key: str):
    began = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - began, 2)


def machine() -> dict:
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "memory_gib": round(memory_kib / 2**20, 1)}


def commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT)
    return result.stdout.strip() or "unknown"


def comma_ints(text: str) -> list[int]:
    """`7,8,9` -> [7, 8, 9]: an argparse type."""
    return [int(part) for part in text.split(",")]


def write_overlay(name: str, values: dict) -> Path:
    """A config overlay file under bench/data (e.g. its own lake root), for `--conf` or load_config."""
    path = DATA_DIR / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values))
    return path


DATASET_HELP = "a built-in dataset (conf/datasets/<name>.yaml) or the path of any dataset overlay"


def dataset_conf(dataset: str) -> str:
    """The overlay `--dataset` names: a built-in dataset's name, or the path of an overlay (a user's own dataset)."""
    if dataset.endswith((".yaml", ".yml")):
        return existing_overlay(dataset)
    if not (REPO_ROOT / "conf" / "datasets" / f"{dataset}.yaml").is_file():
        raise SystemExit(f"--dataset {dataset}: not {DATASET_HELP}")
    return f"conf/datasets/{dataset}.yaml"


def existing_overlay(path: str) -> str:
    """The absolute path of a config overlay, which must exist."""
    if not Path(path).is_file():
        raise SystemExit(f"no such overlay file: {path}")
    return str(Path(path).resolve())


def lake_days_parser(description: str, default_models: str) -> argparse.ArgumentParser:
    """--lake, --dataset, --overlay, --start, --end, --models: the benches that run over days of an existing lake
    (each may add options of its own before parsing)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", required=True)
    parser.add_argument("--dataset", default="movielens_100k", type=dataset_conf, help=DATASET_HELP)
    parser.add_argument("--overlay", action="append", default=[], type=existing_overlay,
                        help="a config overlay applied after the dataset's, e.g. a protocol's ranker settings "
                             "(repeatable; its name joins the result's)")
    parser.add_argument("--start", type=parse_day, required=True)
    parser.add_argument("--end", type=parse_day, required=True)
    parser.add_argument("--models", default=default_models)
    return parser


def lake_config(bench: str, args: argparse.Namespace, **overrides) -> PipelineConfig:
    """The dataset's config and `args.overlay`s on the lake of `args` (artifacts in <lake>/_artifacts), plus
    overrides."""
    paths = {"lake_root": args.lake, "artifact_root": f"{args.lake}/_artifacts", **overrides}
    overlay = write_overlay(f"{bench}_{Path(args.dataset).stem}", paths)
    return load_config(["conf/local.yaml", args.dataset, *args.overlay, str(overlay)])


def result_name(bench: str, cfg: PipelineConfig, args: argparse.Namespace) -> str:
    """<bench>_<dataset>[_<overlay>...]: a protocol's overlay keeps its results apart from the plain run's."""
    return "_".join([bench, cfg.dataset.name, *(Path(o).stem for o in args.overlay)])


def write_result(name: str, **fields) -> Path:
    """bench/results/<name>.json with the figures plus machine, commit and mode."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {"name": name, **fields, "machine": machine(), "commit": commit(), "quick": quick()}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps(record, default=str))
    return path

"""What every benchmark shares: sizes (BENCH_QUICK=1 for tiny CI runs) and one JSON result per benchmark."""
from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from core.config import REPO_ROOT

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


def write_overlay(name: str, values: dict) -> Path:
    """A config overlay file under bench/data (e.g. its own lake root), for `--conf` or load_config."""
    path = DATA_DIR / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values))
    return path


def write_result(name: str, **fields) -> Path:
    """bench/results/<name>.json with the figures plus machine, commit and mode."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    record = {"name": name, **fields, "machine": machine(), "commit": commit(), "quick": quick()}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps(record, default=str))
    return path

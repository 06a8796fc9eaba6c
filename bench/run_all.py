"""`make bench`: run every benchmark in bench/ (each in its own process) and print one summary table.

BENCH_QUICK=1 runs them on tiny data, so the scripts cannot rot; results land in bench/results/*.json.
"""
from __future__ import annotations

import json
import subprocess
import sys

from bench.common import RESULTS_DIR, quick
from core.config import REPO_ROOT

TAOBAO_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "taobao_userbehavior_sample" / "UserBehavior.csv"


def benchmarks() -> list[tuple[str, list[str]]]:
    """(result name, command arguments after `python -m`) of every benchmark to run here."""
    runs = [(name, [f"bench.{name}"]) for name in
            ("ingest_throughput", "profiles_incremental", "backfill_equivalence", "recall_jobs")]
    runs.append(("quality_movielens_100k", ["bench.quality", "--dataset", "movielens_100k"]))
    if TAOBAO_SAMPLE.is_file() and not quick():  # research data: only where it is present, never fetched
        runs.append(("quality_taobao_userbehavior", ["bench.quality", "--dataset", "taobao_userbehavior"]))
    return runs


def main() -> int:
    failed = []
    runs = benchmarks()
    for name, command in runs:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, "-m", *command]).returncode != 0:
            failed.append(name)
    print(f"\n{'benchmark':<28} {'dataset':<20} {'rows':>12}  {'ratio':<28} seconds")
    for name, _ in runs:
        path = RESULTS_DIR / f"{name}.json"
        if path.is_file():
            result = json.loads(path.read_text())
            print(f"{name:<28} {result['dataset']:<20} {result['rows']:>12}  {json.dumps(result['ratio']):<28} "
                  f"{json.dumps(result['seconds'])}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`: run every benchmark in bench/ (each in its own process) and print one summary table.

BENCH_QUICK=1 runs them on tiny data, so the scripts cannot rot; results land in bench/results/*.json.
"""
from __future__ import annotations

import json
import subprocess
import sys

from bench.common import RESULTS_DIR

BENCHMARKS = ("ingest_throughput", "profiles_incremental", "backfill_equivalence")


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, "-m", f"bench.{name}"]).returncode != 0:
            failed.append(name)
    print(f"\n{'benchmark':<24} {'dataset':<16} {'rows':>12}  {'ratio':<28} seconds")
    for name in BENCHMARKS:
        path = RESULTS_DIR / f"{name}.json"
        if path.is_file():
            result = json.loads(path.read_text())
            print(f"{name:<24} {result['dataset']:<16} {result['rows']:>12}  {json.dumps(result['ratio']):<28} "
                  f"{json.dumps(result['seconds'])}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`: run every benchmark in bench/ (each in its own process) and print one summary table.

BENCH_QUICK=1 runs them on tiny data, so the scripts cannot rot; results land in bench/results/*.json
(BENCH_RESULTS_DIR and BENCH_DATA_DIR move results and generated data elsewhere).

    python -m bench.run_all [--only name,name] [--skip name,name]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench.common import DATA_DIR, RESULTS_DIR, quick
from core.config import REPO_ROOT

TAOBAO_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "taobao_userbehavior_sample" / "UserBehavior.csv"


def benchmarks() -> list[tuple[str, list[str]]]:
    """(result name, command arguments after `python -m`) of every benchmark to run here, in order: the MovieLens
    quality lake is built before ranker_quality reads its samples."""
    runs = [(name, [f"bench.{name}"]) for name in
            ("ingest_throughput", "profiles_incremental", "backfill_equivalence", "recall_jobs", "training_speed",
             "table_reads")]
    runs.append(("quality_movielens_100k", ["bench.quality", "--dataset", "movielens_100k"]))
    quality_lake = str(DATA_DIR / "lake_quality_movielens_100k")
    days = ["--start", "1998-04-22", "--end", "1998-04-22", "--models", "lr"] if quick() else \
        ["--start", "1998-04-09", "--end", "1998-04-22", "--models", "lr,wide_deep,deepfm"]
    runs.append(("ranker_quality_movielens_100k", ["bench.ranker_quality", "--lake", quality_lake, *days]))
    runs.append(("two_tower_movielens_100k", ["bench.two_tower", "--lake", quality_lake, "--ds", "1998-04-22"]))
    if (REPO_ROOT / "bench" / "gate_week.py").is_file() and not quick():  # the gate over a week of the same lake
        runs.append(("gate_week_movielens_100k", ["bench.gate_week", "--lake", quality_lake, "--start", "1998-04-16",
                                                  "--end", "1998-04-22"]))
    if not quick():  # the gate's null checks both ways over the same days (no training)
        runs.append(("gate_nulls_movielens_100k", ["bench.gate_nulls", "--lake", quality_lake, "--start", "1998-04-09",
                                                   "--end", "1998-04-22"]))
    runs.append(("full_day_movielens_100k", ["bench.full_day"]))
    runs.append(("scaling", ["bench.scaling"]))
    if TAOBAO_SAMPLE.is_file() and not quick():  # research data: only where it is present, never fetched
        runs.append(("quality_taobao_userbehavior", ["bench.quality", "--dataset", "taobao_userbehavior"]))
        runs.append(("two_tower_taobao_userbehavior", [
            "bench.two_tower", "--dataset", "taobao_userbehavior", "--lake",
            str(DATA_DIR / "lake_quality_taobao_userbehavior"), "--ds", "2017-12-03"]))
    if (REPO_ROOT / "bench" / "cluster_vs_local.py").is_file() and not quick():  # starts a standalone cluster
        runs.append(("cluster_vs_local", ["bench.cluster_vs_local"]))
    return runs


def summary(names: list[str]) -> list[str]:
    """The summary table's lines: one per benchmark result found in RESULTS_DIR."""
    lines = [f"{'benchmark':<30} {'dataset':<24} {'rows':>10}  {'cores':>5} {'mem GiB':>7} {'commit':<8} "
             f"{'ratio':<40} seconds"]
    for name in names:
        path = RESULTS_DIR / f"{name}.json"
        if path.is_file():
            result = json.loads(path.read_text())
            machine = result.get("machine", {})
            lines.append(f"{name:<30} {str(result['dataset'])[:24]:<24} {result['rows']:>10}  "
                         f"{machine.get('cores', '?'):>5} {machine.get('memory_gib', '?'):>7} "
                         f"{result.get('commit', '?'):<8} {json.dumps(result['ratio']):<40} "
                         f"{json.dumps(result['seconds'])}")
        else:
            lines.append(f"{name:<30} (no result)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=_names, default=[], help="run only these benchmarks (result names)")
    parser.add_argument("--skip", type=_names, default=[], help="skip these benchmarks (result names)")
    args = parser.parse_args(argv)
    runs = [(name, command) for name, command in benchmarks()
            if (not args.only or name in args.only) and name not in args.skip]
    failed = []
    for name, command in runs:
        print(f"== {name}: python -m {' '.join(command)}", flush=True)
        began = time.perf_counter()
        if subprocess.run([sys.executable, "-m", *command]).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - began:.0f}s", flush=True)
    print()
    print("\n".join(summary([name for name, _ in runs])))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


if __name__ == "__main__":
    sys.exit(main())

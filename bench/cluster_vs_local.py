"""One day's Spark jobs via spark-submit on a real standalone cluster (a master and two worker JVMs on localhost,
the project zip on the executors' PYTHONPATH) and in local mode, both from copies of one history lake. Each side
submits the range runner for that day (the 11 day jobs in one driver, as `jobs.backfill --start D --end D`).

    python -m bench.cluster_vs_local [--ds 1998-04-22 --history-days 3]      (BENCH_QUICK=1: 1 history day)
Figures: wall time of the day's jobs in each mode; the tables whose rows for D differ between the two (none): every
table bit for bit, except the evaluation metrics (gbdt_metrics, recall_metrics) within a relative 1e-9.
Besides the master (the overlay's spark.master), the cluster side sizes its executors (CLUSTER_SPARK) and each side has
its own lake and artifact roots; everything else is the same config.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

from bench.common import DATA_DIR, quick, stopwatch, write_overlay, write_result
from core.cli import parse_day
from core.config import REPO_ROOT, load_config
from core.spark import submit_flags
from jobs.backfill import HISTORY_JOBS
from ops.digests import day_digests, day_rows, float_deviation
from ops.package import build_zip
from ops.standalone import spark_environment, standalone_cluster

DATASET = "conf/datasets/movielens_100k.yaml"
SPARK_SUBMIT = f"{sys.executable.rsplit('/', 1)[0]}/spark-submit"
JOB_SECONDS = re.compile(r"\[(\w+): ([0-9.]+)s\]$", re.MULTILINE)  # the range runner's "[job: 4.2s]"
CLUSTER_SPARK = {"spark.executor.memory": "1g", "spark.executor.cores": 1, "spark.cores.max": 2}
FLOAT_METRIC_TABLES = {"gbdt_metrics", "recall_metrics"}  # compared within a tolerance, see main()
FLOAT_METRIC_TOLERANCE = 1e-9  # relative; measured: gbdt_metrics' lr_raw logloss 1.3e-11 apart on 1998-04-22


def side_conf(name: str, lake, artifacts, master: str) -> str:
    overlay = {"lake_root": str(lake), "artifact_root": str(artifacts),
               "spark": {"master": master, "settings": CLUSTER_SPARK if master.startswith("spark://") else {}}}
    return ",".join(["conf/local.yaml", DATASET, str(write_overlay(f"cluster_vs_local_{name}", overlay))])


def submit_day(conf: str, ds: dt.date, py_files: str, log: Path) -> dict[str, float]:
    """spark-submit the range runner for day ds (every day job, in order, in one driver); seconds per job."""
    command = [SPARK_SUBMIT, *submit_flags(load_config(conf), executor_py_files=py_files),
               str(REPO_ROOT / "jobs" / "backfill.py"), "--start", str(ds), "--end", str(ds), "--conf", conf]
    with open(log, "w") as spark_log:
        output = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=spark_log, text=True,
                                cwd=REPO_ROOT, env=spark_environment()).stdout
    return {match[1]: float(match[2]) for match in JOB_SECONDS.finditer(output)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=parse_day, default=dt.date(1998, 4, 22))
    parser.add_argument("--history-days", type=int, default=1 if quick() else 3)
    args = parser.parse_args(argv)
    root = DATA_DIR / "cluster_vs_local"
    shutil.rmtree(root, ignore_errors=True)
    history = root / "history_lake"
    history_conf = side_conf("history", history, root / "history_artifacts", "local[*]")
    subprocess.run([sys.executable, "-m", "jobs.backfill", "--start", str(args.ds - dt.timedelta(args.history_days)),
                    "--end", str(args.ds - dt.timedelta(1)), "--jobs", ",".join(HISTORY_JOBS),
                    "--conf", history_conf], check=True, stdout=subprocess.DEVNULL, cwd=REPO_ROOT)
    py_files = str(build_zip(root / "dailyrec.zip"))
    seconds, per_job, digests = {}, {}, {}
    for mode in ("local", "cluster"):
        lake = root / f"lake_{mode}"
        shutil.copytree(history, lake)
        with standalone_cluster(root / "cluster_logs") if mode == "cluster" else nullcontext("local[*]") as master:
            conf = side_conf(mode, lake, root / f"artifacts_{mode}", master)
            with stopwatch(seconds, mode):
                per_job[mode] = submit_day(conf, args.ds, py_files, root / f"spark_{mode}.log")
        digests[mode] = day_digests(lake, args.ds)
    differing = sorted(t for t in digests["local"].keys() | digests["cluster"].keys()
                       if digests["local"].get(t) != digests["cluster"].get(t))
    # Evaluation metrics come from distributed float reductions (L-BFGS's treeAggregate, sums of logloss) whose
    # partial results merge in task completion order, so their last bits may differ between deployments. They must
    # agree within FLOAT_METRIC_TOLERANCE; every other table must be identical to the bit.
    metric_deviation = {table: float_deviation(*(day_rows(root / f"lake_{mode}", table, args.ds)
                                                 for mode in ("local", "cluster")))
                        for table in differing if table in FLOAT_METRIC_TABLES}
    differing = [table for table in differing
                 if table not in metric_deviation or metric_deviation[table] is None
                 or metric_deviation[table] > FLOAT_METRIC_TOLERANCE]
    write_result(
        "cluster_vs_local", dataset="movielens_100k", ds=args.ds, history_days=args.history_days,
        rows=sum(rows for rows, _ in digests["local"].values()), seconds=seconds, seconds_per_job=per_job,
        cluster="standalone: 1 master + 2 workers (1 core, 1g executor each) on localhost, project zip on executors",
        tables=len(digests["local"]), differing_tables=differing, metric_tables_relative_deviation=metric_deviation,
        rows_per_table={table: rows for table, (rows, _) in digests["local"].items()},
        compared="one day's 11 Spark jobs in one spark-submit: standalone cluster vs local[*], sha256 of D's rows",
        ratio=round(seconds["cluster"] / seconds["local"], 2),
    )
    if differing:
        sys.exit(f"{len(differing)} tables differ between cluster and local mode: {differing}")


if __name__ == "__main__":
    main()

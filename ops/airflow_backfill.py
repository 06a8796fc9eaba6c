"""Backfill a date range through Airflow itself, on this machine: Airflow 3 backfills are executed by the scheduler
(and its tasks report to the API server), so both are started for the length of the backfill, then stopped.

    python -m ops.airflow_backfill --start 1998-04-20 --end 1998-04-22     (AIRFLOW_HOME etc. from the Makefile)
Steps: serialise the DAG into the metadata DB, `airflow backfill create --max-active-runs 1` (runs in date order),
unpause the DAG (a paused DAG's tasks are never queued, backfill or not) with the scheduler told not to create its
own scheduled runs (`use_job_schedule=False`, or catchup would start from the window's first day), start
`airflow api-server`, a Spark Connect server when the DAG's Spark tasks use one (ops.spark_connect) and
`airflow scheduler`, wait until every run of the range has finished, stop them, pause.
Prints each run's state and duration; exits 1 if a run failed or the wait timed out.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from core.cli import one_line_errors, parse_day
from ops.airflow_api import AIRFLOW, api_server
from ops.spark_connect import connect_server_for_run
from ops.standalone import daemon, wait_for

FINISHED = ("success", "failed")
POLL_SECONDS = 30


def airflow(*arguments: str) -> str:
    return subprocess.run([AIRFLOW, *arguments], capture_output=True, text=True, check=True).stdout


def range_runs(dag_id: str, start: dt.date, end: dt.date) -> list[dict]:
    """The run of each logical date in [start, end]. A backfill that reprocesses a day reuses that day's earlier
    run (keeping its run_id, e.g. manual__...), and names new ones after the interval's end, so the logical date
    is what identifies them."""
    listing = airflow("dags", "list-runs", dag_id, "--output", "json").splitlines()
    runs = json.loads(next(line for line in reversed(listing) if line.startswith("[")))  # after any warnings
    return [run for run in runs if str(start) <= run["logical_date"][:10] <= str(end)]


def backfill(dag_id: str, start: dt.date, end: dt.date, log_dir: Path, timeout: float) -> list[dict]:
    """Create the backfill, run scheduler + API server until its runs finish; the runs, oldest first."""
    os.environ["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    airflow("dags", "reserialize")
    try:
        airflow("backfill", "create", "--dag-id", dag_id, "--from-date", str(start), "--to-date", str(end),
                "--max-active-runs", "1", "--reprocess-behavior", "completed")
    except subprocess.CalledProcessError as err:
        if "Another backfill is running" not in err.stderr + err.stdout:
            raise
        print(f"resuming the backfill of {dag_id} that is already running (an earlier call was interrupted)")
    airflow("dags", "unpause", dag_id)
    with ExitStack() as components:
        components.callback(airflow, "dags", "pause", dag_id)
        components.enter_context(api_server(log_dir))
        components.enter_context(connect_server_for_run(log_dir))
        components.enter_context(daemon(["scheduler"], log_dir / "scheduler.log", AIRFLOW))
        days = (end - start).days + 1
        finished = f"{days} backfill runs of {dag_id} to finish (see {log_dir}/scheduler.log)"
        # Each look is an `airflow` CLI process (seconds of CPU to import Airflow): polled every second, it kept a
        # core busy beside the tasks. A run lasts minutes, so looking every POLL_SECONDS costs little latency.
        wait_for(lambda: _all_finished(range_runs(dag_id, start, end), days), timeout, finished, every=POLL_SECONDS)
    return sorted(range_runs(dag_id, start, end), key=lambda run: run["logical_date"])


@one_line_errors(TimeoutError)
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dag-id", default="dailyrec")
    parser.add_argument("--start", type=parse_day, required=True)
    parser.add_argument("--end", type=parse_day, required=True)
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds to wait for the runs")
    args = parser.parse_args(argv)
    # Stopped from outside (kill, CI timeout): unwind, so the scheduler and API server stop and the DAG is paused.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    log_dir = Path(os.environ.get("AIRFLOW_HOME", ".airflow")) / "backfill-logs"
    runs = backfill(args.dag_id, args.start, args.end, log_dir, args.timeout)
    for run in runs:
        print(f"{run['logical_date'][:10]} {run['state']:<8} {run['run_id']} {run['start_date']} .. {run['end_date']}")
    print(f"airflow backfill {args.dag_id} {args.start}..{args.end}: {len(runs)} runs in "
          f"{time.perf_counter() - began:.0f}s")
    return 0 if runs and all(run["state"] == "success" for run in runs) else 1


def _all_finished(runs: list[dict], expected: int) -> bool:
    return len(runs) >= expected and all(run["state"] in FINISHED for run in runs)


if __name__ == "__main__":
    sys.exit(main())

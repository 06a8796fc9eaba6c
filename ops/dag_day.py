"""Run the daily DAG for one day through Airflow on this machine, its tasks run as the scheduler runs them: by
Airflow's executor (the LocalExecutor: `core.parallelism` tasks at once, 2 in the Makefile), so independent tasks
(the five recall sources next to the profiles, samples and GBDT; the rankers next to each other) overlap.

    python -m ops.dag_day --ds 1998-04-22     (AIRFLOW_HOME etc. from the Makefile; `make run` calls it)
Steps: start `airflow api-server` (ops.airflow_api: executed tasks report to it) and, when the DAG's Spark tasks
are Spark Connect clients (conf/local.yaml), a Spark Connect server (ops.spark_connect), run
`airflow dags test --use-executor dailyrec D` with its output in `$AIRFLOW_HOME/dags-test-D.log`, stop the servers.
Exits with the DAG run's outcome; when it failed, prints the end of that log and of each failed task's log.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

from core.cli import parse_day
from ops.airflow_api import AIRFLOW, api_server
from ops.spark_connect import connect_server_for_run
from ops.summary import FINISHED_WELL, day_run

TAIL_LINES = 40


def run_day(dag_id: str, ds: dt.date, airflow_home: Path) -> int:
    """`airflow dags test --use-executor dag_id ds` next to an API server; its exit code."""
    log = airflow_home / f"dags-test-{ds}.log"
    logs = airflow_home / "dag-day-logs"
    with api_server(logs), connect_server_for_run(logs), open(log, "w") as out:
        code = subprocess.run([AIRFLOW, "dags", "test", "--use-executor", dag_id, str(ds)],
                              stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        print(f"airflow dags test {dag_id} {ds} failed (exit {code}); the end of {log}:")
        print(tail(log))
        for task_log in failed_task_logs(airflow_home, dag_id, ds):
            print(f"--- {task_log}:\n{tail(task_log)}")
    return code


def failed_task_logs(airflow_home: Path, dag_id: str, ds: dt.date) -> list[Path]:
    """The last attempt's log of each task of the day's run that neither succeeded nor was skipped."""
    run_id, tasks = day_run(dag_id, ds)
    logs = []
    for task in tasks:
        if task["state"] not in FINISHED_WELL:
            folder = airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task['task_id']}"
            attempts = sorted(folder.glob("attempt=*.log"), key=lambda path: int(path.stem.split("=")[1]))
            logs += attempts[-1:]
    return logs


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=parse_day, required=True)
    parser.add_argument("--dag-id", default="dailyrec")
    args = parser.parse_args(argv)
    # Stopped from outside (Ctrl-C, kill): unwind, so the API server stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return run_day(args.dag_id, args.ds, Path(os.environ.get("AIRFLOW_HOME", ".airflow")))


if __name__ == "__main__":
    sys.exit(main())

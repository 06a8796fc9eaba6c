"""The short summary `make run` prints after the DAG ran day D: each task's state and time (from Airflow), the
rows written for D per table, recall@K per source, each ranker's metrics, the gate decision and export path.

    python -m ops.summary --ds 1998-04-22 --conf ... [--dag-id dailyrec]     (needs the run's AIRFLOW_HOME)
Reads the lake through core.delta_arrow (no JVM) and Airflow through its CLI.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from core.cli import parse_day
from core.config import add_conf_option, load_config
from core.config_schema import PipelineConfig
from core.delta_arrow import day_partition, is_delta_table
from ops.airflow_api import AIRFLOW
from ops.digests import lake_tables

# A task in these states did not fail the run (skipped: an empty day, or the watcher when nothing failed).
FINISHED_WELL = ("success", "skipped")
DAY_COLUMNS = ("dt", "as_of")


def airflow_json(*arguments: str) -> list[dict]:
    result = subprocess.run([AIRFLOW, *arguments, "--output", "json"], capture_output=True, text=True, check=True)
    # The CLI may print warnings before the JSON, which is one line.
    return json.loads(next(line for line in reversed(result.stdout.splitlines()) if line.startswith("[")))


def day_run(dag_id: str, ds: dt.date) -> tuple[str | None, list[dict]]:
    """The latest run of dag_id whose logical date is ds: its run_id and its task instances (task_id, state,
    start_date, end_date...) in the order they started; (None, []) when there is none."""
    runs = [run for run in airflow_json("dags", "list-runs", dag_id) if run["logical_date"].startswith(str(ds))]
    if not runs:
        return None, []
    run_id = max(runs, key=lambda run: run["start_date"] or "")["run_id"]
    tasks = airflow_json("tasks", "states-for-dag-run", dag_id, run_id)
    return run_id, sorted(tasks, key=lambda t: t["start_date"] or "~")


def task_times(tasks: list[dict]) -> list[tuple[str, str, float]]:
    """(task, state, seconds) of each task instance."""
    return [(t["task_id"], t["state"], _seconds(t["start_date"], t["end_date"])) for t in tasks]


def wall_seconds(tasks: list[dict]) -> float:
    """From the first task's start to the last one's end: tasks overlap, so this is less than their sum (and a
    `dags test` run records the logical date as its own start, so the run's dates do not tell it)."""
    ran = [t for t in tasks if t["start_date"] and t["end_date"]]
    return _seconds(min(t["start_date"] for t in ran), max(t["end_date"] for t in ran)) if ran else 0.0


def rows_of_day(cfg: PipelineConfig, ds: dt.date) -> dict[str, int]:
    """table -> rows of D, for every Delta table of the lake partitioned by day."""
    counts = {}
    for name, path, column in lake_tables(Path(cfg.lake_root), DAY_COLUMNS):
        if column:
            counts[name] = day_partition(path, column, ds, columns=[column]).num_rows
    return counts


def read_day(cfg: PipelineConfig, table: str, column: str, ds: dt.date) -> list[dict]:
    path = cfg.table_path(table)
    if not is_delta_table(path):
        return []
    return day_partition(path, column, ds).to_pylist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ds", type=parse_day, required=True)
    add_conf_option(parser)
    parser.add_argument("--dag-id", default="dailyrec")
    args = parser.parse_args(argv)
    cfg, ds = load_config(args.conf), args.ds
    print(f"== dailyrec {ds} ({cfg.dataset.name}), lake {cfg.lake_root}")
    _, tasks = day_run(args.dag_id, ds)
    times = task_times(tasks)
    for task, state, seconds in times:
        print(f"  task {task:<32} {state:<15} {seconds:7.1f}s")
    if times:
        print(f"  {len(times)} tasks, {sum(s for _, _, s in times):.0f}s of task time in {wall_seconds(tasks):.0f}s "
              "(tasks overlap)")
    print("tables written for the day (rows): " + ", ".join(f"{t}={n}" for t, n in rows_of_day(cfg, ds).items()))
    k = max(cfg.recall.eval_k)
    recall = sorted(read_day(cfg, "recall_metrics", "as_of", ds), key=lambda row: row["source"])
    print(f"recall@{k}: " + ", ".join(f"{r['source']} {r['recall']:.3f} (ndcg {r['ndcg']:.3f}, {r['users']} users)"
                                      for r in recall if r["k"] == k))
    for row in read_day(cfg, "ranker_metrics", "ds", ds):
        print(f"model {row['model']}: auc {row['auc']:.4f} logloss {row['logloss']:.4f} gauc {row['gauc']:.4f} "
              f"calibration {row['calibration']:.3f}")
    registry = sorted(read_day(cfg, "model_registry", "ds", ds), key=lambda row: row["decided_at"])
    decisions = {row["model"]: row for row in registry}  # the latest decision per model
    for model in cfg.ranker.models:
        decision = decisions.get(model)
        if decision is None:
            print(f"gate {model}: no decision for {ds}")
        elif decision["passed"]:
            print(f"gate {model}: passed, exported {Path(cfg.gate.export_root) / model / str(decision['version'])}")
        else:
            print(f"gate {model}: rejected ({decision['reason']}); blessed stays v{decision['blessed_version']}")
    failed = [task for task, state, _ in times if state not in FINISHED_WELL]
    return 1 if failed else 0


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


if __name__ == "__main__":
    sys.exit(main())

"""What `make run` prints about a day's run: task times and their wall time (ops.summary), and, when the run failed,
the log of each failed task's last attempt (ops.dag_day). The Airflow CLI's answer is given as literal rows; the
DAG run itself through the executor is tests/dags/test_dailyrec_runs.py's empty day."""
from __future__ import annotations

import datetime as dt

from ops import dag_day
from ops.summary import task_times, wall_seconds

TASKS = [
    {"task_id": "ingest_events", "state": "success",
     "start_date": "2026-12-06T10:00:00+00:00", "end_date": "2026-12-06T10:00:30+00:00"},
    {"task_id": "ingest_attributes", "state": "success",
     "start_date": "2026-12-06T10:00:01+00:00", "end_date": "2026-12-06T10:00:26+00:00"},
    {"task_id": "build_daily_rollups", "state": "failed",
     "start_date": "2026-12-06T10:00:31+00:00", "end_date": "2026-12-06T10:00:41+00:00"},
    {"task_id": "build_profiles", "state": "upstream_failed", "start_date": None, "end_date": None},
    {"task_id": "fail_run_if_a_task_failed", "state": "skipped",
     "start_date": "2026-12-06T10:00:42+00:00", "end_date": "2026-12-06T10:00:42+00:00"},
]


def test_task_times_sum_overlapping_tasks_and_the_wall_time_runs_from_the_first_start_to_the_last_end():
    assert task_times(TASKS) == [("ingest_events", "success", 30.0), ("ingest_attributes", "success", 25.0),
                                 ("build_daily_rollups", "failed", 10.0), ("build_profiles", "upstream_failed", 0.0),
                                 ("fail_run_if_a_task_failed", "skipped", 0.0)]
    assert wall_seconds(TASKS) == 42.0  # 10:00:00 .. 10:00:42, not 30 + 25 + 10
    assert wall_seconds([]) == 0.0


def test_a_failed_run_points_at_the_last_attempt_of_each_task_that_neither_succeeded_nor_skipped(tmp_path, monkeypatch):
    run_id = "manual__2026-12-06T10:00:00+00:00"
    run_logs = tmp_path / "logs" / "dag_id=dailyrec" / f"run_id={run_id}"
    for task, attempts in {"ingest_events": 1, "build_daily_rollups": 10}.items():
        for attempt in range(1, attempts + 1):
            (run_logs / f"task_id={task}").mkdir(parents=True, exist_ok=True)
            (run_logs / f"task_id={task}" / f"attempt={attempt}.log").write_text(f"{task} try {attempt}\n")
    asked = []
    monkeypatch.setattr(dag_day, "day_run", lambda dag_id, ds: asked.append((dag_id, ds)) or (run_id, TASKS))
    logs = dag_day.failed_task_logs(tmp_path, "dailyrec", dt.date(1998, 4, 22))
    # Attempt 10 is the last (by number, not by name); build_profiles never ran, so it has no log.
    assert logs == [run_logs / "task_id=build_daily_rollups" / "attempt=10.log"]
    assert asked == [("dailyrec", dt.date(1998, 4, 22))]
    assert dag_day.tail(logs[0], lines=1) == "build_daily_rollups try 10"

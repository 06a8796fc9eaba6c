"""
# dailyrec: the daily recommender pipeline for day `ds`

Each run handles one logical day D = `{{ ds }}` (the UTC day whose data interval just ended):

1. `raw_data_available` waits (reschedule mode) until D's raw log is there, and fails at once when D is
   outside the dataset's window (`python -m ops.raw_data`).
2. The day steps of `core.pipeline` (`ingest_* → build_daily_rollups → build_profiles → build_samples →
   gbdt_leaves`; `recall_als / recall_itemcf / recall_popular / recall_item2vec / recall_two_tower → recall_merge →
   evaluate_recall`): each Spark job a `spark-submit jobs/<task>.py --ds D --conf $DAILYREC_CONF` on the Spark
   connection `dailyrec_spark`, or, with `spark.airflow_tasks: spark_connect` (conf/local.yaml), the job's entry
   function on a session of the Spark Connect server of the connection `dailyrec_spark_connect` (PySparkOperator);
   `recall_two_tower` (TensorFlow) `python -m models.recall_two_tower`, its own process.
   Between `ingest_events` and the rest, `day_has_events` (`python -m ops.day_events`) skips the run's later tasks
   when D is an empty day of a dump (no raw row at all on D, e.g. MovieLens 100k's 1997-12-11): the run ends
   green with those tasks skipped, and the next day runs (a skipped task satisfies `depends_on_past`).
3. Per ranker in `ranker.models`: `train_<model>` (TensorFlow, its own process) then
   `validate_and_export_<model>` (the gate; publishes `<export_root>/<model>/<version>/` only if it passes).
4. `report` summarises the day whatever happened; `fail_run_if_a_task_failed` keeps a failed task (or a
   rejected model) visible as a failed run, since `report` alone would end it green.

Ordering across days: every job and training task depends on its own previous day (`depends_on_past`; the gate,
`report` and `fail_run_if_a_task_failed` do not), because the jobs read earlier days' partitions (30-day profiles,
recall history, 14 training days) and training warm-starts from the latest earlier candidate; a failed day therefore
stops later days from reading a gap. `max_active_runs=1` also keeps the gates in date order (each compares with the
version blessed the day before). `catchup` is on:
a backfill is `airflow backfill create --dag-id dailyrec --from-date A --to-date B --max-active-runs 1
--reprocess-behavior completed` (Airflow requires a reprocess behavior when tasks depend on the past).

Environment: `DAILYREC_CONF` (overlays, default the embedded MovieLens config), `DAILYREC_PY_FILES` (the
zip of `make package`, put on the executors' PYTHONPATH when they lack the project), `AIRFLOW_CONN_DAILYREC_SPARK`
(the master, e.g. `{"conn_type": "spark", "host": "local[*]"}` or host `spark://h`, port 7077),
`AIRFLOW_CONN_DAILYREC_SPARK_CONNECT` (e.g. `{"conn_type": "spark_connect", "host": "h", "port": 15002}`; for
`make run` ops.spark_connect starts a server on this machine and sets it).
"""
from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_pyspark import PySparkOperator
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.bash import BashSensor
from airflow.sdk import DAG, CronDataIntervalTimetable, TriggerRule, task
from airflow.sdk.exceptions import AirflowFailException

from core.config import DEFAULT_CONF, load_config
from core.pipeline import DAY_STEP_NAMES, DAY_STEPS, EMPTY_DAY_DECIDED_BY, MODEL_STEPS, model_task, run_spark_step
from core.spark import SPARK_CONNECT_CONNECTION, submit_arguments

REPO = Path(__file__).resolve().parents[1]
CONF = os.environ.get("DAILYREC_CONF", DEFAULT_CONF)
PYTHON = os.environ.get("DAILYREC_PYTHON", sys.executable)  # the project's venv, where Airflow runs by default
PY_FILES = os.environ.get("DAILYREC_PY_FILES") or None
SPARK_CONNECTION = "dailyrec_spark"
RAW_DATA_NOT_YET = 3  # ops.raw_data's exit code for "not there yet": the sensor pokes again (ops is not installed)
EMPTY_DAY_EXIT = 99  # ops.day_events' exit code for an empty day of a dump: the task, and so the run's later ones, skip
DAY_ARGS = f"--ds {{{{ ds }}}} --conf {CONF}"
# A rejection is deterministic, so the gate has no retries; and it must not block the next day's gate.
MODEL_TASK_OPTIONS = {"validate_and_export": {"retries": 0, "depends_on_past": False}}

cfg = load_config(CONF)


def day(value: dt.date) -> dt.datetime:
    return dt.datetime.combine(value, dt.time(), tzinfo=dt.timezone.utc)


def spark_job(name: str) -> SparkSubmitOperator | PySparkOperator:
    if cfg.spark.airflow_tasks == "spark_connect":
        # The job's entry function, in this task's process, on a session of the Spark Connect server.
        return PySparkOperator(task_id=name, conn_id=SPARK_CONNECT_CONNECTION, python_callable=run_spark_step,
                               op_kwargs={"step": name, "ds": "{{ ds }}", "conf": CONF})
    return SparkSubmitOperator(
        task_id=name, name=f"dailyrec-{name}-{{{{ ds }}}}", conn_id=SPARK_CONNECTION,
        application=str(REPO / "jobs" / f"{name}.py"), application_args=["--ds", "{{ ds }}", "--conf", CONF],
        **submit_arguments(cfg, executor_py_files=PY_FILES),
    )


def python_module(task_id: str, module_and_args: str, **kwargs) -> BashOperator:
    return BashOperator(task_id=task_id, bash_command=f"{PYTHON} -m {module_and_args}", cwd=str(REPO), **kwargs)


with DAG(
    dag_id="dailyrec",
    doc_md=__doc__,
    # A data interval per UTC day: the run for D starts once D is over, with ds = D.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=day(cfg.run.dag_start),  # run.start unless run.schedule_start says where, not a long dump's first day
    end_date=day(cfg.dataset.window.end),
    catchup=True,
    max_active_runs=1,
    default_args={
        "depends_on_past": True,
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=30),
        "execution_timeout": dt.timedelta(hours=2),
    },
    tags=["dailyrec", cfg.dataset.name],
) as dag:
    raw_data_available = BashSensor(
        task_id="raw_data_available", bash_command=f"cd {REPO} && {PYTHON} -m ops.raw_data {DAY_ARGS}",
        retry_exit_code=RAW_DATA_NOT_YET, mode="reschedule", poke_interval=15 * 60, timeout=12 * 3600, retries=0,
    )
    report = python_module("report", f"models.report --start {{{{ ds }}}} --end {{{{ ds }}}} --conf {CONF}",
                           trigger_rule=TriggerRule.ALL_DONE, depends_on_past=False, retries=0)
    day_has_events = python_module("day_has_events", f"ops.day_events {DAY_ARGS}", skip_on_exit_code=EMPTY_DAY_EXIT,
                                   retries=0)

    # The graph is core.pipeline's: a task per step, an edge per `after`.
    steps = {step.name: python_module(step.name, f"{step.module} {DAY_ARGS}") if step.module else spark_job(step.name)
             for step in DAY_STEPS}
    steps[EMPTY_DAY_DECIDED_BY] >> day_has_events
    for step in DAY_STEPS:
        # The steps after ingest_events wait for the check, whose skip on an empty day reaches them all.
        upstream = [day_has_events if name == EMPTY_DAY_DECIDED_BY else steps[name] for name in step.after]
        (upstream or raw_data_available) >> steps[step.name]
    for model in cfg.ranker.models:
        for step in MODEL_STEPS:
            task_id = model_task(step.name, model)
            steps[task_id] = python_module(task_id, f"models.{step.name} --model {model} {DAY_ARGS}",
                                           **MODEL_TASK_OPTIONS.get(step.name, {}))
            for name in step.after:
                steps[name if name in DAY_STEP_NAMES else model_task(name, model)] >> steps[task_id]
    [task for task in steps.values() if not task.downstream_list] >> report

    @task(trigger_rule=TriggerRule.ONE_FAILED, depends_on_past=False, retries=0)
    def fail_run_if_a_task_failed():
        raise AirflowFailException("a task of this run failed or its model was rejected; see the report task")

    [*dag.tasks] >> fail_run_if_a_task_failed()

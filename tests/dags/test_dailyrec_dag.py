"""The daily DAG loads, and wires exactly the expected graph with the ordering daily runs need."""
from __future__ import annotations

import ast
import datetime as dt

import pytest

from core.config import DEFAULT_CONF, REPO_ROOT
from core.errors import PipelineError
from core.pipeline import DAY_STEP_NAMES, DAY_STEPS, HISTORY_STEP_NAMES, Step, in_dependency_order, run_spark_step
from jobs.backfill import DAY_JOBS, HISTORY_JOBS, RANGE_JOBS
from tests.conftest import MOVIELENS, config_for

MODELS = ("wide_deep", "deepfm")  # ranker.models of conf/base.yaml
SPARK_EDGES = {
    ("build_daily_rollups", "build_profiles"),
    ("build_profiles", "build_samples"), ("ingest_attributes", "build_daily_rollups"), ("build_samples", "gbdt_leaves"),
    ("build_daily_rollups", "recall_als"), ("build_daily_rollups", "recall_itemcf"),
    ("build_daily_rollups", "recall_popular"), ("build_daily_rollups", "recall_item2vec"),
    ("build_daily_rollups", "recall_two_tower"), ("recall_als", "recall_merge"), ("recall_itemcf", "recall_merge"),
    ("recall_popular", "recall_merge"), ("recall_item2vec", "recall_merge"), ("recall_two_tower", "recall_merge"),
    ("recall_merge", "evaluate_recall"),
}
OWN_PROCESS_STEPS = {"recall_two_tower": "models.recall_two_tower"}  # TensorFlow, as the rankers: not Spark jobs
EXPECTED_EDGES = (
    {("raw_data_available", "ingest_attributes"), ("raw_data_available", "ingest_events"),
     ("ingest_events", "day_has_events"), ("day_has_events", "build_daily_rollups"), ("evaluate_recall", "report")}
    | SPARK_EDGES
    | {("gbdt_leaves", f"train_{model}") for model in MODELS}
    | {(f"train_{model}", f"validate_and_export_{model}") for model in MODELS}
    | {(f"validate_and_export_{model}", "report") for model in MODELS}
)
WATCHER = "fail_run_if_a_task_failed"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["dailyrec"]


def edges(dag) -> set[tuple[str, str]]:
    return {(task.task_id, downstream) for task in dag.tasks for downstream in task.downstream_task_ids}


def test_dagbag_loads_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == ["dailyrec"]


def test_task_graph_equals_the_expected_edges(dag):
    watched = {(task.task_id, WATCHER) for task in dag.tasks if task.task_id != WATCHER}
    assert edges(dag) == EXPECTED_EDGES | watched


def test_day_tasks_are_the_range_runners_jobs_and_keep_its_order(dag):
    order = [name for name, _ in DAY_JOBS]
    spark_tasks = {task.task_id for task in dag.tasks if task.task_type == "PySparkOperator"}  # conf/local.yaml
    assert spark_tasks == set(order) - set(OWN_PROCESS_STEPS)
    ordered = SPARK_EDGES | {("ingest_events", "build_daily_rollups")}  # through day_has_events
    assert all(order.index(up) < order.index(down) for up, down in ordered)


def test_the_pipeline_lists_each_step_after_its_upstreams_and_the_history_steps_first():
    assert in_dependency_order(DAY_STEPS)
    assert not in_dependency_order((Step("b", ("a",)), Step("a")))
    assert DAY_STEP_NAMES[:len(HISTORY_STEP_NAMES)] == HISTORY_STEP_NAMES
    assert [name for name, _ in DAY_JOBS] == list(DAY_STEP_NAMES) and HISTORY_JOBS == HISTORY_STEP_NAMES
    assert set(RANGE_JOBS) == set(HISTORY_STEP_NAMES)
    assert all(job.__name__ == name and job.__module__ == f"jobs.{name}" for name, job in DAY_JOBS
               if name not in OWN_PROCESS_STEPS)
    assert {step.name: step.module for step in DAY_STEPS if step.module} == OWN_PROCESS_STEPS


def test_a_module_step_runs_its_module_in_its_own_process_in_the_dag_and_the_range_runner(dag, tmp_path):
    task = dag.get_task("recall_two_tower")
    assert task.task_type == "BashOperator"
    assert "-m models.recall_two_tower --ds {{ ds }} --conf " in task.bash_command
    # The range runner's job: a new process given the config's overlays, whose error becomes a PipelineError.
    cfg = config_for(tmp_path, MOVIELENS, lake_root=str(tmp_path / "no_lake_here"))
    with pytest.raises(PipelineError, match="python -m models.recall_two_tower --ds 1998-04-22 --conf .*failed"):
        dict(DAY_JOBS)["recall_two_tower"](None, cfg, dt.date(1998, 4, 22))


def string_literals(path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)}


def test_no_other_file_names_the_steps_order():
    """The DAG names no step, and the range runner only the history steps, as its map of range-mode functions:
    the order lives in core/pipeline.py alone."""
    steps = set(DAY_STEP_NAMES) | {"train", "validate_and_export"}
    assert string_literals(REPO_ROOT / "dags" / "dailyrec.py") & steps == {"validate_and_export"}  # its options
    assert string_literals(REPO_ROOT / "jobs" / "backfill.py") & steps == set(HISTORY_STEP_NAMES)


def test_spark_tasks_run_their_job_on_a_session_of_the_spark_connect_server_by_default(dag):
    from airflow.providers.apache.spark.operators.spark_pyspark import PySparkOperator

    task = dag.get_task("build_profiles")  # conf/local.yaml: spark.airflow_tasks = spark_connect
    assert isinstance(task, PySparkOperator) and task.conn_id == "dailyrec_spark_connect"
    assert task.python_callable is run_spark_step
    assert task.op_kwargs == {"step": "build_profiles", "ds": "{{ ds }}", "conf": DEFAULT_CONF}


def test_spark_tasks_submit_their_job_file_with_ds_and_conf_on_the_spark_connection(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "submit.yaml").write_text("spark: {airflow_tasks: spark_submit}\n")
    conf = f"{DEFAULT_CONF},{tmp_path / 'submit.yaml'}"
    monkeypatch.setenv("DAILYREC_CONF", conf)
    task = DagBag(dag_folder=str(REPO_ROOT / "dags")).dags["dailyrec"].get_task("build_profiles")
    assert task.application == str(REPO_ROOT / "jobs" / "build_profiles.py")
    assert task.application_args == ["--ds", "{{ ds }}", "--conf", conf]
    assert task._conn_id == "dailyrec_spark"  # the operator keeps no public name for it
    assert task.conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert bool(task.packages) != bool(task.jars)  # the Delta jars: resolved once, or the cached files


def test_raw_data_sensor_waits_on_the_checks_not_yet_code_and_fails_on_others(dag):
    from ops.raw_data import NOT_YET

    sensor = dag.get_task("raw_data_available")
    assert sensor.retry_exit_code == NOT_YET and sensor.mode == "reschedule"
    assert "-m ops.raw_data --ds {{ ds }}" in sensor.bash_command


def test_an_empty_day_skips_the_tasks_after_ingest_events(dag):
    from ops.day_events import EMPTY_DAY_EXIT

    check = dag.get_task("day_has_events")
    assert "-m ops.day_events --ds {{ ds }}" in check.bash_command
    assert check.skip_on_exit_code == [EMPTY_DAY_EXIT] and check.retries == 0
    # Every task after it needs all its upstreams to succeed, so a skip reaches each of them; only the report (and
    # the watcher, on no failure) runs past it.
    after = check.get_flat_relative_ids(upstream=False)
    assert {dag.get_task(task).trigger_rule for task in after - {"report", WATCHER}} == {"all_success"}


def test_training_and_gate_run_the_model_modules_for_each_configured_ranker(dag):
    for model in MODELS:
        assert f"-m models.train --model {model} --ds {{{{ ds }}}}" in dag.get_task(f"train_{model}").bash_command
        gate = dag.get_task(f"validate_and_export_{model}")
        assert f"-m models.validate_and_export --model {model} --ds" in gate.bash_command
        assert gate.retries == 0  # a rejection is deterministic


def test_runs_are_daily_ordered_and_retried_with_backoff(dag):
    assert dag.catchup and dag.max_active_runs == 1
    # From the run range's start (run.schedule_start when set) to the dump's last day, not the whole dump.
    assert str(dag.start_date.date()) == "1998-04-16" and str(dag.end_date.date()) == "1998-04-22"
    train = dag.get_task("train_wide_deep")
    assert train.depends_on_past  # warm start reads the day before's candidate
    assert train.retries == 2 and train.retry_exponential_backoff
    assert dag.get_task("report").trigger_rule == "all_done"

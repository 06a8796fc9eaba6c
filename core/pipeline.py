"""The daily pipeline's steps and their order, declared once.

The DAG (dags/dailyrec.py) makes a task of each step and an edge of each `after`; the range runner
(jobs.backfill) runs the day steps in the order listed here, which is a dependency order. Nothing else encodes
the order (tests/dags/test_dailyrec_dag.py holds both to it).

A day step `name` is the DAG's task id and the range runner's job name. A Spark step is the day job
`jobs/<name>.py` (entry function `<name>(spark, cfg, ds)`, spark-submitted by the DAG); a step with a `module` is
`python -m <module> --ds D --conf ...`, its own process (TensorFlow stays out of the Spark driver). Per ranker of
`ranker.models`, the model steps follow: `train_<model>` (`python -m models.train`) then
`validate_and_export_<model>` (the gate), each its own process.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import import_module
from typing import Callable


@dataclass(frozen=True)
class Step:
    name: str
    after: tuple[str, ...] = ()  # steps of the same day that must have finished
    # Later days read its partitions (30-day profiles, 14 training days), so a history is these steps of the days
    # before; each also computes a whole range of days in one Spark job (range mode).
    history: bool = False
    module: str | None = None  # not a Spark job: this module runs the day in its own Python process


DAY_STEPS = (
    Step("ingest_attributes", history=True),
    Step("ingest_events", history=True),
    # The rollups read D's item snapshot (categories), so attributes come before them, not only before the samples.
    Step("build_daily_rollups", ("ingest_attributes", "ingest_events"), history=True),
    Step("build_profiles", ("build_daily_rollups",), history=True),
    Step("build_samples", ("build_profiles",), history=True),
    Step("gbdt_leaves", ("build_samples",)),
    Step("recall_als", ("build_daily_rollups",)),
    Step("recall_itemcf", ("build_daily_rollups",)),
    Step("recall_popular", ("build_daily_rollups",)),
    Step("recall_item2vec", ("build_daily_rollups",)),
    Step("recall_two_tower", ("build_daily_rollups",), module="models.recall_two_tower"),
    Step("recall_merge", ("recall_als", "recall_itemcf", "recall_popular", "recall_item2vec", "recall_two_tower")),
    Step("evaluate_recall", ("recall_merge",)),
)
# Per ranker, after the day steps: the model module's name, and the step it follows (a day step, or the model's
# previous step).
MODEL_STEPS = (Step("train", ("gbdt_leaves",)), Step("validate_and_export", ("train",)))

DAY_STEP_NAMES = tuple(step.name for step in DAY_STEPS)
HISTORY_STEP_NAMES = tuple(step.name for step in DAY_STEPS if step.history)
# The step whose output decides whether the day is empty (a dump without a row on D): the steps after it skip.
EMPTY_DAY_DECIDED_BY = "ingest_events"


def in_dependency_order(steps: tuple[Step, ...]) -> bool:
    """True when each step comes after every step it names in `after`."""
    seen: set[str] = set()
    for step in steps:
        if not set(step.after) <= seen:
            return False
        seen.add(step.name)
    return True


def spark_day_job(name: str) -> Callable[..., object]:
    """The day job of a Spark step: jobs/<name>.py's entry function <name>(spark, cfg, ds), which returns its report."""
    return getattr(import_module(f"jobs.{name}"), name)


def run_spark_step(step: str, ds: str, conf: str, spark=None) -> None:
    """A Spark step's day job on the session it is given, its report printed: the DAG's task when its Spark tasks
    are clients of a Spark Connect server (Airflow's PySparkOperator passes the session as `spark`)."""
    from core.config import load_config

    print(spark_day_job(step)(spark, load_config(conf), dt.date.fromisoformat(ds)))


def model_task(step_name: str, model: str) -> str:
    """The task id of a model step for one ranker: train_wide_deep, validate_and_export_wide_deep."""
    return f"{step_name}_{model}"

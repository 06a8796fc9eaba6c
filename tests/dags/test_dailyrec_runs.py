"""The daily DAG for real on MovieLens 100k, in one test on its own lake:
- a backfill of 1997-12-10 through Airflow's scheduler (`ops.airflow_backfill`, as `make airflow-backfill` runs it)
  runs every task, writes every table's partition and publishes model version 1;
- `ops.dag_day` (`airflow dags test --use-executor`, as `make run` runs a day) of the empty day after it (1997-12-11,
  without a rating in the dump) ingests it, skips every later task but the report, and ends green;
- the range runner with models then backfills those two days and the next: Airflow's day gets the very same rows and
  no new model version, the day after the empty one every partition and version 2, the empty day only its ingest,
  and the rows agree with u.data.
Airflow runs as subprocesses on its own SQLite DB; lake, artifacts and exports live under tmp_path. The Spark tasks
are clients of a Spark Connect server that ops.airflow_backfill / ops.dag_day start (conf/local.yaml); spark-submit
of a job is tested in tests/jobs/test_backfill.py. A DAG day costs minutes, so CI runs one through Airflow; the
3-day Airflow backfill is measured with `make airflow-backfill` (docs/orchestration.md)."""
from __future__ import annotations

import collections
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest

from core.config import REPO_ROOT, load_config
from core.delta_arrow import delta_dataset
from core.tables import ATTRIBUTE_TABLES
from jobs import backfill
from jobs.backfill import DAY_JOBS
from jobs.ingest_events import empty_days
from ops import history as ops_history
from ops.digests import day_digests, day_rows, lake_tables
from tests.conftest import MOVIELENS, overlays_for

BIN = Path(sys.executable).parent
EMPTY_DAY = dt.date(1997, 12, 11)  # inside MovieLens 100k's window, without a rating (UTC); so is 1997-12-16
# Orchestration is under test, not model quality: one ranker fit on D-3..D-2 and early-stopped on D-1, two epochs,
# and a forest on D-2 with its LR stacked on D-1. The history to build first is those three days; the first of them
# has no history of its own (empty profiles), hence three and not two.
# A forest of 5 shallow trees, 3 ALS sweeps at rank 8, one tower pair fit for 2 epochs (MovieLens averages 3 for 10)
# and 2 Word2Vec iterations: the jobs' code paths, at a fraction of the default cost.
# 1000 id and category buckets (MovieLens has 943 users and 1682 items) keep each export ~1 MB instead of 42 MB of
# embeddings (four category tables of 2**16 rows alone are 36 MB).
SMALL_DAY = {"ranker": {"train_days": 3, "max_epochs": 2, "models": ["wide_deep"]},
             "features": {"id_buckets": 1000, "category_buckets": 1000},
             "gbdt": {"train_days": 2, "stack_days": 1, "num_trees": 5, "max_depth": 3},
             "recall": {"als": {"rank": 8, "max_iter": 3}, "two_tower": {"ensemble": 1, "epochs": 2},
                        "item2vec": {"max_iter": 2}}}
# These tests are about orchestration; the gate's thresholds are set for 14 training days and full 30-day profiles
# (make run), so here only its mechanics are held: checks run, export, serving parity, versions, registry.
# (1997-12-10 has 40 samples, under the default floor of 100.)
# A lake of a few days has thin histories: a popularity rank is null for most items even among those with a profile.
LENIENT_GATE = {"data": {"min_rows": 10, "max_psi": 100.0, "max_null_rate": 1.0,
                         "null_rate_ceilings": {"item_n_rating_30d": 1.0}},
                "model": {"min_auc": 0.0, "max_auc_drop": 1.0, "max_logloss": 10.0, "calibration": [0.01, 100.0]}}
DAY_TABLES = ("events", "user_daily", "item_daily", "user_category_daily", "user_item_daily", "user_profile",
              "item_profile", "samples", "gbdt_leaves", "recall_candidates", "recall_metrics", "ranker_metrics")
# TF training timing/RSS; the append-only decision log; the LRs gbdt_leaves fits for its comparison (Spark ML sums
# partition gradients in the order tasks finish, so their metrics' last bits vary; the leaves themselves do not).
NOT_REPRODUCIBLE = ("ranker_metrics", "model_registry", "gbdt_metrics")


def lake_conf_and_env(tmp: Path) -> tuple[str, dict]:
    """(conf, environment of the airflow commands and jobs) of a lake in tmp."""
    # The DAG is scheduled from the window's start, so that `dags test` of a day before the run range creates tasks.
    conf = overlays_for(tmp, MOVIELENS, gate=LENIENT_GATE, run={"schedule_start": dt.date(1997, 9, 20)}, **SMALL_DAY)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__PARALLELISM": "2", "DAILYREC_CONF": conf,
           "AIRFLOW_CONN_DAILYREC_SPARK": json.dumps({"conn_type": "spark", "host": "local[2]"}),
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    return conf, env


def run(command: list[str], env: dict) -> str:
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def task_states(day: dt.date, env: dict) -> dict[str, str]:
    from ops.summary import day_run  # runs the airflow CLI, so it reads env's AIRFLOW_HOME

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return {task["task_id"]: task["state"] for task in day_run("dailyrec", day)[1]}
    finally:
        os.environ.clear()
        os.environ.update(saved)


def only_attributes_written(cfg, day: dt.date) -> bool:
    """Of the tables partitioned by day, only the attribute snapshots and ingest's log (its read = 0 row) hold rows
    of `day` (an empty day)."""
    lake = Path(cfg.lake_root)
    by_day = {name for name, _, column in lake_tables(lake) if column}  # day_digests also digests whole tables
    written = {table for table, (rows, _) in day_digests(lake, day).items() if rows and table in by_day}
    return written == set(ATTRIBUTE_TABLES.values()) | {"ingest_log"} and day in empty_days(cfg)


def gate_checks(cfg, model: str, day: dt.date) -> dict[str, dict]:
    """The checks of the gate's decision on the model's candidate of `day`, by name."""
    rows = delta_dataset(cfg.table_path("model_registry")).to_table().to_pylist()
    decision = next(row for row in rows if row["model"] == model and row["ds"] == str(day))
    return {check["check"]: check for check in json.loads(decision["checks"])}


def row_counts(rows: list[dict]) -> collections.Counter:
    """Each row (as ops.digests writes it down) and how many times it is there."""
    return collections.Counter(repr(sorted(row.items())) for row in rows)


def registry_rows(cfg, model: str) -> list[dict]:
    """The model's gate decisions."""
    return [row for row in delta_dataset(cfg.table_path("model_registry")).to_table().to_pylist()
            if row["model"] == model]


def passed_versions(cfg, model: str) -> dict[str, int]:
    """ds -> published version of the model's passed gate decisions."""
    return {row["ds"]: row["version"] for row in registry_rows(cfg, model) if row["passed"]}


@pytest.mark.slow
@pytest.mark.first
@pytest.mark.timeout(3600)  # ~8 min next to the other tests (CI runs two at once on 2 cores)
def test_airflow_backfills_a_day_runs_the_empty_day_after_and_the_range_runner_rewrites_them_identically(
        spark, tmp_path, capsys):
    conf, env = lake_conf_and_env(tmp_path)
    cfg = load_config(conf)
    days = [EMPTY_DAY + dt.timedelta(days=n) for n in (-1, 0, 1)]
    day = days[0]  # what Airflow backfills, then the range runner again with the two days after it
    history_days = [day - dt.timedelta(days=n) for n in (3, 2, 1)]
    # As make airflow-backfill does, in the worker's session: the 3 days the day trains on, in range mode.
    assert ops_history.main(["--ds", str(day), "--conf", conf]) == 0
    assert f"build_samples {history_days[0]}..{history_days[-1]} (3 days): rows=" in capsys.readouterr().out
    run([str(BIN / "airflow"), "db", "migrate"], env)
    run([sys.executable, "-m", "ops.airflow_backfill", "--start", str(day), "--end", str(day), "--timeout", "3000"],
        env)
    states = task_states(day, env)
    assert states.pop("fail_run_if_a_task_failed") == "skipped"  # nothing failed
    # raw_data_available, the 11 Spark jobs, day_has_events, train and gate per model, report
    assert set(states.values()) == {"success"} and len(states) == 1 + len(DAY_JOBS) + 1 + 2 * len(cfg.ranker.models) + 1
    digests = day_digests(Path(cfg.lake_root), day)
    assert all(digests[table][0] > 0 for table in DAY_TABLES), digests
    for model in cfg.ranker.models:
        assert passed_versions(cfg, model) == {str(day): 1}
        assert (Path(cfg.gate.export_root) / model / "1" / "saved_model.pb").is_file()
        # The gate held profile features to their null ceilings on the rows whose user (item) the rollups of the
        # 30 days before D know, and the profile join left none of those rows null.
        checks = gate_checks(cfg, model, day)
        for entity in ("user", "item"):
            measured = checks[f"null_rate:{entity}_n_rating_30d"]
            assert measured["value"] == 0.0 and measured["passed"], measured
            assert f"rows whose {entity} had an event in the 30 days before D" in measured["threshold"], measured
    assert (Path(cfg.artifact_root) / "reports" / f"report_{day}_{day}.html").is_file()
    whole_tables = {name: row_counts(day_rows(Path(cfg.lake_root), name, day))
                    for name, _, column in lake_tables(Path(cfg.lake_root))
                    if not column and name not in NOT_REPRODUCIBLE}
    assert "als_ids" in whole_tables
    # A DAG run of the empty day, as `make run` runs a day: ingested, then every task but the report skipped.
    run([sys.executable, "-m", "ops.dag_day", "--ds", str(EMPTY_DAY)], env)
    states = task_states(EMPTY_DAY, env)
    ran = {"raw_data_available", "ingest_attributes", "ingest_events", "report"}
    assert {task: state for task, state in states.items() if task in ran} == dict.fromkeys(ran, "success")
    assert set(state for task, state in states.items() if task not in ran) == {"skipped"}
    assert len(states) == 1 + len(DAY_JOBS) + 1 + 2 * len(cfg.ranker.models) + 2  # every task has a state (+ watcher)
    assert only_attributes_written(cfg, EMPTY_DAY)
    assert (Path(cfg.artifact_root) / "reports" / f"report_{EMPTY_DAY}_{EMPTY_DAY}.html").is_file()
    # Every task of both runs succeeded at its first attempt: a retry waits minutes (e.g. two recall sources that
    # both created recall_candidates on this new lake, core.lake).
    assert sorted(path.parent.name for path in (tmp_path / "airflow" / "logs").rglob("attempt=2.log")) == []

    # The range runner with models, in one Spark session (the worker's), over the day Airflow ran, the empty day and
    # the day after. Range mode: each data job once for the 3 days (the empty one's rollups, profiles and samples
    # skipped); their history is in, so nothing before them is built.
    assert backfill.main(["--start", str(days[0]), "--end", str(days[-1]), "--with-models", "--conf", conf]) == 0
    out = capsys.readouterr().out
    assert f"backfill {days[0]}..{days[-1]} of movielens_100k: 3 days (1 empty: {EMPTY_DAY}) in" in out
    assert f"ingest_events {days[0]}..{days[-1]} (3 days): " in out
    assert f"empty days, later jobs skip them: {EMPTY_DAY}" in out
    assert f"build_samples {days[0]}..{days[-1]} (2 days): rows=" in out
    assert f"build_samples {history_days[0]}" not in out
    # Airflow's day: every partition of it holds the very same rows as the 11 Spark tasks wrote as clients of the
    # Connect server; a table not partitioned by day (als_ids, append-only: an id keeps its index) keeps every row
    # they wrote, next to the ids of the day after.
    skipped = NOT_REPRODUCIBLE + tuple(whole_tables)
    assert day_digests(Path(cfg.lake_root), day, skip=skipped) == \
        {table: digest for table, digest in digests.items() if table not in skipped}
    for table, rows in whole_tables.items():
        after = row_counts(day_rows(Path(cfg.lake_root), table, day))
        assert rows and not rows - after and set(after.values()) == {1}, table  # each row once, Airflow's kept
    als_ids = day_rows(Path(cfg.lake_root), "als_ids", day)
    assert len({(row["kind"], row["id"]) for row in als_ids}) == len(als_ids)  # an id keeps its one index
    last_digests = day_digests(Path(cfg.lake_root), days[-1])
    assert all(last_digests[table][0] > 0 for table in DAY_TABLES), (days[-1], last_digests)
    assert only_attributes_written(cfg, EMPTY_DAY)
    for model in cfg.ranker.models:
        # Re-trained on the same rows with the same seed, the day's model has the weights v1 holds: no new version.
        assert sorted((row["ds"], row["version"]) for row in registry_rows(cfg, model) if row["passed"]) == \
            [(str(day), 1), (str(day), 1), (str(days[-1]), 2)]
        assert sorted(p.name for p in (Path(cfg.gate.export_root) / model).iterdir()) == ["1", "2"]
        # The day after the empty one early-stopped on the day before it.
        metrics = json.loads(cfg.artifact_path("candidates", model, str(days[-1]), "metrics.json").read_text())
        assert metrics["validation_day"] == str(days[0])
    agrees_with_u_data(cfg, history_days + days)
    # The next day's training days are 12-10..12-12, all built: the logged empty day is not rebuilt as missing.
    out = run([sys.executable, "-m", "ops.history", "--ds", str(days[-1] + dt.timedelta(days=1)), "--conf", conf], env)
    assert "history for 1997-12-13: already in" in out


def ratings_of_utc_days(inter_file: Path) -> tuple[collections.Counter, collections.Counter]:
    """Straight from u.data: per UTC day, its ratings and its ratings of 4 or 5 (a like)."""
    ratings, likes = collections.Counter(), collections.Counter()
    for line in inter_file.read_text().splitlines()[1:]:
        _, _, rating, epoch = line.split("\t")
        day = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).date()
        ratings[day] += 1
        likes[day] += int(rating) >= 4
    return ratings, likes


def agrees_with_u_data(cfg, days: list[dt.date]) -> None:
    """Every rating of each of the consecutive days is an event, a rollup count and a sample (labelled like when
    >= 4), none of an empty day; the profile as of the next day counts the day's ratings in its 1-day window, and the
    profile as of the last day its 7-day window's ratings (the gap of an empty day read around)."""
    ratings, likes = ratings_of_utc_days(Path(cfg.dataset.source.path))

    def per_day(table: str, day_column: str, column: str | None = None) -> dict[dt.date, int]:
        frame = delta_dataset(cfg.table_path(table)).to_table().to_pandas()
        grouped = frame.groupby(day_column)
        totals = grouped.size() if column is None else grouped[column].sum()
        return {day: int(totals.get(day, 0)) for day in days}

    assert per_day("events", "dt") == {day: ratings[day] for day in days}
    assert per_day("user_daily", "dt", "n_rating") == {day: ratings[day] for day in days}
    assert per_day("samples", "dt") == {day: ratings[day] for day in days}
    assert per_day("samples", "dt", "label_like") == {day: likes[day] for day in days}
    as_of_next = delta_dataset(cfg.table_path("user_profile")).to_table(filter=pc.field("as_of") == days[1])
    assert pc.sum(as_of_next["n_rating_1d"]).as_py() == ratings[days[0]]
    as_of_last = delta_dataset(cfg.table_path("user_profile")).to_table(filter=pc.field("as_of") == days[-1])
    week = [day for day in days if days[-1] - dt.timedelta(days=7) <= day < days[-1]]
    assert pc.sum(as_of_last["n_rating_7d"]).as_py() == sum(ratings[day] for day in week)
    samples = delta_dataset(cfg.table_path("samples")).to_table(filter=pc.field("dt") == days[-1])
    assert samples["user_n_rating_7d"].null_count < len(samples)  # users with history got their profile joined

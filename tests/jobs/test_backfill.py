import datetime as dt
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

import jobs.backfill
from core.config import REPO_ROOT
from core.errors import GATE_REJECTED_EXIT, PipelineError
from core.spark import submit_flags
from jobs.backfill import built_days, history_to_build
from jobs.backfill import main as backfill
from jobs.backfill import train_and_gate
from jobs.ingest_events import ingest_events
from tests.conftest import MOVIELENS, TAOBAO, config_for, overlays_for

TAOBAO_SAMPLE = REPO_ROOT.parent / "shared" / "data" / "taobao_userbehavior_sample" / "UserBehavior.csv"


def test_backfill_reports_a_bad_range_in_one_line(tmp_path, capsys):
    conf = overlays_for(tmp_path, MOVIELENS)
    assert backfill(["--start", "1998-04-22", "--end", "1998-04-20", "--conf", conf]) == 1
    assert "error: --end 1998-04-20 is before --start 1998-04-22" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not TAOBAO_SAMPLE.is_file(), reason="the Taobao sample lives only in ../shared/data")
def test_taobao_sample_strays_are_quarantined_once_as_out_of_window(spark, tmp_path):
    cfg = config_for(tmp_path, TAOBAO)
    report = ingest_events(spark, cfg, dt.date(2017, 11, 25))
    later = ingest_events(spark, cfg, dt.date(2017, 12, 3))
    # The sample's README: 35 rows fall outside 2017-11-25..12-03 (Asia/Shanghai days).
    assert report.quarantined.get("out_of_window", 0) + later.quarantined.get("out_of_window", 0) == 35


@pytest.mark.slow
def test_spark_submit_runs_a_job_like_python_does(spark, tmp_path):
    cfg = config_for(tmp_path / "submitted", MOVIELENS)
    ingest_events(spark, config_for(tmp_path / "in_process", MOVIELENS), dt.date(1998, 4, 22))
    conf = overlays_for(tmp_path / "submitted", MOVIELENS)
    spark_submit = Path(sys.executable).parent / "spark-submit"
    command = [str(spark_submit), *submit_flags(cfg), str(REPO_ROOT / "jobs" / "ingest_events.py"),
               "--ds", "1998-04-22", "--conf", conf]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                            env={"PYSPARK_PYTHON": sys.executable, "PATH": str(Path(sys.executable).parent)
                                 + ":/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ingest_events 1998-04-22: read=536 written=536 quarantined=0" in result.stdout
    local = spark.read.format("delta").load(str(tmp_path / "in_process" / "lake" / "events")).collect()
    submitted = spark.read.format("delta").load(cfg.table_path("events")).collect()
    assert sorted(submitted) == sorted(local)


def test_backfill_jobs_option_names_the_known_jobs(tmp_path, capsys):
    conf = overlays_for(tmp_path, MOVIELENS)
    with pytest.raises(SystemExit):
        backfill(["--jobs", "ingest_events,recall_magic", "--conf", conf])
    assert "unknown job(s) recall_magic; known: ingest_attributes, ingest_events" in capsys.readouterr().err


@pytest.mark.parametrize("gate_status, outcome", [(0, True), (GATE_REJECTED_EXIT, False), (1, PipelineError)])
def test_with_models_trains_then_gates_and_tells_a_rejection_from_a_failure(monkeypatch, gate_status, outcome):
    commands = []

    def fake_process(command, **_):  # stands in for the TF processes; their own tests run them for real
        commands.append(command[2:])
        return subprocess.CompletedProcess(command, gate_status if command[2] == "models.validate_and_export" else 0)

    monkeypatch.setattr(jobs.backfill.subprocess, "run", fake_process)
    day = dt.date(1998, 4, 20)
    if outcome is PipelineError:
        with pytest.raises(PipelineError, match="models.validate_and_export --model deepfm --ds 1998-04-20"):
            train_and_gate("c.yaml", "deepfm", day)
    else:
        assert train_and_gate("c.yaml", "deepfm", day) is outcome
    arguments = ["--model", "deepfm", "--ds", "1998-04-20", "--conf", "c.yaml"]
    assert commands == [["models.train", *arguments], ["models.validate_and_export", *arguments]]


def test_with_models_on_a_lake_without_the_history_builds_it_first_then_trains_each_day(monkeypatch, tmp_path):
    """The wiring of --with-models (the DAG test runs it on a lake whose history ops.history built)."""
    conf = overlays_for(tmp_path, MOVIELENS, ranker={"train_days": 3, "models": ["wide_deep", "deepfm"]},
                        gbdt={"train_days": 2, "stack_days": 1})
    runs, trained = [], []

    def run_in_range(spark, cfg, days, names, after_day=None):
        runs.append((list(days), list(names), after_day is not None))
        for day in days:
            if after_day:
                after_day(day)
        return list(days)

    monkeypatch.setattr(jobs.backfill, "build_session", lambda cfg: None)
    monkeypatch.setattr(jobs.backfill, "run_day_jobs_in_range", run_in_range)
    monkeypatch.setattr(jobs.backfill, "built_days", lambda cfg: set())
    monkeypatch.setattr(jobs.backfill, "train_and_gate", lambda conf, model, ds: trained.append((model, ds)) or True)
    assert backfill(["--start", "1998-04-19", "--end", "1998-04-20", "--with-models", "--conf", conf]) == 0
    history = [dt.date(1998, 4, n) for n in (16, 17, 18)]
    days = [dt.date(1998, 4, 19), dt.date(1998, 4, 20)]
    assert runs == [(history, list(jobs.backfill.HISTORY_JOBS), False),
                    (days, [name for name, _ in jobs.backfill.DAY_JOBS], True)]
    assert trained == [(model, day) for day in days for model in ("wide_deep", "deepfm")]


def test_history_to_build_is_the_training_days_from_the_first_missing_one_clamped_to_the_window(tmp_path):
    cfg = config_for(tmp_path, MOVIELENS, ranker={"train_days": 3}, gbdt={"train_days": 2, "stack_days": 1})
    day = dt.date(1998, 4, 19)
    apr = [dt.date(1998, 4, n) for n in range(15, 19)]  # 04-15 .. 04-18
    assert history_to_build(cfg, day, set()) == apr[1:]  # the rankers' 3 days outnumber the forest's 2
    assert history_to_build(cfg, day, set(apr[1:])) == []
    # 04-17 missing: 04-18's profiles read its rollups, so 04-18 is rebuilt too; 04-16 is kept.
    assert history_to_build(cfg, day, {apr[1], apr[3]}) == apr[2:]
    forest_reads_more = config_for(tmp_path / "forest", MOVIELENS, ranker={"train_days": 2},
                                   gbdt={"train_days": 4, "stack_days": 1})
    assert history_to_build(forest_reads_more, day, set()) == apr
    window_start = cfg.dataset.window.start  # nothing to build before the dataset's first day
    assert history_to_build(cfg, window_start + dt.timedelta(days=1), set()) == [window_start]
    assert history_to_build(cfg, window_start, set()) == []
    whole = config_for(tmp_path / "all", MOVIELENS, ranker={"train_days": "all"})
    assert history_to_build(whole, window_start + dt.timedelta(days=3), set()) == [
        window_start + dt.timedelta(days=n) for n in range(3)]


def test_built_days_are_the_days_with_samples_and_the_logged_empty_days(tmp_path):
    cfg = config_for(tmp_path, MOVIELENS, ranker={"train_days": 3}, gbdt={"train_days": 2, "stack_days": 1})
    assert built_days(cfg) == set()
    day = dt.date(1997, 12, 10)
    samples = pa.table({"user_id": ["u1"], "dt": pa.array([day], pa.date32())})
    write_deltalake(cfg.table_path("samples"), samples, partition_by=["dt"])
    empty, ingested = dt.date(1997, 12, 11), dt.date(1997, 12, 12)  # 12-12: ingested, samples not built yet
    log = pa.table({"read": [0, 5], "written": [0, 5], "quarantined": [0, 0],
                    "dt": pa.array([empty, ingested], pa.date32())})
    write_deltalake(cfg.table_path("ingest_log"), log, partition_by=["dt"])
    assert built_days(cfg) == {day, empty}
    # 12-13's training days are 12-10..12: only 12-12 is left to build, not everything from the empty day on.
    assert history_to_build(cfg, dt.date(1997, 12, 13), built_days(cfg)) == [ingested]

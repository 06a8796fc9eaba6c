"""Delta read without a JVM: rows and partition values of a snapshot, a reading process that exits cleanly, and small
records written side by side into a new table."""
import datetime as dt
import subprocess
import sys

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from deltalake.exceptions import CommitFailedError

import core.delta_arrow
from core.config import REPO_ROOT
from core.delta_arrow import (
    committed,
    day_partition,
    delta_dataset,
    is_delta_table,
    partition_days,
    replace_rows,
    rows_between,
)
from tests.conftest import side_by_side

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)


def write_two_versions(path) -> None:
    schema = pa.schema([("dt", pa.date32()), ("user_id", pa.string()), ("score", pa.float64())])
    write_deltalake(str(path), pa.Table.from_pylist([{"dt": D1, "user_id": "u1", "score": 0.5}], schema),
                    partition_by=["dt"])
    write_deltalake(str(path), pa.Table.from_pylist([{"dt": D2, "user_id": "u2", "score": 0.25}], schema),
                    partition_by=["dt"], mode="append")


def test_reads_every_row_with_typed_partition_values_at_a_version(tmp_path):
    path = tmp_path / "scores"
    write_two_versions(path)
    latest = delta_dataset(str(path)).to_table().sort_by("dt").to_pylist()
    assert latest == [{"dt": D1, "user_id": "u1", "score": 0.5}, {"dt": D2, "user_id": "u2", "score": 0.25}]
    assert delta_dataset(str(path), version=0).to_table().to_pylist() == [{"dt": D1, "user_id": "u1", "score": 0.5}]
    assert delta_dataset(f"file://{path}").count_rows() == 2
    assert is_delta_table(str(path)) and not is_delta_table(str(tmp_path / "missing"))


def test_a_days_rows_whether_its_column_holds_dates_or_iso_strings(tmp_path):
    by_date = str(tmp_path / "by_date")
    write_two_versions(by_date)
    assert day_partition(by_date, "dt", D2).to_pylist() == [{"dt": D2, "user_id": "u2", "score": 0.25}]
    assert day_partition(by_date, "dt", D1, columns=["user_id"]).to_pylist() == [{"user_id": "u1"}]
    rows = pa.Table.from_pylist([{"ds": "2024-03-01", "model": "lr"}, {"ds": "2024-03-02", "model": "lr"}])
    write_deltalake(str(tmp_path / "by_string"), rows)
    assert day_partition(str(tmp_path / "by_string"), "ds", D1).to_pylist() == [{"ds": "2024-03-01", "model": "lr"}]
    assert day_partition(str(tmp_path / "by_string"), "ds", dt.date(2024, 3, 3)).num_rows == 0


def test_days_of_a_partition_column_and_rows_of_a_range_of_days(tmp_path):
    path = str(tmp_path / "scores")
    write_two_versions(path)
    assert partition_days(path, "dt") == {D1, D2} and partition_days(path, "dt", version=0) == {D1}
    assert [rows_between(path, "dt", day, day) for day in (D1, D2, dt.date(2024, 3, 3))] == [1, 1, 0]
    assert rows_between(path, "dt", D1, D2) == 2 and rows_between(path, "dt", dt.date(2024, 2, 1), D1) == 1
    assert rows_between(str(tmp_path / "missing"), "dt", D1, D1) == 0


def test_a_process_that_read_delta_exits_cleanly(tmp_path):
    # deltalake's default filesystem made such processes abort at exit about every other run (exit 134,
    # "terminate called without an active exception"); `make run`'s summary and ops.digests are such processes.
    tables = [tmp_path / name for name in ("a", "b", "c")]
    for table in tables:
        write_two_versions(table)
    reader = ("import sys; from core.delta_arrow import delta_dataset\n"
              "print(sum(delta_dataset(p).to_table().num_rows for p in sys.argv[1:]))")
    for _ in range(6):
        done = subprocess.run([sys.executable, "-c", reader, *map(str, tables)], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert (done.returncode, done.stdout.strip()) == (0, "6"), done.stderr[-2000:]


def test_writers_that_create_one_table_at_once_each_get_their_rows(tmp_path):
    """Side by side on a new lake, as the DAG's models write ranker_metrics: a writer whose first commit lost to
    another's ("Protocol / Metadata changed since last commit") replaces its rows in the table the other created."""
    def write(path: str, model: str) -> None:
        replace_rows(path, pa.table({"model": [model], "ds": ["1998-04-19"]}), {"model": model, "ds": "1998-04-19"},
                     ["ds"])

    models = ["wide_deep", "deepfm", "esmm"]
    paths = [str(tmp_path / f"ranker_metrics_{n}") for n in range(8)]
    failures = [err for path in paths
                for err in side_by_side([lambda path=path, model=model: write(path, model) for model in models])]
    assert failures == []
    assert [sorted(delta_dataset(path).to_table().column("model").to_pylist()) for path in paths] == \
        [sorted(models)] * len(paths)


def test_a_commit_that_lost_to_another_writer_is_made_again_and_one_that_keeps_losing_fails(monkeypatch):
    monkeypatch.setattr(core.delta_arrow.time, "sleep", lambda seconds: None)
    calls = []

    def loses_twice() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise CommitFailedError("Failed to commit transaction: Metadata changed since last commit.")

    committed(loses_twice)
    assert len(calls) == 3
    calls.clear()

    def always_loses() -> None:
        calls.append(1)
        raise CommitFailedError("Failed to commit transaction: Metadata changed since last commit.")

    with pytest.raises(CommitFailedError, match="Metadata changed"):
        committed(always_loses, attempts=4)
    assert len(calls) == 4
    calls.clear()

    def fails_otherwise() -> None:  # not a lost commit: no second attempt
        calls.append(1)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        committed(fails_otherwise)
    assert len(calls) == 1
    calls.clear()

    def commit_fails_otherwise() -> None:  # it may have landed: an append made again would be there twice
        calls.append(1)
        raise CommitFailedError("Failed to commit transaction: Generic error: connection reset")

    with pytest.raises(CommitFailedError, match="connection reset"):
        committed(commit_fails_otherwise)
    assert len(calls) == 1


def test_writers_that_replace_their_rows_of_one_table_at_once_each_keep_them(tmp_path):
    """Side by side on a table that exists, each writer adding a column of its own (schema merge): every commit
    changes the table's metadata, so all but one lose and commit again."""
    paths = [str(tmp_path / f"metrics_{n}") for n in range(4)]
    models = ["wide_deep", "deepfm", "esmm"]
    for path in paths:
        replace_rows(path, pa.table({"model": ["lr"], "ds": ["1998-04-19"]}), {"model": "lr"}, ["ds"])

    def write(path: str, model: str) -> None:
        replace_rows(path, pa.table({"model": [model], "ds": ["1998-04-19"], f"{model}_auc": [0.7]}),
                     {"model": model, "ds": "1998-04-19"}, ["ds"])

    failures = [err for path in paths
                for err in side_by_side([lambda path=path, model=model: write(path, model) for model in models])]
    assert failures == []
    for path in paths:
        table = delta_dataset(path).to_table()
        assert sorted(table.column("model").to_pylist()) == sorted(["lr", *models])
        assert {f"{model}_auc" for model in models} <= set(table.column_names)

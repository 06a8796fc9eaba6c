"""Delta read without a JVM: rows and partition values of a snapshot, a reading process that exits cleanly, and small
records written side by side into a new table."""
import datetime as dt
import subprocess
import sys

import pyarrow as pa
from deltalake import write_deltalake

from core.config import REPO_ROOT
from core.delta_arrow import day_partition, delta_dataset, is_delta_table, partition_days, replace_rows, rows_between
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

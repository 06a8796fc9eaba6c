"""Asking Spark whether a Delta table is there, as every job does before it reads one (classic and Connect alike);
writers of one new table at once, as the DAG's recall sources are on a new lake."""
import datetime as dt

import pytest

from core.errors import PipelineError
from core.lake import delta_table_exists, replace_partition, require_table
from tests.conftest import side_by_side


def test_a_table_is_there_only_where_a_delta_log_is_and_other_errors_are_raised(spark, tmp_path):
    spark.createDataFrame([(1,)], "n int").write.format("delta").save(str(tmp_path / "table"))
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "part.csv").write_text("1\n")
    assert delta_table_exists(spark, str(tmp_path / "table"))
    assert not delta_table_exists(spark, str(tmp_path / "missing"))
    assert not delta_table_exists(spark, str(tmp_path / "files"))  # files, but no _delta_log
    with pytest.raises(Exception, match="nosuchscheme"):  # not "no table": a file system Spark cannot read says so
        delta_table_exists(spark, "nosuchscheme://bucket/table")
    require_table(spark, str(tmp_path / "table"), "ingest_events")
    with pytest.raises(PipelineError, match=f"no table at {tmp_path / 'missing'}; run ingest_events first"):
        require_table(spark, str(tmp_path / "missing"), "ingest_events")


@pytest.mark.slow
def test_two_writers_that_both_create_a_table_each_get_their_partition(spark, tmp_path):
    """Both find no table and commit its first version; Delta fails the later one (DELTA_PROTOCOL_CHANGED), which
    then writes again. Without that retry one writer of each pair failed here, 4 tables out of 4."""
    day = dt.date(1998, 4, 19)

    def write(path: str, source: str) -> None:
        rows = spark.createDataFrame([("u1", source, day)], "user_id string, source string, as_of date")
        replace_partition(rows, path, {"as_of": day, "source": source})

    paths = [str(tmp_path / f"candidates_{n}") for n in range(3)]
    errors = [err for path in paths
              for err in side_by_side([lambda path=path, source=source: write(path, source)
                                       for source in ("als", "itemcf")])]
    assert errors == []
    for path in paths:
        assert sorted(tuple(row) for row in spark.read.format("delta").load(path).collect()) == \
            [("u1", "als", day), ("u1", "itemcf", day)]

"""Asking Spark whether a Delta table is there, as every job does before it reads one (classic and Connect alike)."""
import pytest

from core.errors import PipelineError
from core.lake import delta_table_exists, require_table


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

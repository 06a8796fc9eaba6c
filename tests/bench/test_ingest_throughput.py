"""The bounds bench.ingest_throughput times next to the ingest: one validating pass that writes every line."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from bench.ingest_throughput import BOUNDS, write_one_pass
from tests.conftest import SYNTHETIC, config_for

NOON_MS = 1704110400000  # 2024-01-01 12:00 UTC, the bench's day


@pytest.mark.slow
def test_one_pass_writes_every_line_with_its_reason_and_id_and_drops_no_copy(spark, tmp_path):
    cfg = config_for(tmp_path, SYNTHETIC)
    day = tmp_path / "raw"
    day.mkdir()
    lines = [f"u1,i1,impression,{NOON_MS}", f"u1,i1,impression,{NOON_MS}", f"u1,i1,view,{NOON_MS}"]
    (day / "part-0.csv").write_text("user_id,item_id,event_type,ts_ms\n" + "\n".join(lines) + "\n")
    for name, event_id in BOUNDS.items():
        write_one_pass(spark, cfg, str(day), event_id(), tmp_path / name)
        rows = spark.read.format("delta").load(str(tmp_path / name)).select(
            "reason", F.col("event_id").cast("string").alias("event_id")).collect()
        # No dedup: both copies are written, with one id; the unknown type is written with its reason and no id.
        assert sorted((row["reason"] or "") for row in rows) == ["", "", "unknown_event_type"], name
        good_ids = {row["event_id"] for row in rows if row["reason"] is None}
        assert len(good_ids) == 1 and None not in good_ids, name
        assert [row["event_id"] for row in rows if row["reason"]] == [None], name
    hex_id, long_id = (spark.read.format("delta").load(str(tmp_path / name)).where("reason IS NULL").first()["event_id"]
                       for name in ("one_pass_hex_id", "one_pass_64bit_id"))
    assert len(hex_id) == 32 and isinstance(long_id, int)

"""The DAG's check after ingest: events of D, an empty day of a dump (the run's later tasks skip), or an error."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
from deltalake import write_deltalake

from core.config import load_config
from features.schema import INGEST_LOG
from ops.day_events import EMPTY_DAY_EXIT, main
from tests.conftest import MOVIELENS, SYNTHETIC, overlays_for

WITH_EVENTS, WITHOUT = dt.date(1997, 12, 10), dt.date(1997, 12, 11)


def lake_with_events_of(conf: str, day: dt.date) -> None:
    events = pa.table({"event_id": ["e1"], "dt": pa.array([day], pa.date32())})
    write_deltalake(load_config(conf).table_path("events"), events, partition_by=["dt"])


def test_exit_codes_go_on_skip_an_empty_day_of_a_dump_or_fail_a_daily_delivery(tmp_path, capsys):
    dump = overlays_for(tmp_path / "dump", MOVIELENS)
    lake_with_events_of(dump, WITH_EVENTS)
    assert main(["--ds", str(WITH_EVENTS), "--conf", dump]) == 0
    # Without events, a day of a dump is empty only once ingest_events has logged it so (read = 0); before, the
    # check fails instead of skipping a day that was never ingested.
    assert main(["--ds", str(WITHOUT), "--conf", dump]) == 1
    assert f"error: no events of {WITHOUT}" in capsys.readouterr().err
    logged = pa.Table.from_pylist([{"read": 0, "written": 0, "quarantined": 0, "dt": WITHOUT}], INGEST_LOG)
    write_deltalake(load_config(dump).table_path("ingest_log"), logged, partition_by=["dt"])
    assert main(["--ds", str(WITHOUT), "--conf", dump]) == EMPTY_DAY_EXIT == 99
    assert f"{WITHOUT} is an empty day of the movielens_100k dump" in capsys.readouterr().out
    daily = overlays_for(tmp_path / "daily", SYNTHETIC)
    assert main(["--ds", "2024-01-02", "--conf", daily]) == 1  # no events table at all
    assert "error: no events of 2024-01-02" in capsys.readouterr().err

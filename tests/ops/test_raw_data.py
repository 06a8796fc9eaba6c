"""The DAG's data-availability check: available, not there yet (the sensor waits) and never (it fails at once)."""
from __future__ import annotations

import datetime as dt

import pytest

from core.errors import PipelineError
from ops.raw_data import NOT_YET, main, raw_log_status
from tests.conftest import MOVIELENS, SYNTHETIC, config_for, overlays_for

DAY = dt.date(2024, 3, 5)


def daily_config(tmp_path):
    """The synthetic dataset, whose raw log is delivered as one folder per day, delivered under tmp_path."""
    return config_for(tmp_path, SYNTHETIC, dataset={"source": {"path": str(tmp_path / "raw" / "dt={ds}")}})


def test_a_daily_delivery_is_not_there_until_its_folder_has_data(tmp_path):
    cfg = daily_config(tmp_path)
    missing = f"no raw log of dataset synthetic for {DAY}: {tmp_path}/raw/dt={DAY} does not exist"
    assert raw_log_status(cfg, DAY) == (False, missing)
    folder = tmp_path / "raw" / f"dt={DAY}"
    folder.mkdir(parents=True)
    (folder / "part-0.csv").write_text("")
    assert raw_log_status(cfg, DAY)[0] is False  # an empty delivery is still missing data
    (folder / "part-0.csv").write_text("1,2,impression,1709596800\n")
    assert raw_log_status(cfg, DAY) == (True, f"{folder}: 26 bytes delivered for {DAY}")


def test_a_day_outside_the_window_fails_instead_of_waiting(tmp_path):
    with pytest.raises(PipelineError, match="2025-01-01 is outside the window of dataset synthetic"):
        raw_log_status(daily_config(tmp_path), dt.date(2025, 1, 1))


@pytest.mark.network
def test_exit_codes_tell_the_sensor_to_go_on_wait_or_fail(tmp_path, capsys):
    movielens = overlays_for(tmp_path, MOVIELENS)
    assert main(["--ds", "1998-04-22", "--conf", movielens]) == 0
    assert "a dump of 1997-09-20..1998-04-22" in capsys.readouterr().out
    assert main(["--ds", "1998-04-23", "--conf", movielens]) == 1
    synthetic = overlays_for(tmp_path, SYNTHETIC, dataset={"source": {"path": str(tmp_path / "missing/{ds}")}})
    assert main(["--ds", str(DAY), "--conf", synthetic]) == NOT_YET

"""bench.gate_nulls on a one-day lake written by hand: 39 newcomers' rows and one row of a user with a history."""
from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
from deltalake import write_deltalake

import bench.common
from bench import gate_nulls
from core.config import load_config
from datasets.synthetic import synthetic_samples
from features.spec import feature_spec
from models.train import model_spec
from tests.conftest import MOVIELENS, overlays_for

D = dt.date(1998, 4, 22)


def test_newcomers_fail_the_all_rows_measure_only_and_each_broken_join_fails_the_gate(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.common, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(bench.common, "RESULTS_DIR", tmp_path / "results")
    cfg = load_config(overlays_for(tmp_path, MOVIELENS))
    spec = model_spec(cfg)
    user_history = [f.name for f in spec.features if f.history_of == "user"]
    item_history = [f.name for f in spec.features if f.history_of == "item"]
    samples = synthetic_samples(feature_spec(cfg), 40, D, 1)  # no null anywhere
    samples = samples.set_column(samples.column_names.index("user_id"), "user_id",
                                 pa.array(["old"] + [f"new{n}" for n in range(39)]))
    for name in user_history:  # what the profile join leaves on a newcomer's row
        field = samples.schema.field(name)
        values = pa.concat_arrays([samples.column(name).combine_chunks()[:1], pa.nulls(39, field.type)])
        samples = samples.set_column(samples.column_names.index(name), field, values)
    day_before = pa.array([D - dt.timedelta(days=1)], pa.date32())
    write_deltalake(cfg.table_path("samples"), samples, partition_by=["dt"])
    write_deltalake(cfg.table_path("events"), pa.table({"event_id": ["e1"], "dt": day_before}), partition_by=["dt"])
    write_deltalake(cfg.table_path("user_daily"), pa.table({"user_id": ["old"], "dt": day_before}),
                    partition_by=["dt"])
    items = samples.column("item_id").unique()
    write_deltalake(cfg.table_path("item_daily"), pa.table({"item_id": items, "dt": pa.array(
        [day_before[0].as_py()] * len(items), pa.date32())}), partition_by=["dt"])

    gate_nulls.main(["--lake", cfg.lake_root, "--start", str(D), "--end", str(D)])

    result = json.loads((tmp_path / "results" / "gate_nulls_movielens_100k.json").read_text())
    [day] = result["days"]
    assert day["rows"] == 40 and day["share_with_history"] == {"user": 0.025, "item": 1.0}
    # 39 of 40 rows null (0.975 > 0.95) over all rows; none on the one row with a history.
    assert day["failed_over_all_rows"] == sorted(f"null_rate:{name}" for name in user_history)
    assert day["failed_on_rows_with_history"] == []
    assert day["failed_checks_with_the_user_join_broken"] == len(user_history)
    assert day["failed_checks_with_the_item_join_broken"] == len(item_history)
    assert result["ratio"] == {"days_failing_over_all_rows": 1, "days_failing_on_rows_with_history": 0, "days": 1}

"""The run report: each section from a tiny lake written with deltalake (a few literal rows), numbers by hand."""
from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from core.metrics import psi
from models import report, report_data
from models.gate_decision import REGISTRY_SCHEMA, Decision
from tests.conftest import MOVIELENS, config_for, overlays_for

DAY0, D1, D2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)
# Every value of D moves into the upper of D-1's two quantile bins. The report must show core.metrics.psi's figure
# for it (psi's own arithmetic is tested in tests/core/test_metrics.py); an unchanged feature has PSI 0.
FULL_SHIFT_PSI = psi(np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 4.0, 5.0, 6.0]), bins=2)
CHECKS_FAILED = json.dumps([{"check": "auc", "value": 0.5, "threshold": ">= 0.52", "passed": False},
                            {"check": "psi:user_age", "value": 0.01, "threshold": "<= 0.25", "passed": True}])


def registry_row(model, ds, decided_at, version, passed, blessed, reason="", checks="[]"):
    return {"model": model, "ds": ds, "decided_at": decided_at, "version": version, "passed": passed,
            "blessed_version": blessed, "reason": reason, "checks": checks, "metrics": "{}",
            "baseline_version": None, "export_bytes": None, "parity_max_abs_error": None, "gate_seconds": 1.0}


GATE = {"data": {"drift_bins": 2, "max_psi": 0.25, "drift_features": ["user_age"]}}


def write(cfg, table: str, rows: list[dict], partition: str | None = None, schema: pa.Schema | None = None):
    write_deltalake(cfg.table_path(table), pa.Table.from_pylist(rows, schema=schema),
                    partition_by=[partition] if partition else None)


@pytest.fixture()
def cfg(tmp_path):
    return config_for(tmp_path, MOVIELENS, gate=GATE)


@pytest.fixture()
def lake(cfg):
    """Three days: DAY0 only as the day before D1 for drift; the report covers D1..D2."""
    write(cfg, "events", [{"dt": day, "user_id": f"u{i}", "item_id": "i1", "event_type": "rating"}
                          for day, n in ((DAY0, 2), (D1, 3), (D2, 4)) for i in range(n)], "dt")
    write(cfg, "events_quarantine", [{"reason": reason, "raw": "x", "dt": D1}
                                     for reason in ("duplicate", "malformed", "duplicate")], "dt")
    samples = {DAY0: ([20, 30, 40, 50], [1.0, 2.0, 3.0, 4.0], [1, 1, 0, 0]),
               D1: ([20, 30, 40, 50], [3.0, 4.0, 5.0, 6.0], [1, 0, 0, 0]),  # item rating shifts
               D2: ([60, 60, 60, 60], [3.0, 4.0, 5.0, 6.0], [1, 1, 1, 0])}  # user age shifts
    write(cfg, "samples", [{"dt": day, "user_id": f"u{i}", "item_id": "i1", "label_like": like[i], "user_age": age[i],
                            "item_mean_rating_30d": rating[i]}
                           for day, (age, rating, like) in samples.items() for i in range(4)], "dt")
    write(cfg, "recall_metrics", [
        {"source": source, "k": 20, "users": 4, "recall": recall, "hit_rate": 0.5, "precision": 0.1, "ndcg": 0.2,
         "coverage": 0.3, "as_of": day}
        for day, source, recall in ((D1, "als", 0.125), (D1, "popular", 0.25), (D2, "als", 0.375),
                                    (D2, "popular", 0.0625))], "as_of")
    write(cfg, "ranker_metrics", [
        {"model": model, "ds": day.isoformat(), "auc": auc, "logloss": 0.6, "gauc": 0.55, "calibration": 1.1,
         "rows": 4, "label_rate": 0.5}
        for day, model, auc in ((D1, "wide_deep", 0.61), (D1, "lr", 0.57), (D2, "wide_deep", 0.5),
                                (D2, "lr", 0.58))], "ds")
    write(cfg, "model_registry", [
        registry_row("wide_deep", D1.isoformat(), "2024-01-02T06:00:00", 1, True, 1),
        registry_row("lr", D2.isoformat(), "2024-01-03T06:00:00", 1, True, 1),
        registry_row("wide_deep", D2.isoformat(), "2024-01-03T06:01:00", None, False, 1,
                     "auc = 0.5, required >= 0.52", CHECKS_FAILED),
        registry_row("wide_deep", "2024-01-05", "2024-01-05T06:00:00", 2, True, 2),  # after the range
    ], schema=REGISTRY_SCHEMA)
    return cfg


def section(page: str, key: str) -> str:
    found = re.search(f'<section id="{key}">(.*?)</section>', page, re.S)
    assert found, f"no section {key}"
    return found.group(1)


def cells(text: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", text)


def test_every_section_with_its_numbers(lake, tmp_path):
    scaling = tmp_path / "scaling.json"
    scaling.write_text(json.dumps({"commit": "abc", "machine": {"cores": 2}, "sizes": [
        {"events": 2_000_000, "days": 3, "seconds": 50.0, "seconds_per_million_events": 25.0},
        {"events": 1_000_000, "days": 3, "seconds": 40.0, "seconds_per_million_events": 40.0}]}))
    page = report.build_report(lake, D1, D2, scaling)

    volumes = cells(section(page, "volumes"))
    assert volumes == ["2024-01-02", "3", "4", "3", "duplicate=2, malformed=1",
                       "2024-01-03", "4", "4", "0", ""]
    assert cells(section(page, "labels")) == ["2024-01-02", "4", "0.2500", "2024-01-03", "4", "0.7500"]
    drift = cells(section(page, "drift"))
    shift = f"{FULL_SHIFT_PSI:.4f}"
    assert FULL_SHIFT_PSI > GATE["data"]["max_psi"]  # so flagged
    assert drift[:7] == ["2024-01-02", "2024-01-01", "1", "item_mean_rating_30d", shift, "", "yes"]
    assert drift[7:14] == ["2024-01-02", "2024-01-01", "2", "user_age", "0.0000", "yes", ""]
    assert drift[14:21] == ["2024-01-03", "2024-01-02", "1", "user_age", shift, "yes", "yes"]
    recall = section(page, "recall")
    assert "Latest day (2024-01-03)" in recall
    assert cells(recall)[:5] == ["2024-01-03", "als", "20", "4", "0.3750"]
    models = section(page, "models")
    assert "<img" in models
    assert cells(models)[:3] == ["2024-01-02", "lr", "0.5700"]
    gate = cells(section(page, "gate"))
    assert len(gate) == 3 * 8  # the decision of 2024-01-05 lies after the range
    assert gate[:6] == ["2024-01-02", "wide_deep", "2024-01-02T06:00:00", "passed", "1", "1"]
    assert gate[16:] == ["2024-01-03", "wide_deep", "2024-01-03T06:01:00", "FAILED", "–", "1",
                         "auc = 0.5, required &gt;= 0.52", "auc = 0.5 (&gt;= 0.52)"]
    assert cells(section(page, "blessed")) == ["lr", "1", "2024-01-03", "2024-01-03T06:00:00", "True", "1",
                                               "wide_deep", "1", "2024-01-03", "2024-01-03T06:01:00", "False", "1"]
    scaled = section(page, "scaling")
    assert "<img" in scaled
    assert cells(scaled) == ["2000000", "3", "50.00", "25.00", "1000000", "3", "40.00", "40.00"]
    assert page.count('class="nodata"') == 0


def test_missing_tables_say_no_data(cfg, tmp_path):
    page = report.build_report(cfg, D1, D2, tmp_path / "absent.json")
    for key in ("volumes", "labels", "drift", "recall", "models", "gate", "blessed", "scaling"):
        assert 'class="nodata"' in section(page, key), key
    assert "no gate has run yet" in section(page, "gate")


def test_daily_volumes_tells_a_missing_table_from_an_empty_day():
    events = pd.DataFrame({"dt": [D1], "rows": [5]})
    volumes = report_data.daily_volumes([D1, D2], events, None, None)
    assert volumes["events"].tolist() == [5, 0]
    assert volumes["samples"].isna().all() and volumes["quarantined"].isna().all()


def test_feature_drifts_order_and_skip_unmeasurable():
    previous = {"a": np.array([1.0, 2.0, 3.0, 4.0]), "b": np.array([1.0, 2.0, 3.0, 4.0]), "c": np.array([])}
    current = {"a": np.array([1.0, 2.0, 3.0, 4.0]), "b": np.array([3.0, 4.0, 5.0, 6.0]), "c": np.array([1.0])}
    drifts = report_data.feature_drifts(previous, current, bins=2)
    assert [name for name, _ in drifts] == ["b", "a"]
    assert drifts[0][1] == pytest.approx(FULL_SHIFT_PSI) and drifts[1][1] == pytest.approx(0.0)


def test_blessed_version_is_that_of_the_latest_decision_up_to_the_last_day():
    registry = pd.DataFrame([registry_row("m", "2024-01-02", "2024-01-02T01", 3, True, 3),
                             registry_row("m", "2024-01-03", "2024-01-03T01", None, False, 3),
                             registry_row("m", "2024-01-04", "2024-01-04T01", 4, True, 4)])
    blessed = report_data.blessed_versions(registry, D2)
    assert blessed.to_dict("records") == [{"model": "m", "blessed_version": 3, "ds": "2024-01-03",
                                           "decided_at": "2024-01-03T01", "last_passed": False, "published": 1}]


def test_two_decisions_within_one_second_sort_in_the_order_they_were_made():
    # The registry is ordered by decided_at (the report's latest decision, the gate test's history), and a re-run
    # of the gate followed by a rejection can both land within one second.
    decision = Decision("m", dt.date(2024, 1, 2), [], {}, None, None, None, None, 0.0)
    stamps = [decision.registry_row()["decided_at"] for _ in range(50)]
    assert stamps == sorted(stamps) and len(set(stamps)) > 1
    assert all(dt.datetime.fromisoformat(s).tzinfo is not None for s in stamps)


def test_main_writes_the_default_path_and_rejects_a_reversed_range(lake, tmp_path, capsys):
    conf = overlays_for(tmp_path, MOVIELENS, gate=GATE)
    assert report.main(["--start", str(D1), "--end", str(D2), "--conf", conf, "--scaling", str(tmp_path / "x")]) == 0
    out = tmp_path / "artifacts" / "reports" / f"report_{D1}_{D2}.html"
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert report.main(["--start", str(D2), "--end", str(D1), "--conf", conf]) == 1
    assert "before --start" in capsys.readouterr().err


def test_drift_lists_the_gated_features_beyond_the_top(lake, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "TOP_DRIFTS", 1)
    drift = cells(section(report.build_report(lake, D1, D2, tmp_path / "absent.json"), "drift"))
    assert [(day, rank, name) for day, rank, name in zip(drift[::7], drift[2::7], drift[3::7])] == [
        ("2024-01-02", "1", "item_mean_rating_30d"), ("2024-01-02", "2", "user_age"), ("2024-01-03", "1", "user_age")]


def test_drift_after_a_day_without_samples_is_against_the_last_day_with_samples(lake, tmp_path):
    DeltaTable(lake.table_path("samples")).delete(f"dt = '{D1}'")  # D1 is an empty day
    drift = cells(section(report.build_report(lake, D1, D2, tmp_path / "absent.json"), "drift"))
    assert {(day, against) for day, against in zip(drift[::7], drift[1::7])} == {(str(D2), str(DAY0))}
    # The same when the range starts after the empty day: the reference is the gate's, whatever the range.
    drift = cells(section(report.build_report(lake, D2, D2, tmp_path / "absent.json"), "drift"))
    assert {(day, against) for day, against in zip(drift[::7], drift[1::7])} == {(str(D2), str(DAY0))}


def test_drift_has_no_reference_beyond_the_training_days_as_in_the_gate(cfg, lake, tmp_path):
    DeltaTable(lake.table_path("samples")).delete(f"dt = '{D1}'")
    two_days = config_for(tmp_path, MOVIELENS, gate=GATE, ranker={"train_days": 2})  # D2's are DAY0 (fit) and D1
    assert report.drift_section(two_days, [D2]).body.count("no day of the range has samples and a reference") == 1

"""A gate decision (models.validate_and_export) and its record: a row appended to the `model_registry` table and
the full report at `<artifact_root>/gate/<model>/<D>/report.json`."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from core.config_schema import PipelineConfig
from core.delta_arrow import committed
from core.tables import MODEL_REGISTRY_TABLE
from models.checks import Check

GATE_REPORTS = "gate"
REGISTRY_SCHEMA = pa.schema([
    ("model", pa.string()), ("ds", pa.string()), ("decided_at", pa.string()), ("version", pa.int64()),
    ("passed", pa.bool_()), ("blessed_version", pa.int64()), ("reason", pa.string()), ("checks", pa.string()),
    ("metrics", pa.string()), ("baseline_version", pa.int64()), ("export_bytes", pa.int64()),
    ("parity_max_abs_error", pa.float64()), ("gate_seconds", pa.float64()),
])


@dataclass(frozen=True)
class Decision:
    model: str
    ds: dt.date
    checks: list[Check]
    metrics: dict
    baseline_version: int | None
    version: int | None  # the published version; None when the gate failed
    blessed_version: int | None  # served after this decision
    export_bytes: int | None
    seconds: float

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reason(self) -> str:
        """One line: the first failed check, its value and threshold (and how many more failed)."""
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            return ""
        more = f" (and {len(failed) - 1} more failed checks)" if len(failed) > 1 else ""
        return failed[0].reason() + more

    def parity_error(self) -> float | None:
        return next((c.value for c in self.checks if c.check == "serving_parity"), None)

    def registry_row(self) -> dict:
        return {"model": self.model, "ds": self.ds.isoformat(),
                "decided_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
                "version": self.version, "passed": self.passed, "blessed_version": self.blessed_version,
                "reason": self.reason, "checks": json.dumps([c.as_dict() for c in self.checks]),
                "metrics": json.dumps(self.metrics), "baseline_version": self.baseline_version,
                "export_bytes": self.export_bytes, "parity_max_abs_error": self.parity_error(),
                "gate_seconds": round(self.seconds, 2)}


def record(cfg: PipelineConfig, decision: Decision) -> Path:
    """Append the decision to the registry table and write the full report; returns the report's path."""
    from deltalake import write_deltalake

    row = decision.registry_row()  # once: the table and the report carry the same decided_at
    # Two models' gates decide side by side: on a new lake both create the table, and one of them commits again.
    committed(lambda: write_deltalake(cfg.table_path(MODEL_REGISTRY_TABLE),
                                      pa.Table.from_pylist([row], REGISTRY_SCHEMA), mode="append"))
    report = cfg.artifact_path(GATE_REPORTS, decision.model, decision.ds.isoformat(), "report.json")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({**row, "checks": [c.as_dict() for c in decision.checks],
                                  "metrics": decision.metrics}, indent=1))
    return report

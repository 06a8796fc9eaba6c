"""The validation gate over a range of days, as the daily DAG runs it: for each D and model, train the candidate
(unless one exists for D) and gate it against the version blessed so far.

    python -m bench.gate_week --lake DIR --start 1998-04-16 --end 1998-04-22 [--models wide_deep,deepfm]

The lake must hold the samples (e.g. from jobs.backfill). Exports go to DIR/_exports (a fresh directory per run,
so the first day of the range has no blessed model). Figures per decision: pass/fail and the reason, the gate's
seconds, the export's size and the parity error of the fresh-process probe.
"""
from __future__ import annotations

import shutil

from bench.common import lake_config, lake_days_parser, result_name, write_result
from core.days import date_range
from core.tables import MODEL_REGISTRY_TABLE
from models.train import CANDIDATES, train
from models.validate_and_export import validate_and_export


def main(argv: list[str] | None = None) -> None:
    args = lake_days_parser(__doc__, "wide_deep,deepfm").parse_args(argv)
    exports = f"{args.lake}/_exports"
    shutil.rmtree(exports, ignore_errors=True)
    shutil.rmtree(f"{args.lake}/{MODEL_REGISTRY_TABLE}", ignore_errors=True)
    cfg = lake_config("gate_week", args, gate={"export_root": exports})
    decisions = []
    for day in date_range(args.start, args.end):
        for name in args.models.split(","):
            if not cfg.artifact_path(CANDIDATES, name, day.isoformat(), "model.keras").is_file():
                train(cfg, day, name)
            decision = validate_and_export(cfg, day, name)
            row = {"ds": day.isoformat(), "model": name, "passed": decision.passed, "version": decision.version,
                   "blessed_version": decision.blessed_version, "reason": decision.reason,
                   "auc": decision.metrics.get("auc"), "gate_seconds": round(decision.seconds, 1),
                   "export_bytes": decision.export_bytes, "parity_max_abs_error": decision.parity_error()}
            decisions.append(row)
            print(" ".join(f"{key}={value}" for key, value in row.items()), flush=True)
    published = [d for d in decisions if d["export_bytes"]]
    write_result(result_name("gate_week", cfg, args), dataset=cfg.dataset.name, days=[args.start, args.end],
                 rows=len(decisions), compared="gate decisions per day and model", decisions=decisions,
                 seconds=round(sum(d["gate_seconds"] for d in decisions), 1),
                 ratio={"passed": sum(d["passed"] for d in decisions) / len(decisions),
                        "max_parity_error": max((d["parity_max_abs_error"] or 0.0 for d in decisions), default=None),
                        "mean_export_bytes": sum(d["export_bytes"] for d in published) / len(published)
                        if published else None})


if __name__ == "__main__":
    main()

"""The gate's null-rate checks per day of a lake, measured both ways: over all of D's rows, and (the gate's way) a
history feature over the rows whose user or item has a history (models.checks.WarmRows). Also, per day, a join gone
wrong: every user-history feature, then every item-history one, nulled on all rows; the gate must fail it.

    python -m bench.gate_nulls --lake DIR --start 1997-11-28 --end 1997-12-12 [--dataset movielens_100k]

The lake must hold the samples and daily rollups of those days (e.g. from jobs.backfill). Figures per day: rows,
share of rows whose user (item) has a history, the null checks each way fails, and how many checks fail on each
broken join (0 only where no row has a history, so there is nothing a join could have lost).
"""
from __future__ import annotations

import pyarrow as pa

from bench.common import lake_config, lake_days_parser, result_name, write_result
from core.days import date_range
from core.delta_arrow import partition_days
from core.tables import SAMPLES_TABLE
from models.checks import data_checks
from models.gate_data import checked_day
from models.sample_batches import latest_snapshot
from models.train import model_spec


def failed_null_checks(checks) -> list[str]:
    return sorted(c.check for c in checks if not c.passed and c.check.startswith("null_rate:"))


def main(argv: list[str] | None = None) -> None:
    args = lake_days_parser(__doc__, "").parse_args(argv)
    cfg = lake_config("gate_nulls", args)
    snapshot = latest_snapshot(cfg.table_path(SAMPLES_TABLE))
    spec = model_spec(cfg)
    with_samples = partition_days(cfg.table_path(SAMPLES_TABLE), "dt")
    days, rows = [], 0
    for ds in [day for day in date_range(args.start, args.end) if day in with_samples]:
        checked = checked_day(cfg, spec, snapshot, ds)  # what the gate reads and how it measures each null rate
        today = checked.today

        def failed(table: pa.Table, by_history: bool) -> list[str]:
            return failed_null_checks(data_checks(table, None, checked.features, checked.labels, cfg.gate.data,
                                                  checked.eventless, checked.warm if by_history else None))

        broken = {}
        for entity in ("user", "item"):
            nulled = today
            for f in spec.features:
                if f.history_of == entity and f.name in checked.features:
                    column = nulled.schema.field(f.name)
                    nulled = nulled.set_column(nulled.column_names.index(f.name), column,
                                               pa.nulls(today.num_rows, column.type))
            broken[entity] = len(failed(nulled, by_history=True))
        shares = {w.entity: round(float(w.mask.mean()), 4) for w in checked.warm.values()} if today.num_rows else {}
        day = {"dt": str(ds), "rows": today.num_rows, "share_with_history": shares,
               "failed_over_all_rows": failed(today, by_history=False),
               "failed_on_rows_with_history": failed(today, by_history=True),
               "failed_checks_with_the_user_join_broken": broken["user"],
               "failed_checks_with_the_item_join_broken": broken["item"]}
        print(day, flush=True)
        days.append(day)
        rows += today.num_rows
    write_result(
        result_name("gate_nulls", cfg, args), dataset=cfg.dataset.name, rows=rows, seconds={},
        ratio={"days_failing_over_all_rows": sum(bool(d["failed_over_all_rows"]) for d in days),
               "days_failing_on_rows_with_history": sum(bool(d["failed_on_rows_with_history"]) for d in days),
               "days": len(days)},
        compared="the gate's null checks over all rows vs on the rows with a history; broken joins per day",
        days=days)


if __name__ == "__main__":
    main()

"""Run report: one self-contained HTML page (plots embedded as PNG) on how the days of a range went.

    python -m models.report --start 1998-04-09 --end 1998-04-22 --conf conf/local.yaml,conf/datasets/movielens_100k.yaml

Sections: data volumes and quarantine per day, label rates, the top feature drifts (PSI of D against D-1), recall@K
per source, each ranker's AUC/logloss/GAUC/calibration with the gate thresholds, the gate decisions with reasons,
the blessed version per model, and the scaling benchmark when its result exists. It reads only lake tables (through
`deltalake`, no JVM) and the model registry; a table that is missing or empty in the range shows "no data".
Default output: `<artifact_root>/reports/report_<start>_<end>.html`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from core.cli import one_line_errors, parse_day
from core.config import REPO_ROOT, add_conf_option, load_config
from core.config_schema import PipelineConfig
from core.days import date_range
from core.delta_arrow import is_delta_table, partition_days
from core.errors import PipelineError
from core.tables import (
    EVENTS_QUARANTINE_TABLE,
    EVENTS_TABLE,
    MODEL_REGISTRY_TABLE,
    RANKER_METRICS_TABLE,
    RECALL_METRICS_TABLE,
    SAMPLES_TABLE,
)
from features.samples import label_columns
from features.spec import feature_spec
from models.days import TrainingDays
from models.report_data import (
    blessed_versions,
    daily_volumes,
    failed_checks,
    feature_drifts,
    gate_decisions,
    gate_thresholds,
    label_rates,
    model_series,
    read_day_counts,
    read_table,
    recall_series,
    scaling_points,
)
from models.report_html import Section, html_table, lines_plot, no_data, render, scaling_plot, volumes_plot

SCALING_RESULT = REPO_ROOT / "bench" / "results" / "scaling.json"
TOP_DRIFTS = 5  # features listed per day, besides the gated ones
SHOWN_FAILED_CHECKS = 6  # per decision; the registry's `checks` holds them all
MODEL_METRICS = ("auc", "logloss", "gauc", "calibration")


# ---------------------------------------------------------------- sections

def volumes_section(cfg: PipelineConfig, days: Sequence[dt.date]) -> Section:
    first, last = days[0], days[-1]
    events = read_day_counts(cfg.table_path(EVENTS_TABLE), "dt", first, last)
    quarantine = read_day_counts(cfg.table_path(EVENTS_QUARANTINE_TABLE), "dt", first, last, by=("reason",))
    samples = read_day_counts(cfg.table_path(SAMPLES_TABLE), "dt", first, last)
    if events is None and samples is None:
        missing = no_data(f"no events or samples table under {cfg.lake_root}")
        return Section("volumes", "Data volumes and quarantine", missing)
    volumes = daily_volumes(days, events, quarantine, samples)
    notes = "".join(no_data(f"table {name} not found") for name, counts in
                    ((EVENTS_TABLE, events), (EVENTS_QUARANTINE_TABLE, quarantine), (SAMPLES_TABLE, samples))
                    if counts is None)
    return Section("volumes", "Data volumes and quarantine", volumes_plot(volumes) + notes + html_table(volumes))


def labels_section(cfg: PipelineConfig, first: dt.date, last: dt.date) -> Section:
    labels = label_columns(cfg.samples.mode)
    samples = read_table(cfg.table_path(SAMPLES_TABLE), ["dt", *labels], "dt", first, last)
    if samples is None or samples.empty:
        return Section("labels", "Label rates", no_data(f"no samples of {first}..{last}"))
    rates = label_rates(samples, labels)
    plot = lines_plot({"label rate": rates.set_index("dt")[[c for c in labels if c in rates.columns]]})
    return Section("labels", "Label rates", plot + html_table(rates))


def drift_section(cfg: PipelineConfig, days: Sequence[dt.date]) -> Section:
    """PSI of D against the gate's reference day (D-1; after an empty day, the latest earlier day with samples among
    D's training days: models.days.TrainingDays.validation) from the samples themselves (the gate's own measure:
    core.metrics.psi with its bins), so the report covers every day and every numeric feature, gated or not; `gated`
    marks the features the gate holds to max_psi (gate.data.drift_features, all numerics when empty)."""
    limits = cfg.gate.data
    numerics = [f.name for f in feature_spec(cfg).features if f.kind == "numeric"]
    gated = set(limits.drift_features or numerics)
    path = cfg.table_path(SAMPLES_TABLE)

    def day_values(day: dt.date) -> dict[str, np.ndarray] | None:  # one day at a time: memory follows a day
        frame = read_table(path, numerics, "dt", day, day) if day in with_samples else None
        if frame is None or frame.empty:
            return None
        return {name: frame[name].to_numpy(dtype=float) for name in frame.columns}

    if not is_delta_table(path):
        return Section("drift", "Top feature drifts", no_data(f"no samples table at {path}"))
    with_samples = partition_days(path, "dt")
    rows, worst = [], {}
    last_read: tuple[dt.date, dict[str, np.ndarray] | None] | None = None  # usually the next day's reference
    for day in days:
        today = day_values(day)
        against = TrainingDays.as_of(day, cfg.ranker.train_days, with_samples, cfg.samples.attribution_days).validation
        before = last_read[1] if last_read and last_read[0] == against else day_values(against)
        last_read = (day, today)
        if today is None or before is None:  # an empty day, or no reference among its training days
            continue
        drifts = feature_drifts(before, today, limits.drift_bins)
        gated_drifts = [value for name, value in drifts if name in gated]
        if gated_drifts:
            worst[day] = gated_drifts[0]
        for rank, (name, value) in enumerate(drifts, start=1):
            if rank > TOP_DRIFTS and name not in gated:
                continue
            rows.append({"dt": day, "against": against, "rank": rank, "feature": name, "psi": value,
                         "gated": "yes" if name in gated else "",
                         "over max_psi": "yes" if value > limits.max_psi else ""})
    if not rows:
        return Section("drift", "Top feature drifts",
                       no_data("no day of the range has samples and a reference day with samples"))
    threshold = [(f"max_psi {limits.max_psi:g}", limits.max_psi)]
    plot = lines_plot({"largest psi of a gated feature": pd.DataFrame({"psi": pd.Series(worst)})},
                      thresholds={"largest psi of a gated feature": threshold})
    note = (f"<p>PSI of each numeric feature of the samples of D against D-1, or, when D-1 has none, against the "
            f"latest earlier day with samples among D's training days, as the gate measures it (<i>against</i>; "
            f"{limits.drift_bins} quantile bins of that day, missing "
            f"values a bin of their own): the {TOP_DRIFTS} largest per day, and every <i>gated</i> "
            f"feature, the ones the gate holds to max_psi {limits.max_psi:g}.</p>")
    return Section("drift", "Top feature drifts", note + plot + html_table(pd.DataFrame(rows)))


def recall_section(cfg: PipelineConfig, first: dt.date, last: dt.date) -> Section:
    metrics = read_table(cfg.table_path(RECALL_METRICS_TABLE), None, "as_of", first, last)
    if metrics is None or metrics.empty:
        return Section("recall", "Recall@K per source", no_data(f"no recall_metrics as of {first}..{last}"))
    series = recall_series(metrics)
    plot = lines_plot({f"recall@{k}": frame for k, frame in series.items()}, ylabel="recall")
    latest = metrics[metrics["as_of"] == metrics["as_of"].max()].sort_values(["k", "source"])
    table = html_table(latest[["as_of", "source", "k", "users", "recall", "hit_rate", "precision", "ndcg",
                               "coverage"]])
    return Section("recall", "Recall@K per source", plot + f"<p>Latest day ({latest['as_of'].iloc[0]}):</p>" + table)


def models_section(cfg: PipelineConfig, first: dt.date, last: dt.date) -> Section:
    metrics = read_table(cfg.table_path(RANKER_METRICS_TABLE))
    if metrics is not None:
        metrics = metrics[(metrics["ds"] >= first.isoformat()) & (metrics["ds"] <= last.isoformat())]
    if metrics is None or metrics.empty:
        return Section("models", "Ranker metrics", no_data(f"no ranker_metrics for {first}..{last}"))
    present = [m for m in MODEL_METRICS if m in metrics.columns]
    plot = lines_plot({m: model_series(metrics, m) for m in present}, thresholds=gate_thresholds(cfg))
    columns = ["ds", "model", *present, *[c for c in ("rows", "label_rate") if c in metrics.columns]]
    note = "<p>Dashed red: the gate's bounds (cfg.gate.model); GAUC has none.</p>"
    return Section("models", "Ranker metrics", plot + note + html_table(metrics.sort_values(["ds", "model"])[columns]))


def gate_sections(cfg: PipelineConfig, first: dt.date, last: dt.date) -> list[Section]:
    registry = read_table(cfg.table_path(MODEL_REGISTRY_TABLE))
    if registry is None:
        missing = no_data(f"no model registry at {cfg.table_path(MODEL_REGISTRY_TABLE)} (no gate has run yet)")
        return [Section("gate", "Gate decisions", missing), Section("blessed", "Blessed version per model", missing)]
    decisions = gate_decisions(registry, first, last)
    if decisions.empty:
        gate = no_data(f"no gate decision on {first}..{last}")
    else:
        shown = decisions.assign(
            passed=decisions["passed"].map(lambda p: "passed" if p else "FAILED"),
            version=decisions["version"].astype("Int64"),
            blessed_version=decisions["blessed_version"].astype("Int64"),
            failed_checks=decisions["checks"].map(lambda c: _first(failed_checks(c), SHOWN_FAILED_CHECKS)))
        gate = html_table(shown[["ds", "model", "decided_at", "passed", "version", "blessed_version", "reason",
                                 "failed_checks"]])
    blessed = blessed_versions(registry, last)
    return [Section("gate", "Gate decisions", gate),
            Section("blessed", "Blessed version per model",
                    html_table(blessed) if not blessed.empty else no_data(f"no decision up to {last}"))]


def scaling_section(path: Path) -> Section:
    if not path.is_file():
        return Section("scaling", "Scaling (benchmark)", no_data(f"no scaling result at {path}; run "
                                                                 "python -m bench.scaling"))
    result = json.loads(path.read_text())
    points = scaling_points(result)
    table = pd.DataFrame([{"events": s["events"], "days": s.get("days"), "seconds": s["seconds"],
                           "seconds per million events": s["seconds_per_million_events"]} for s in result["sizes"]])
    note = (f"<p>Every Spark day job over a synthetic log, commit {html.escape(str(result.get('commit')))}, "
            f"{result.get('machine', {}).get('cores')} cores{' (quick mode)' if result.get('quick') else ''}.</p>")
    return Section("scaling", "Scaling (benchmark)", note + scaling_plot(points) + html_table(table, digits=2))


def build_report(cfg: PipelineConfig, first: dt.date, last: dt.date, scaling: Path = SCALING_RESULT) -> str:
    if last < first:
        raise PipelineError(f"--end {last} is before --start {first}")
    days = date_range(first, last)
    sections = [volumes_section(cfg, days), labels_section(cfg, first, last), drift_section(cfg, days),
                recall_section(cfg, first, last), models_section(cfg, first, last),
                *gate_sections(cfg, first, last), scaling_section(scaling)]
    summary = (f"Dataset <b>{html.escape(cfg.dataset.name)}</b>, days {first}..{last}, lake "
               f"<code>{html.escape(cfg.lake_root)}</code>.")
    return render(f"dailyrec run report {first}..{last}", summary, sections)


def default_output(cfg: PipelineConfig, first: dt.date, last: dt.date) -> Path:
    return cfg.artifact_path("reports", f"report_{first}_{last}.html")


def _first(items: list[str], count: int) -> str:
    more = f" (and {len(items) - count} more)" if len(items) > count else ""
    return "; ".join(items[:count]) + more


@one_line_errors()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=parse_day, help="first day (default: 13 days before --end)")
    parser.add_argument("--end", type=parse_day, required=True, help="last day, included")
    add_conf_option(parser)
    parser.add_argument("--out", type=Path,
                        help="HTML file (default <artifact_root>/reports/report_<start>_<end>.html)")
    parser.add_argument("--scaling", type=Path, default=SCALING_RESULT, help="bench/scaling result to plot")
    args = parser.parse_args(argv)
    first = args.start or args.end - dt.timedelta(days=13)
    cfg = load_config(args.conf)
    page = build_report(cfg, first, args.end, args.scaling)
    out = args.out or default_output(cfg, first, args.end)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.tmp")
    staging.write_text(page)
    staging.replace(out)  # a reader never sees half a page
    print(f"report {first}..{args.end}: {out} ({len(page) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import base64
import datetime as dt
import html
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from core.cli import parse_day
from core.config import REPO_ROOT, PipelineConfig, add_conf_option, date_range, load_config
from core.delta_arrow import delta_dataset, is_delta_table, partition_days
from core.errors import PipelineError
from core.metrics import psi
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

SCALING_RESULT = REPO_ROOT / "bench" / "results" / "scaling.json"
TOP_DRIFTS = 5  # features listed per day, besides the gated ones
SHOWN_FAILED_CHECKS = 6  # per decision; the registry's `checks` holds them all
MODEL_METRICS = ("auc", "logloss", "gauc", "calibration")


# ---------------------------------------------------------------- reading (the only I/O besides main)

def read_table(path: str, columns: Sequence[str] | None = None, day_column: str | None = None,
               first: dt.date | None = None, last: dt.date | None = None) -> pd.DataFrame | None:
    """The rows of a Delta table (partitions day_column in [first, last] when given); None when no table is there."""
    import pyarrow.dataset as pads

    if not is_delta_table(path):
        return None
    dataset = delta_dataset(path)
    wanted = [c for c in columns if c in dataset.schema.names] if columns is not None else None
    where = None
    if day_column is not None:
        where = (pads.field(day_column) >= first) & (pads.field(day_column) <= last)
    return dataset.to_table(columns=wanted, filter=where).to_pandas()


def read_day_counts(path: str, day_column: str, first: dt.date, last: dt.date,
                    by: Sequence[str] = ()) -> pd.DataFrame | None:
    """Rows per day (and per `by` columns) of a Delta table in [first, last]; None when no table is there."""
    frame = read_table(path, [day_column, *by], day_column, first, last)
    if frame is None:
        return None
    return frame.groupby([day_column, *by]).size().rename("rows").reset_index()


# ---------------------------------------------------------------- pure figures

def daily_volumes(days: Sequence[dt.date], events: pd.DataFrame | None, quarantine: pd.DataFrame | None,
                  samples: pd.DataFrame | None) -> pd.DataFrame:
    """One row per day: events written, rows quarantined (total and `reason=count, ...`), samples.

    `events`/`samples` hold (dt, rows), `quarantine` (dt, reason, rows); a missing table gives NaN, a day absent
    from a present table 0."""
    table = pd.DataFrame({"dt": list(days)})
    for name, counts in (("events", events), ("samples", samples)):
        per_day = {} if counts is None else dict(zip(counts["dt"], counts["rows"]))
        table[name] = [per_day.get(day, 0) if counts is not None else np.nan for day in days]
    totals, reasons = {}, {}
    if quarantine is not None:
        for day, rows in quarantine.groupby("dt"):
            totals[day] = int(rows["rows"].sum())
            reasons[day] = ", ".join(f"{r}={n}" for r, n in sorted(zip(rows["reason"], rows["rows"])))
    table["quarantined"] = [totals.get(day, 0) if quarantine is not None else np.nan for day in days]
    table["quarantine_reasons"] = [reasons.get(day, "") for day in days]
    return table


def label_rates(samples: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Per day: rows and the mean of each label column (a label missing from the table is left out)."""
    present = [label for label in labels if label in samples.columns]
    grouped = samples.groupby("dt")
    rates = grouped[present].mean() if present else pd.DataFrame(index=grouped.size().index)
    return rates.assign(rows=grouped.size()).reset_index()[["dt", "rows", *present]]


def feature_drifts(previous: Mapping[str, np.ndarray], current: Mapping[str, np.ndarray],
                   bins: int) -> list[tuple[str, float]]:
    """PSI of each feature's values on D (current) against D-1 (previous), the largest first; features that
    cannot be measured (a side without rows) are left out."""
    drifts = []
    for name in sorted(current.keys() & previous.keys()):
        value = psi(previous[name], current[name], bins)
        if value is not None:
            drifts.append((name, value))
    return sorted(drifts, key=lambda item: (-item[1], item[0]))


def recall_series(metrics: pd.DataFrame, metric: str = "recall") -> dict[int, pd.DataFrame]:
    """K -> a frame indexed by as_of with one column per source, of `metric`."""
    return {int(k): rows.pivot_table(index="as_of", columns="source", values=metric).sort_index()
            for k, rows in metrics.groupby("k")}


def model_series(metrics: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A frame indexed by ds with one column per model, of `metric` (days without the model are NaN)."""
    return metrics.pivot_table(index="ds", columns="model", values=metric).sort_index()


def gate_thresholds(cfg: PipelineConfig) -> dict[str, list[tuple[str, float]]]:
    """Metric -> the gate's bounds on it, as (label, value) lines to draw."""
    model = cfg.gate.model
    return {"auc": [(f"min_auc {model.min_auc:g}", model.min_auc)],
            "logloss": [(f"max_logloss {model.max_logloss:g}", model.max_logloss)],
            "gauc": [],
            "calibration": [(f"calibration min {model.calibration[0]:g}", model.calibration[0]),
                            (f"calibration max {model.calibration[1]:g}", model.calibration[1])]}


def failed_checks(checks: str | None) -> list[str]:
    """`name = value (threshold)` of every failed check of a registry row's JSON list."""
    failed = []
    for check in json.loads(checks) if checks else []:
        if not check.get("passed", True):
            value = "none" if check.get("value") is None else f"{check['value']:.4g}"
            failed.append(f"{check['check']} = {value} ({check.get('threshold', '')})")
    return failed


def gate_decisions(registry: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """The registry's decisions on days in [first, last], in decision order."""
    in_range = registry[(registry["ds"] >= first.isoformat()) & (registry["ds"] <= last.isoformat())]
    return in_range.sort_values(["decided_at", "model"]).reset_index(drop=True)


def blessed_versions(registry: pd.DataFrame, last: dt.date) -> pd.DataFrame:
    """Per model, after its latest decision on a day up to `last`: the blessed version, that decision's day and
    time and whether it passed, and how many versions were published so far."""
    known = registry[registry["ds"] <= last.isoformat()].sort_values("decided_at")
    rows = []
    for model, decisions in known.groupby("model"):
        latest = decisions.iloc[-1]
        rows.append({"model": model, "blessed_version": _int_or_none(latest["blessed_version"]),
                     "ds": latest["ds"], "decided_at": latest["decided_at"], "last_passed": bool(latest["passed"]),
                     "published": int(decisions["version"].notna().sum())})
    columns = ["model", "blessed_version", "ds", "decided_at", "last_passed", "published"]
    return pd.DataFrame(rows, columns=columns).astype({"blessed_version": "Int64"})


def scaling_points(result: Mapping) -> list[tuple[int, float]]:
    """(events, seconds per million events) of a bench/scaling result, by size."""
    return sorted((int(size["events"]), float(size["seconds_per_million_events"])) for size in result["sizes"])


# ---------------------------------------------------------------- rendering

@dataclass(frozen=True)
class Section:
    key: str  # the section's HTML id
    title: str
    body: str


def no_data(what: str) -> str:
    return f'<p class="nodata">no data: {html.escape(what)}</p>'


def html_table(frame: pd.DataFrame, digits: int = 4) -> str:
    def cell(value) -> str:
        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            return "–"
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}f}"
        return html.escape(str(value))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png(figure) -> str:
    """The figure as an embedded <img>; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on a scheduler worker
    import matplotlib.pyplot as plt

    return plt


def lines_plot(series: Mapping[str, pd.DataFrame], ylabel: str = "", thresholds=None) -> str:
    """One subplot per series (title -> frame indexed by day, one line per column), threshold lines dashed."""
    plt = _pyplot()
    from matplotlib.dates import DateFormatter

    figure, axes = plt.subplots(1, len(series), figsize=(4.6 * len(series), 3.2), squeeze=False)
    for axis, (title, frame) in zip(axes[0], series.items()):
        days = pd.to_datetime([str(day) for day in frame.index])  # a date axis: a day without data leaves a gap
        for column in frame.columns:
            axis.plot(days, frame[column].to_numpy(dtype=float), marker="o", markersize=3, label=str(column))
        axis.xaxis.set_major_formatter(DateFormatter("%m-%d"))
        for label, value in (thresholds or {}).get(title, []):
            axis.axhline(value, color="red", linestyle="--", linewidth=1, label=label)
        axis.set_title(title)
        axis.set_ylabel(ylabel or title)
        axis.tick_params(axis="x", labelrotation=60, labelsize=7)
        axis.legend(fontsize=7)
    figure.tight_layout()
    return png(figure)


def volumes_plot(volumes: pd.DataFrame) -> str:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(9, 3.2))
    labels = [str(day)[5:] for day in volumes["dt"]]
    x = np.arange(len(labels))
    for offset, column in ((-0.27, "events"), (0, "samples"), (0.27, "quarantined")):
        axis.bar(x + offset, volumes[column].fillna(0).to_numpy(dtype=float), width=0.27, label=column)
    axis.set_xticks(x, labels, rotation=60, fontsize=7)
    axis.set_ylabel("rows")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return png(figure)


def scaling_plot(points: Sequence[tuple[int, float]]) -> str:
    plt = _pyplot()
    from matplotlib.ticker import ScalarFormatter

    figure, axis = plt.subplots(figsize=(5, 3.2))
    millions = [events / 1e6 for events, _ in points]
    axis.plot(millions, [value for _, value in points], marker="o")
    if millions[-1] >= 10 * millions[0]:  # 1M .. 50M: a log axis; a narrow range reads better on a linear one
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.set_xlabel("events in the log (millions)")
    axis.set_ylabel("seconds per million events")
    axis.set_ylim(bottom=0)
    figure.tight_layout()
    return png(figure)


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


STYLE = """body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f0f0f0}.nodata{color:#a60;font-style:italic}
img{max-width:100%}section{margin-bottom:2em}"""


def render(title: str, summary: str, sections: Sequence[Section]) -> str:
    toc = " · ".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>{s.body}</section>' for s in sections)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>{summary}</p><p>{toc}</p>{body}"
            "</body></html>\n")


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


def _int_or_none(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


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
    try:
        cfg = load_config(args.conf)
        page = build_report(cfg, first, args.end, args.scaling)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = args.out or default_output(cfg, first, args.end)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.tmp")
    staging.write_text(page)
    staging.replace(out)  # a reader never sees half a page
    print(f"report {first}..{args.end}: {out} ({len(page) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The run report's page: tables, embedded PNG plots (matplotlib, headless) and the HTML around them."""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd


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

"""Charts for the report as inline SVG, drawn with matplotlib (no pyplot, no display).

Why SVG text as text (``svg.fonttype = none``): the page stays small, sharp at any zoom, and
its labels are searchable. Each function takes a panel's rows and returns an ``<svg>`` string,
or None when there is nothing to draw (the table below the chart still says so). Suppressed
values are None and are left out of the drawing; the caption counts them.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any, cast

import matplotlib
import matplotlib.dates as mdates
from matplotlib.figure import Figure

from fieldstream.report.model import PanelData, as_float, as_time, is_number

PALETTE = ("#3b6fb6", "#e07b39", "#3a9a5b", "#c23b4e", "#7d5ba6", "#8c6d46", "#d46fb5", "#6f7d8c")
PACE = "#9aa3ad"
RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e6ea",
    "axes.axisbelow": True,
}
COORDINATES = ("latitude", "longitude")


def _style(grid: bool = True) -> Any:
    """matplotlib's rc_context with the report's look (its stubs want literal keys)."""
    return matplotlib.rc_context(cast(Any, {**RC, "axes.grid": grid}))


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    start = text.find("<svg")
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", text[start:], flags=re.S).strip()
    # scale with the card, keep the aspect ratio the figure was drawn with
    return re.sub(
        r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 width="100%"', svg, count=1
    )


def _figure(height: float = 3.0) -> Figure:
    return Figure(figsize=(6.4, height), layout="constrained")


def _label_columns(panel: PanelData) -> list[int]:
    return [
        i
        for i, c in enumerate(panel.columns)
        if not any(is_number(r[i]) for r in panel.rows) and as_time(_first(panel, i)) is None
    ]


def _first(panel: PanelData, i: int) -> object:
    return next((r[i] for r in panel.rows if r[i] is not None), None)


def _value_columns(panel: PanelData, pattern: str | None = None) -> list[int]:
    regex = re.compile(pattern.strip("/")) if pattern else None
    out = []
    for i, c in enumerate(panel.columns):
        if c in COORDINATES or not any(is_number(r[i]) for r in panel.rows):
            continue
        if regex is None or regex.search(c):
            out.append(i)
    return out


def _percent(panel: PanelData, cols: Sequence[int]) -> float:
    """Scale so percentunit columns are drawn as percent (0.42 -> 42)."""
    units = {panel.units.get(panel.columns[i]) for i in cols}
    return 100.0 if units == {"percentunit"} else 1.0


def timeseries(panel: PanelData) -> str | None:
    """One series per numeric column and label value (Grafana's long-to-wide)."""
    times = [as_time(r[0]) for r in panel.rows]
    labels, values = _label_columns(panel), _value_columns(panel)
    if not values or any(t is None for t in times):
        return None
    scale = _percent(panel, values)
    series: dict[str, list[tuple[Any, float]]] = {}
    for t, r in zip(times, panel.rows, strict=True):
        tag = " ".join(str(r[i]) for i in labels)
        for i in values:
            v = as_float(r[i])
            if v is not None:
                name = (
                    f"{tag} {panel.columns[i]}".strip()
                    if len(values) > 1
                    else tag or panel.columns[i]
                )
                series.setdefault(name, []).append((t, v * scale))
    if not series:
        return None
    with _style():
        fig = _figure()
        ax = fig.add_subplot()
        if panel.draw_style == "bars":
            _time_bars(ax, series, _step([t for t in times if t is not None]), panel.stacked)
        else:
            for n, (name, points) in enumerate(series.items()):
                xs, ys = [p[0] for p in points], [p[1] for p in points]
                color = PALETTE[n % len(PALETTE)]
                ax.plot(xs, ys, label=name, color=color, linewidth=1.6, marker="o", markersize=2)
        if scale == 100 or {panel.units.get(panel.columns[i]) for i in values} == {"percent"}:
            ax.set_ylabel("%")
        fig.legend(loc="outside lower center", fontsize=8, frameon=False, ncols=4)
        fig.autofmt_xdate()
        return _svg(fig)


def _time_bars(
    ax: Any, series: dict[str, list[tuple[Any, float]]], span: float, stacked: bool
) -> None:
    """Bars per time bucket: stacked (as the board stacks them) or side by side."""
    width = span * 0.8 / (1 if stacked else max(len(series), 1))
    bottom: dict[float, float] = {}
    for n, (name, points) in enumerate(series.items()):
        xs = [float(mdates.date2num(p[0])) for p in points]
        ys = [p[1] for p in points]
        color = PALETTE[n % len(PALETTE)]
        if stacked:
            base = [bottom.get(x, 0.0) for x in xs]
            ax.bar(xs, ys, width=width, bottom=base, label=name, color=color, align="edge")
            for x, y in zip(xs, ys, strict=True):
                bottom[x] = bottom.get(x, 0.0) + y
        else:
            shifted = [x + n * width for x in xs]
            ax.bar(shifted, ys, width=width, label=name, color=color, align="edge")
    ax.xaxis_date()


def _step(times: list[object]) -> float:
    """The smallest gap between distinct times, in days (bar width for a bar time series)."""
    nums = sorted({float(mdates.date2num(t)) for t in times})
    gaps = [b - a for a, b in itertools.pairwise(nums) if b > a]
    return min(gaps) if gaps else 1.0


def bars(panel: PanelData) -> str | None:
    """Horizontal bars: one group per row (its labels), one bar per numeric field.

    Bar gauges draw only the fields their reduceOptions name; a field named like ``pace`` is
    drawn grey, as the board shows the pace in the text colour.
    """
    labels = _label_columns(panel)
    values = _value_columns(panel, panel.value_fields)
    if panel.panel_type != "bargauge":  # a bar chart of counts: leave the rates to the table
        counts = [
            i
            for i in values
            if panel.units.get(panel.columns[i]) is None and not _is_rate(panel.columns[i])
        ]
        values = counts or values
    if not values or not panel.rows:
        return None
    scale = _percent(panel, values)
    names = [
        " ".join(str(r[i]) for i in labels) or f"row {n + 1}" for n, r in enumerate(panel.rows)
    ]
    height = 0.8 / len(values)
    with _style():
        fig = _figure(max(1.6, 0.22 * len(panel.rows) * len(values) + 0.9))
        ax = fig.add_subplot()
        for n, i in enumerate(values):
            ys = [k + n * height for k in range(len(panel.rows))]
            xs = [as_float(r[i]) for r in panel.rows]
            color = PACE if "pace" in panel.columns[i] else PALETTE[n % len(PALETTE)]
            drawn = [(y, x * scale) for y, x in zip(ys, xs, strict=True) if x is not None]
            if drawn:
                ax.barh(
                    [d[0] for d in drawn],
                    [d[1] for d in drawn],
                    height=height,
                    color=color,
                    label=panel.columns[i],
                )
        for k, flag in enumerate(panel.suppressed):
            if flag is not None and all(as_float(panel.rows[k][i]) is None for i in values):
                ax.text(
                    0,
                    k + height * (len(values) - 1) / 2,
                    "  suppressed",
                    va="center",
                    fontsize=8,
                    color="#9b6b00",
                    style="italic",
                )
        ax.set_yticks([k + height * (len(values) - 1) / 2 for k in range(len(panel.rows))], names)
        ax.invert_yaxis()
        percent = scale == 100 or panel.units.get(panel.columns[values[0]]) == "percent"
        if percent:
            ax.set_xlabel("%")
        if panel.value_max is not None:
            top = max([panel.value_max] + [as_float(r[i]) or 0 for r in panel.rows for i in values])
            ax.set_xlim(0, top * scale if scale == 100 and panel.value_max <= 1 else top)
        if len(values) > 1:
            fig.legend(loc="outside lower center", fontsize=8, frameon=False, ncols=4)
        return _svg(fig)


def _is_rate(column: str) -> bool:
    return column.endswith(("_rate", "_share", "_pct")) or column in ("done", "rate", "share")


def geomap(panel: PanelData) -> str | None:
    """Precinct centroids, coloured by the first share column (else the first value)."""
    if not all(c in panel.columns for c in COORDINATES):
        return None
    lat, lon = (panel.columns.index(c) for c in COORDINATES)
    values = _value_columns(panel)
    shares = [i for i in values if _is_rate(panel.columns[i])] or values
    if not shares:
        return None
    color_i = shares[0]
    pts = [(as_float(r[lon]), as_float(r[lat]), as_float(r[color_i])) for r in panel.rows]
    drawn = [(x, y, c) for x, y, c in pts if x is not None and y is not None and c is not None]
    if not drawn:
        return None
    scale = _percent(panel, [color_i])
    size_i = next(
        (panel.columns.index(c) for c in ("universe", "people_reached") if c in panel.columns), None
    )
    biggest = (
        max((as_float(r[size_i]) or 0 for r in panel.rows), default=0) if size_i is not None else 0
    )
    sizes = [
        20 + 140 * (as_float(r[size_i]) or 0) / biggest if size_i is not None and biggest else 60
        for r in panel.rows
        if None not in (as_float(r[lon]), as_float(r[lat]), as_float(r[color_i]))
    ]
    with _style(grid=False):
        fig = _figure(3.6)
        ax = fig.add_subplot()
        dots = ax.scatter(
            [d[0] for d in drawn],
            [d[1] for d in drawn],
            s=sizes,
            c=[d[2] * scale for d in drawn],
            cmap="RdYlGn",
            vmin=0,
            vmax=100 if scale == 100 else None,
            edgecolors="#555",
            linewidths=0.4,
        )
        fig.colorbar(dots, ax=ax, label=panel.columns[color_i] + (" %" if scale == 100 else ""))
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        ax.set_aspect("equal", adjustable="datalim")
        return _svg(fig)


CHARTS: dict[str, Callable[[PanelData], str | None]] = {
    "timeseries": timeseries,
    "bargauge": bars,
    "barchart": bars,
    "piechart": bars,
    "geomap": geomap,
}


def chart(panel: PanelData) -> str | None:
    """The panel's chart as SVG, or None for panels shown as tables or numbers."""
    from fieldstream.report.analysis_charts import ANALYSIS_CHARTS  # they use this module

    draw = CHARTS.get(panel.panel_type) or ANALYSIS_CHARTS.get(panel.panel_type)
    if draw is None or not panel.rows:
        return None
    # clip-path ids are hashed from this salt: one per chart, or charts on a page clash
    with matplotlib.rc_context({"svg.hashsalt": f"{panel.dashboard}/{panel.title}"}):
        return draw(panel)

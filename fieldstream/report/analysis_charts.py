"""Charts of the post-election analysis: effects with their intervals, and model calibration.

Drawn like the report's other charts (fieldstream.report.charts: inline SVG, text as text). Both
take a PanelData whose rows the analysis section fetched, so suppressed groups (None) are left
out of the drawing and counted in the caption like everywhere else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from fieldstream.report.charts import PACE, PALETTE, _figure, _style, _svg
from fieldstream.report.model import PanelData, as_float


def _column(panel: PanelData, name: str) -> int | None:
    return panel.columns.index(name) if name in panel.columns else None


def effects(panel: PanelData) -> str | None:
    """One line per group (``value``, with ``source`` when it has one): the complier effect
    (``cace``, else ``itt``) with its interval, and the naive contacted-vs-not difference
    (``naive``) as a hollow marker beside it. Suppressed groups (None) are left out."""
    name = "cace" if "cace" in panel.columns else "itt"
    span = [_column(panel, c) for c in (name, f"{name}_low", f"{name}_high")]
    cols = [i for i in span if i is not None]
    if len(cols) < 3:
        return None
    value, source, naive_i = (_column(panel, c) for c in ("value", "source", "naive"))
    drawn = []
    for n, r in enumerate(panel.rows):
        est, low, high = (as_float(r[i]) for i in cols)
        if est is None or low is None or high is None:
            continue
        label = str(r[value]) if value is not None else f"row {n + 1}"
        if source is not None and r[source]:
            label += f" ({r[source]})"
        naive = as_float(r[naive_i]) if naive_i is not None else None
        drawn.append((label, 100 * est, 100 * low, 100 * high, naive))
    if not drawn:
        return None
    with _style():
        fig = _figure(max(1.8, 0.32 * len(drawn) + 1.0))
        ax = fig.add_subplot()
        ys = list(range(len(drawn)))
        ax.axvline(0, color=PACE, linewidth=1)
        for y, (_, v, lo, hi, naive) in zip(ys, drawn, strict=True):
            ax.plot([lo, hi], [y, y], color=PALETTE[0], linewidth=2)
            ax.plot([v], [y], "o", color=PALETTE[0], markersize=5)
            if naive is not None and not math.isnan(naive):
                ax.plot([100 * naive], [y], "o", mfc="none", color=PALETTE[1], markersize=5)
        ax.set_yticks(ys, [d[0] for d in drawn])
        ax.invert_yaxis()
        ax.set_xlabel("percentage points of turnout (95% interval)")
        ax.plot([], [], "o", color=PALETTE[0], label=f"{name}: targeted vs held out")
        if naive_i is not None:
            ax.plot([], [], "o", mfc="none", color=PALETTE[1], label="naive: contacted vs not")
        fig.legend(loc="outside lower center", fontsize=8, frameon=False, ncols=2)
        return _svg(fig)


def calibration(panel: PanelData) -> str | None:
    """Predicted score against the observed share, per bin (``calibration`` holds the bins as
    JSON ``[[mean score, share positive, voters], ...]``), one line per model."""
    cal, model = _column(panel, "calibration"), _column(panel, "model")
    if cal is None:
        return None
    lines = []
    for n, r in enumerate(panel.rows):
        try:
            bins = json.loads(str(r[cal]))
        except ValueError:
            continue
        name = str(r[model]) if model is not None else f"model {n + 1}"
        if bins:
            lines.append((name, [b[0] for b in bins], [b[1] for b in bins]))
    if not lines:
        return None
    with _style():
        fig = _figure(3.2)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color=PACE, linewidth=1, linestyle="--", label="perfect")
        for n, (name, xs, ys) in enumerate(lines):
            ax.plot(xs, ys, marker="o", markersize=3, color=PALETTE[n % len(PALETTE)], label=name)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("mean score in the bin (out of fold)")
        ax.set_ylabel("share positive")
        fig.legend(loc="outside right center", fontsize=8, frameon=False)
        return _svg(fig)


def calibration_svg(model: str, bins: list[tuple[float, float, int]]) -> str:
    """A stand-alone calibration plot of one model's bins (``fieldstream model ... --plot``)."""
    panel = PanelData(
        "models", f"{model} calibration", "calibration", ["model", "calibration"],
        [[model, json.dumps([list(b) for b in bins])]],
    )  # fmt: skip
    return calibration(panel) or ""


ANALYSIS_CHARTS: dict[str, Callable[[PanelData], str | None]] = {
    "effects": effects,
    "calibration": calibration,
}

"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no scripts.

Why no JavaScript and no external files: the page is mailed, archived and opened offline
years later (post-analysis), and printed to PDF or PNG (fieldstream.report_png). Panels sit on
Grafana's 24-column grid at their dashboard widths, so the page reads like the boards.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from fieldstream.report.analysis_charts import ANALYSIS_CHARTS
from fieldstream.report.charts import CHARTS, chart
from fieldstream.report.model import SUPPRESSED, PanelData, Report, Section, format_value

SHOWN_ROWS = 25  # longer tables show this many rows, the rest behind "all N rows"

CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;
 background:#f4f5f7;color:#1f2329;font-size:14px}
header{background:#1f3a5f;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;opacity:.9}
.privacy{background:#fff8e1;border-left:4px solid #e0a800;padding:8px 28px;margin:0}
nav{padding:8px 28px;font-size:13px}
nav a{margin-right:14px;color:#1f3a5f}
section{padding:4px 28px 12px}
section h2{margin:14px 0 2px;font-size:18px;color:#1f3a5f}
section .range{color:#5f6b7a;font-size:12px;margin:0 0 8px}
.grid{display:grid;grid-template-columns:repeat(24,1fr);gap:12px}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 12px;
 min-width:0;overflow:hidden}
.card h3{margin:0 0 2px;font-size:14px}
.card .desc{color:#5f6b7a;font-size:12px;margin:0 0 6px}
.card svg{display:block;max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:12px;font-variant-numeric:tabular-nums}
th,td{padding:3px 6px;border-bottom:1px solid #edf0f3;text-align:left}
td:first-child{white-space:nowrap}
td.num,th.num{text-align:right}
th{background:#f7f8fa;font-weight:600}
tr.suppressed td{color:#8a8f96;background:#fafafa}
td.sup{font-style:italic;color:#9b6b00}
.stats{display:flex;flex-wrap:wrap;gap:10px}
.stat{flex:1 1 110px;background:#f7f8fa;border-radius:4px;padding:8px}
.stat b{display:block;font-size:22px}
.stat span{color:#5f6b7a;font-size:12px}
.note{color:#5f6b7a;font-size:12px;margin:4px 0 0}
.error{color:#b00020;font-size:12px}
details summary{cursor:pointer;color:#1f3a5f;font-size:12px;margin-top:4px}
footer{color:#5f6b7a;font-size:12px;padding:12px 28px 24px}
@media (max-width:900px){.card{grid-column:1/-1 !important}}
@media print{body{background:#fff}.card{break-inside:avoid}}
"""


def _time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _numeric(panel: PanelData) -> list[bool]:
    return [
        any(isinstance(r[i], int | float) and not isinstance(r[i], bool) for r in panel.rows)
        for i in range(len(panel.columns))
    ]


def _row_html(panel: PanelData, n: int, numeric: list[bool]) -> str:
    row, flag = panel.rows[n], panel.suppressed[n]
    cells = []
    for i, (column, value) in enumerate(zip(panel.columns, row, strict=True)):
        cls = ' class="num"' if numeric[i] else ""
        if flag is not None and value is None:
            label = SUPPRESSED if flag == "small" else f"{SUPPRESSED}*"
            cells.append(f'<td class="num sup" title="{escape(flag)}">{label}</td>')
        else:
            cells.append(f"<td{cls}>{escape(format_value(value, panel.units.get(column)))}</td>")
    attr = ' class="suppressed"' if flag is not None else ""
    return f"<tr{attr}>{''.join(cells)}</tr>"


def _breakable(name: str) -> str:
    """A column name that may wrap after its underscores (narrow cards, long names)."""
    return escape(name).replace("_", "_<wbr>")


def table_html(panel: PanelData) -> str:
    """The panel's rows as a table; suppressed cells read ``suppressed`` (``suppressed*``
    for complements)."""
    if not panel.rows:
        return '<p class="note">No rows for this range.</p>'
    numeric = _numeric(panel)
    head = "".join(
        f"<th{' class=num' if numeric[i] else ''}>{_breakable(c)}</th>"
        for i, c in enumerate(panel.columns)
    )
    body = [_row_html(panel, n, numeric) for n in range(len(panel.rows))]
    shown = "".join(body[:SHOWN_ROWS])
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{shown}</tbody></table>"
    if len(body) > SHOWN_ROWS:
        rest = "".join(body[SHOWN_ROWS:])
        out += (
            f"<details><summary>all {len(body):,} rows</summary><table><thead><tr>{head}</tr>"
            f"</thead><tbody>{rest}</tbody></table></details>"
        )
    return out


def stats_html(panel: PanelData) -> str:
    """A stat panel: each numeric field of its (first) row as a big number."""
    if not panel.rows:
        return '<p class="note">No rows for this range.</p>'
    row = panel.rows[0]
    items = [
        f"<div class=stat><b>{escape(format_value(v, panel.units.get(c)))}</b>"
        f"<span>{escape(c)}</span></div>"
        for c, v in zip(panel.columns, row, strict=True)
    ]
    return f"<div class=stats>{''.join(items)}</div>"


def panel_html(panel: PanelData) -> str:
    parts = [f"<h3>{escape(panel.title)}</h3>"]
    if panel.description:
        parts.append(f'<p class="desc">{escape(panel.description)}</p>')
    if panel.error:
        parts.append(f'<p class="error">The query failed: {escape(panel.error)}</p>')
    elif panel.panel_type == "stat":
        parts.append(stats_html(panel))
    elif panel.panel_type in CHARTS or panel.panel_type in ANALYSIS_CHARTS:
        svg = chart(panel)
        if svg is not None:
            parts.append(f'<figure style="margin:0">{svg}</figure>')
            parts.append(f"<details><summary>data</summary>{table_html(panel)}</details>")
        else:
            parts.append(table_html(panel))
    else:
        parts.append(table_html(panel))
    hidden = sum(1 for f in panel.suppressed if f is not None)
    if hidden:
        parts.append(
            f'<p class="note">{hidden} group(s) suppressed (fewer people than the smallest '
            f"group shared, by {escape(panel.group_size or 'group size')}, or a complement).</p>"
        )
    if panel.note:
        parts.append(f'<p class="note">{escape(panel.note)}</p>')
    span = min(max(panel.width, 6), 24)
    return f'<div class="card" style="grid-column:span {span}">{"".join(parts)}</div>'


def _anchor(title: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")


def section_html(section: Section) -> str:
    cards = "".join(panel_html(p) for p in section.panels)
    desc = f'<p class="desc">{escape(section.description)}</p>' if section.description else ""
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in section.notes)
    return (
        f'<section id="{_anchor(section.title)}"><h2>{escape(section.title)}</h2>{desc}'
        f'<p class="range">{_time(section.time_from)} to {_time(section.time_to)}</p>'
        f'<div class="grid">{cards}</div>{notes}</section>'
    )


def render_html(report: Report) -> str:
    """The whole page for ``report``; pure (no I/O)."""
    title = f"Field report: {report.org} / {report.campaign}"
    nav = "".join(f'<a href="#{_anchor(s.title)}">{escape(s.title)}</a>' for s in report.sections)
    privacy = (
        f'<p class="privacy">Shared report: groups of fewer than {report.min_group_size} people '
        "are suppressed (shown as <i>suppressed</i>), and so is the next smallest group where a "
        "total would give a suppressed one away (<i>suppressed*</i>).</p>"
    )
    body = "".join(section_html(s) for s in report.sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>"
        f"<p>Generated {_time(report.generated_at)} by fieldstream from the Grafana boards' "
        "own queries. Times are UTC.</p></header>"
        f"{privacy}<nav>{nav}</nav>{body}"
        "<footer>Numbers count distinct events and people (docs/analytics.md); race and "
        "ethnicity are shown with the source of each value, never mixed.</footer>"
        "</body></html>"
    )

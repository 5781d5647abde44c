"""``fieldstream report``: the Grafana boards as one self-contained HTML page.

:func:`fetch.build_report` runs the dashboards' own queries (grafana/dashboards/*.json) for an
org, campaign and range and suppresses small groups; :func:`page.render_html` writes the page;
:func:`write_report` does both against the store, for the command line.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.settings import DASHBOARDS
from fieldstream.grafana_sql import load_dashboards
from fieldstream.report.fetch import Query, build_report
from fieldstream.report.model import PanelData, Report, Section
from fieldstream.report.page import render_html

__all__ = [
    "DASHBOARDS",
    "PanelData",
    "Report",
    "Section",
    "build_report",
    "render_html",
    "write_report",
]


def write_report(
    query: Query,
    out: Path,
    *,
    k: int,
    org: str | None = None,
    campaign: str | None = None,
    time_from: dt.datetime | None = None,
    time_to: dt.datetime | None = None,
    dashboards: Path = DASHBOARDS,
    now: dt.datetime | None = None,
) -> Report:
    """Build the report from the store behind ``query`` and write it to ``out`` (UTF-8)."""
    report = build_report(
        query,
        load_dashboards(dashboards),
        k=k,
        org=org,
        campaign=campaign,
        time_from=time_from,
        time_to=time_to,
        now=now,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return report

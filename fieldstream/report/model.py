"""What a report holds, and how its cells are written: plain data, no I/O.

The report is built in two steps so each can be tested alone: :mod:`.fetch` runs the
dashboards' queries into these objects, :mod:`.page` turns them into HTML. Cells keep their
values as the store returned them; formatting here follows the panel's Grafana units so the
report reads like the board.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass, field
from typing import Any

SUPPRESSED = "suppressed"


@dataclass
class PanelData:
    """One query of one panel and its rows (suppressed rows flagged in ``suppressed``)."""

    dashboard: str
    title: str
    panel_type: str
    columns: list[str]
    rows: list[list[Any]]
    description: str = ""
    units: dict[str, str] = field(default_factory=dict)
    """column -> Grafana unit (``percent``, ``percentunit``, ...) from the panel's fieldConfig."""
    suppressed: list[str | None] = field(default_factory=list)
    """Per row: None, ``small`` or ``complementary`` (fieldstream.suppress)."""
    width: int = 24
    """The panel's width on Grafana's 24-column grid."""
    draw_style: str = "line"
    """Time series: ``line`` or ``bars`` (the panel's fieldConfig custom.drawStyle)."""
    stacked: bool = False
    """Time series: the panel stacks its series (custom.stacking.mode ``normal``)."""
    value_max: float | None = None
    """The panel's fieldConfig max (bar gauges: 100 for percent)."""
    value_fields: str | None = None
    """Bar gauges: the regex (``/_pct$/``) naming the fields drawn, from reduceOptions."""
    group_size: str | None = None
    """The column suppression judged group size by, when the panel was suppressed."""
    error: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.suppressed:
            self.suppressed = [None] * len(self.rows)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


@dataclass
class Section:
    """One dashboard: its panels, with the time range its queries ran for."""

    title: str
    description: str
    time_from: dt.datetime
    time_to: dt.datetime
    panels: list[PanelData] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    org: str
    campaign: str
    generated_at: dt.datetime
    min_group_size: int
    sections: list[Section] = field(default_factory=list)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def as_float(value: Any) -> float | None:
    """A number for a chart, or None (missing, suppressed, NaN)."""
    if not is_number(value):
        return None
    f = float(value)
    return None if math.isnan(f) or math.isinf(f) else f


def as_time(value: Any) -> dt.datetime | None:
    """A datetime from a store value (datetime, date, or the sink API's ISO string)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return as_time(dt.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def format_value(value: Any, unit: str | None = None) -> str:
    """A cell as the board shows it: thousands separators, percent units, short dates."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        if (value.hour, value.minute, value.second) == (0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if not is_number(value):
        return str(value)
    f = float(value)
    if math.isnan(f):
        return "–"
    if unit == "percentunit":
        return f"{100 * f:.1f}%"
    if unit == "percent":
        return f"{f:.1f}%"
    if isinstance(value, int) or (f.is_integer() and abs(f) < 1e15):
        return f"{int(f):,}"
    return f"{f:,.3f}".rstrip("0").rstrip(".")

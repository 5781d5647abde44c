"""fieldstream report end to end: demo traffic in chDB, the boards' queries, one HTML file.

The data is built as tests/integration/test_dashboards.py builds it (the demo's voter file,
goals and universes, ten days of simulated traffic through the real stream logic and sink
rows). The report is written to a file, read back, and its numbers must equal a recount of
the inserted rows; groups under k people must read "suppressed". No Chromium here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from fieldstream.report import write_report
from sinks.remote import DirectAccess
from tests.factories.boards import (
    CAMPAIGN,
    ORG,
    TIME_FROM,
    TIME_TO,
    build,
    local,
    measures,
    monday,
    scoped,
)

pytestmark = pytest.mark.integration
K = 11


def card(html: str, title: str) -> str:
    """The HTML of the panel card titled ``title``."""
    start = html.index(f"<h3>{title}</h3>")
    end = html.find('<div class="card"', start)
    return html[start : end if end > 0 else len(html)]


def table(fragment: str) -> list[dict[str, str]]:
    """The first table of ``fragment`` as rows of header -> cell text."""
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", fragment, flags=re.S)
    assert head is not None
    columns = [
        unescape(re.sub(r"<[^>]+>", "", c))
        for c in re.findall(r"<th[^>]*>(.*?)</th>", head.group(1))
    ]
    body = fragment[head.end() : fragment.index("</tbody>", head.end())]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    return [
        dict(
            zip(columns, [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)], strict=True)
        )
        for r in rows
    ]


def n(text: str) -> int:
    return int(text.replace(",", ""))


def test_report_numbers_equal_a_recount(tmp_path: Path) -> None:
    demo = build(tmp_path)
    out = tmp_path / "report.html"
    try:
        report = write_report(
            DirectAccess(demo.store).query,
            out,
            k=K,
            org=ORG,
            campaign=CAMPAIGN,
            time_from=TIME_FROM,
            time_to=TIME_TO,
            now=TIME_TO,
        )
    finally:
        demo.store.close()
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and html.count("<svg") >= 5
    errors = [(s.title, p.title, p.error) for s in report.sections for p in s.panels if p.error]
    assert errors == []
    events = scoped(demo)

    # this week by channel (Progress to goal): the campaign's local week
    week = [e for e in events if monday(e["local_day"]) == monday(TIME_TO, demo.zone)]
    by_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in week:
        by_channel[str(e["channel"])].append(e)
    got = {r["channel"]: r for r in table(card(html, "This week so far, by channel"))}
    assert set(got) == set(by_channel)
    for channel, rows in by_channel.items():
        want = measures(rows)
        for m in ("attempts", "contacts", "ids", "people_reached"):
            assert n(got[channel][m]) == want[m], (channel, m)

    # by race with its source (Who we are reaching): published groups equal the recount of
    # the local days the range touches, groups under k people reached read "suppressed"
    first, last = local(TIME_FROM, demo.zone), local(TIME_TO, demo.zone)
    ranged = [e for e in events if first <= e["local_day"] <= last]
    by_race: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in ranged:
        by_race[(str(e["race"]), str(e["race_source"]))].append(e)
    rows = table(card(html, "By race, with the source of race"))
    assert {(r["race"], r["race_source"]) for r in rows} == set(by_race)
    published = 0
    for r in rows:
        want = measures(by_race[(r["race"], r["race_source"])])
        if want["people_reached"] < K:
            assert r["attempts"] == r["people_reached"] == "suppressed", r
        elif r["people_reached"] not in ("suppressed*",):
            published += 1
            assert n(r["people_reached"]) == want["people_reached"], r
            assert n(r["attempts"]) == want["attempts"], r
            assert n(r["ids"]) == want["ids"], r
    assert published >= 2
    assert f"groups of fewer than {K} people" in html

"""``fieldstream dlq``: the contacts the pipeline holds back, listed, shown and replayed.

The store says what is held (the ``held_contacts`` view, sinks/ddl/017_held_contacts.sql): one
row per contact, with the latest reason, whether the contact is already counted (only its
unknown survey answers held) and where it came in. A replay reads each held contact's letter
(``held_letters``: the gateway's or importer's copy when there is one, since it can be read
again through the maps; else the stream's) and sends it through the current maps and the
intake hallway (producers/replay.py), then watches the store until each contact has landed
or been held again, and says which.

Everything here reads the store through ``query(sql) -> (columns, rows)`` (the sink's query
API or chDB) and writes only to Kafka, like every other way in.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.sealing import PREFIX, Sealer
from producers.replay import HELD, PARTIAL, REFUSED, SENT, SKIPPED, HeldLetter, Replayed
from sinks.sql import datetime64, string_literal

Query = Callable[[str], tuple[list[str], list[list[Any]]]]

LIST_COLUMNS = [
    "held_key", "source", "reason_code", "counted", "received_at", "arrivals", "stage",
    "reason",
]  # fmt: skip


@dataclass(frozen=True)
class Filters:
    """Which held contacts: by source (a source id, or import:<name>), reason code, org, and
    when they first arrived."""

    source: str | None = None
    reason: str | None = None
    org: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def where(self) -> str:
        terms = ["1"]
        if self.source:
            terms.append(f"source = {string_literal(self.source)}")
        if self.reason:
            terms.append(f"reason_code = {string_literal(self.reason)}")
        if self.org:
            terms.append(f"org_id = {string_literal(self.org)}")
        if self.since:
            terms.append(f"received_at >= {datetime64(self.since)}")
        if self.until:
            terms.append(f"received_at < {datetime64(self.until)}")
        return " AND ".join(terms)


def summary_sql(filters: Filters) -> str:
    """Held contacts per source and reason: whole (not counted) and partial (counted)."""
    return (
        "SELECT source, reason_code, countIf(NOT counted) AS held_whole, "
        "countIf(counted) AS counted_answers_held, min(received_at) AS first, "
        "max(last_failed_at) AS last FROM held_contacts "
        f"WHERE {filters.where()} GROUP BY source, reason_code ORDER BY source, reason_code"
    )


def list_sql(filters: Filters, limit: int) -> str:
    return (
        f"SELECT {', '.join(LIST_COLUMNS)} FROM held_contacts WHERE {filters.where()} "
        f"ORDER BY received_at, held_key LIMIT {int(limit)}"
    )


def show_sql(held_key: str) -> tuple[str, str]:
    """(the held contact, every letter of it with its kept payload base64-encoded)."""
    key = string_literal(held_key)
    contact = f"SELECT * FROM held_contacts WHERE held_key = {key}"
    letters = (
        "SELECT failed_at, stage, reason_code, reason, origin, counted, "
        f"base64Encode(original) AS original FROM held_letters WHERE held_key = {key} "
        "ORDER BY failed_at"
    )
    return contact, letters


def letters_sql(filters: Filters) -> str:
    """The letter to replay for each held contact: the gateway's or importer's (it can be read
    again through the maps) when there is one, else the latest; and when the contact first
    arrived (a VAN body without a date keeps its event id)."""
    best = "(stage = 'gateway', failed_at)"
    return (
        "SELECT held_key, any(event_id), "
        f"argMax(stage, {best}), argMax(origin, {best}), "
        "toUnixTimestamp64Milli(min(first_failed_at)), "
        f"argMax(base64Encode(original), {best}) "
        "FROM held_letters WHERE held_key IN "
        f"(SELECT held_key FROM held_contacts WHERE {filters.where()}) "
        "GROUP BY held_key ORDER BY held_key"
    )


def held_letters(query: Query, filters: Filters, sealer: Sealer | None = None) -> list[HeldLetter]:
    """The letters to replay, their originals opened with ``sealer`` (dead letters are sealed
    at rest: sinks/at_rest.py)."""
    _, rows = query(letters_sql(filters))

    def opened(original: Any) -> bytes:
        raw = base64.b64decode(original or "")
        if sealer is None or not raw.startswith(PREFIX.encode()):
            return raw
        return sealer.open(raw.decode("ascii")).encode("utf-8")

    return [
        HeldLetter(
            held_key=str(key),
            event_id=str(event_id or ""),
            stage=str(stage),
            origin=str(origin),
            received_ms=int(received_ms),
            original=opened(original),
        )
        for key, event_id, stage, origin, received_ms, original in rows
    ]


@dataclass
class ReplayReport:
    """What a replay did, once the store showed where each contact went."""

    results: list[Replayed]
    landed: list[str] = field(default_factory=list)  # no longer held
    counted_answers_held: list[tuple[str, str]] = field(default_factory=list)  # key, reason
    still_held: list[tuple[str, str]] = field(default_factory=list)  # key, latest reason
    not_sent: list[Replayed] = field(default_factory=list)  # refused or skipped
    waited_s: float = 0.0
    settled: bool = True

    def rows(self) -> list[list[Any]]:
        """(outcome, contacts) for the summary table."""
        return [
            ["landed (counted, complete)", len(self.landed)],
            ["counted, survey answers still held", len(self.counted_answers_held)],
            ["still held back", len(self.still_held)],
            ["refused or not replayable", len(self.not_sent)],
        ]


def wait_for_store(
    query: Query,
    results: Sequence[Replayed],
    started_ms: int,
    wait_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayReport:
    """Poll the store until every replayed contact settled (gone from held_contacts, or held
    again by a letter written after ``started_ms``), or ``wait_s`` passed."""
    report = ReplayReport(list(results))
    report.not_sent = [r for r in results if r.status in (REFUSED, SKIPPED)]
    sent = {r.held_key: r for r in results if r.status in (SENT, PARTIAL, HELD)}
    begun = clock()
    state: dict[str, tuple[int, int, str]] = {}
    while True:
        state = _held_state(query, list(sent))
        if all(_settled(sent[k], state.get(k), started_ms) for k in sent):
            break
        if clock() - begun >= wait_s:
            report.settled = False
            break
        sleep(0.5)
    report.waited_s = clock() - begun
    for key in sent:
        held = state.get(key)
        if held is None:
            report.landed.append(key)
        elif held[0]:
            report.counted_answers_held.append((key, held[2]))
        else:
            report.still_held.append((key, held[2]))
    return report


def _held_state(query: Query, keys: list[str]) -> dict[str, tuple[int, int, str]]:
    """held_key -> (counted, last letter ms, reason) of those still held."""
    out: dict[str, tuple[int, int, str]] = {}
    for start in range(0, len(keys), 1000):
        chunk = ", ".join(string_literal(k) for k in keys[start : start + 1000])
        _, rows = query(
            "SELECT held_key, counted, toUnixTimestamp64Milli(last_failed_at), reason "
            f"FROM held_contacts WHERE held_key IN ({chunk})"
        )
        out.update({str(k): (int(c), int(at), str(reason)) for k, c, at, reason in rows})
    return out


def _settled(result: Replayed, held: tuple[int, int, str] | None, started_ms: int) -> bool:
    if held is None:
        return True  # landed
    counted, last_ms, _ = held
    if result.status == PARTIAL:
        return bool(counted) and last_ms >= started_ms
    return last_ms >= started_ms  # held again: a new letter says why


__all__ = [
    "HELD",
    "Filters",
    "ReplayReport",
    "held_letters",
    "list_sql",
    "show_sql",
    "summary_sql",
    "wait_for_store",
]

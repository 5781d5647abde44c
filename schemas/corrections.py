"""The rule of a correction (org.fieldstream.v1.Correction): which selectors it may have.

A correction names contacts by exactly one kind of selector, so a typo can never void a whole
program: event ids; an import run; a time range with a canvasser, a source, or both; or (to
undo) the id of a void. A campaign may narrow any of them. :func:`correction` builds the
record from plain values (the command line, the gateway's API) and names every problem.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("void", "unvoid")
MAX_EVENT_IDS = 100_000
MAX_TEXT = 500
MAX_RANGE = dt.timedelta(days=366)


@dataclass
class Selector:
    campaign_id: str | None = None
    event_ids: Sequence[str] = field(default_factory=list)
    canvasser_id: str | None = None
    source_system: str | None = None
    import_run: str | None = None
    time_from: dt.datetime | None = None
    time_to: dt.datetime | None = None
    undo: str | None = None


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def selector_problems(action: str, s: Selector) -> list[str]:
    """What is wrong with ``s`` for ``action`` (empty: nothing)."""
    problems = []
    kinds = [
        name
        for name, given in (
            ("event ids", bool(s.event_ids)),
            ("an import run", s.import_run is not None),
            ("a time range", s.time_from is not None or s.time_to is not None),
            ("an undo", s.undo is not None),
        )
        if given
    ]
    if len(kinds) != 1:
        problems.append(
            "name the contacts by exactly one of: event ids, an import run, a time range "
            f"(with a canvasser and/or a source), or the void to undo; got {len(kinds)}"
            + (f" ({', '.join(kinds)})" if kinds else "")
        )
    if s.time_from is not None or s.time_to is not None:
        if s.time_from is None or s.time_to is None:
            problems.append("a time range needs both its start and its end")
        elif s.time_from.tzinfo is None or s.time_to.tzinfo is None:
            problems.append("the time range needs times with a zone (or UTC)")
        elif not s.time_from < s.time_to:
            problems.append("the time range must start before it ends")
        elif s.time_to - s.time_from > MAX_RANGE:
            problems.append("a time range may span at most 366 days")
        if s.canvasser_id is None and s.source_system is None:
            problems.append("a time range needs a canvasser, a source, or both")
    elif (s.canvasser_id or s.source_system) and not (s.event_ids or s.import_run):
        problems.append("a canvasser or a source needs a time range")
    if s.undo is not None and action != "unvoid":
        problems.append("undo is for unvoid corrections")
    if len(s.event_ids) > MAX_EVENT_IDS:
        problems.append(f"at most {MAX_EVENT_IDS} event ids per correction")
    if any(not i.strip() for i in s.event_ids):
        problems.append("an event id is empty")
    return problems


@dataclass
class Built:
    record: dict[str, Any] | None
    problems: list[str]


def correction(
    action: str,
    org_id: str,
    selector: Selector,
    *,
    reason: str,
    requested_by: str,
    requested_at: dt.datetime | None = None,
    correction_id: str | None = None,
) -> Built:
    """A Correction record ready for the codec, or the problems that prevent it."""
    problems = []
    if action not in ACTIONS:
        problems.append(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if not org_id.strip():
        problems.append("org_id is empty")
    if not reason.strip():
        problems.append("say why (reason): it is shown beside the voided contacts")
    if not requested_by.strip():
        problems.append("say who asks (requested_by)")
    if len(reason) > MAX_TEXT or len(requested_by) > MAX_TEXT:
        problems.append(f"reason and requested_by are at most {MAX_TEXT} characters")
    s = Selector(
        campaign_id=_text(selector.campaign_id),
        event_ids=[i.strip() for i in selector.event_ids],
        canvasser_id=_text(selector.canvasser_id),
        source_system=_text(selector.source_system),
        import_run=_text(selector.import_run),
        time_from=selector.time_from,
        time_to=selector.time_to,
        undo=_text(selector.undo),
    )
    problems += selector_problems(action, s)
    if problems:
        return Built(None, problems)
    return Built(
        {
            "correction_id": correction_id or str(uuid.uuid4()),
            "org_id": org_id.strip(),
            "action": action,
            "campaign_id": s.campaign_id,
            "event_ids": list(dict.fromkeys(s.event_ids)),
            "canvasser_id": s.canvasser_id,
            "source_system": s.source_system,
            "import_run": s.import_run,
            "time_from": s.time_from,
            "time_to": s.time_to,
            "undo": s.undo,
            "reason": reason.strip(),
            "requested_by": requested_by.strip(),
            "requested_at": requested_at or dt.datetime.now(dt.UTC),
        },
        [],
    )

"""Person signals and volunteer shifts as plain JSON -> Avro-ready records, naming every problem.

The same schema-driven conversion as :mod:`schemas.jsonconv` (ContactEvent), for the two records
that are not contact attempts: PersonSignal and VolunteerShift. ``event_id`` and ``received_at``
are set here, never by a sender: the id is the UUIDv5 of org, source system and source_event_id,
so the same signal or shift state read twice keeps its id.

Rules of the standard a schema cannot say:

- a signal names a person id or a phone (an opt-out may name only the number it applies to);
  a phone is E.164 (``+`` and 8 to 15 digits);
- an opt-in or opt-out names its channel; an activist code or tag names its code;
- a shift's end is not before its start.
"""

from __future__ import annotations

import re
from typing import Any

from schemas.codec import NAMESPACE, load_schemas
from schemas.jsonconv import (
    PERSON_IDS,
    Problem,
    Problems,
    _compile,
    as_received,
    check_person,
    check_times,
    time_fields,
    with_event_id,
)

PERSON_SIGNAL = f"{NAMESPACE}.PersonSignal"
VOLUNTEER_SHIFT = f"{NAMESPACE}.VolunteerShift"
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
CONSENT_KINDS = frozenset({"opt_in", "opt_out"})
SCHEDULED = frozenset({"shift_start", "shift_end"})
SCHEDULED_AHEAD_S = 2 * 366 * 24 * 3600  # shifts are signed up for months ahead, not years
NON_EMPTY = {
    PERSON_SIGNAL: ("source_system", "source_event_id", "org_id", "raw"),
    VOLUNTEER_SHIFT: (
        "source_system", "source_event_id", "org_id", "campaign_id", "shift_id", "event_type",
        "status_raw",
    ),
}  # fmt: skip


class RecordJson:
    """Converter for PersonSignal or VolunteerShift JSON, compiled once from its schema."""

    def __init__(self, full_name: str, max_future_s: int = 86_400) -> None:
        if full_name not in NON_EMPTY:
            raise ValueError(f"RecordJson converts {sorted(NON_EMPTY)}, not {full_name}")
        self.full_name = full_name
        schema = load_schemas()[full_name]
        self._convert = _compile(schema)
        # times of what happened: at most max_future_s past receipt; a shift's own start and
        # end are planned ahead, up to SCHEDULED_AHEAD_S
        times = time_fields(schema)
        self._windows = [
            ([n for n in times if n not in SCHEDULED], max_future_s * 1000),
            ([n for n in times if n in SCHEDULED], SCHEDULED_AHEAD_S * 1000),
        ]

    def convert(self, value: Any, received_at_ms: int) -> tuple[dict[str, Any] | None, Problems]:
        """(record, []) for a good record; (None, problems) otherwise."""
        problems: Problems = []
        record = self._convert(as_received(value, received_at_ms, problems), "", problems)
        if record is not None:
            for names, future_ms in self._windows:
                check_times(record, names, received_at_ms, future_ms, problems)
            for name in NON_EMPTY[self.full_name]:
                if record.get(name) == "":
                    problems.append(Problem(name, "must not be empty"))
            if self.full_name == PERSON_SIGNAL:
                _signal_rules(record, problems)
            else:
                _shift_rules(record, problems)
        if problems:
            return None, problems
        assert record is not None
        return with_event_id(record), problems


def _signal_rules(record: dict[str, Any], problems: Problems) -> None:
    phone = record.get("phone")
    if isinstance(phone, str) and not E164.fullmatch(phone):
        problems.append(Problem("phone", "must be an E.164 number (+ and 8 to 15 digits)"))
    person = record.get("person")
    if not phone and isinstance(person, dict) and not any(person.get(k) for k in PERSON_IDS):
        ids = "voter_id, van_id, state_file_id, vendor_id"
        problems.append(Problem("person", f"needs at least one of {ids}, or phone"))
    check_person(person, problems, ids_required=False)
    kind = record.get("kind")
    if kind in CONSENT_KINDS and record.get("channel") is None:
        problems.append(Problem("channel", f"is required for {kind}"))
    if kind is not None and kind not in CONSENT_KINDS and not record.get("code"):
        problems.append(Problem("code", f"is required for {kind}"))


def _shift_rules(record: dict[str, Any], problems: Problems) -> None:
    check_person(record.get("person"), problems)
    start, end = record.get("shift_start"), record.get("shift_end")
    if isinstance(start, int) and isinstance(end, int) and end < start:
        problems.append(Problem("shift_end", "is before shift_start"))

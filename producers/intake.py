"""The one intake hallway: every way contacts enter fieldstream (the gateway's routes, the
importers, the dead-letter replay of ``fieldstream dlq replay``) turns a tool's adapter items
into Kafka messages here.

:func:`prepare` takes the items an adapter gave for one request (or one export row) and
returns, without any I/O:

- the canonical events, converted to the data standard (:class:`ContactJson`) and
  Avro-encoded for ``contacts.raw``, keyed by their event id;
- the items the source's code map could not place (:class:`Unmapped`), as DeadLetter
  records for ``contacts.dlq`` (stage ``gateway``), keyed by what they are
  (``dead_letter_id``: :func:`schemas.deadletter.dead_letter_key`), so the same refused item
  sent ten times is one dead letter;
- a partial contact (an Unmapped whose result mapped but some survey responses did not) is
  both: the contact goes to ``contacts.raw`` with its unmapped responses kept, and its dead
  letter is marked ``counted`` so a replay fills the answers in. A source whose policy holds
  partial contacts (``Origin.hold_partial``) sends only the dead letter, not counted;
- person signals (:class:`Signal`: activist codes, tags, opt-ins and opt-outs) for
  ``person.signals`` and volunteer shifts (:class:`Shift`) for ``volunteer.shifts``, converted
  by :class:`RecordJson` and keyed by their event id: never attempts, never in contacts.raw.
  An attempt with ``opt_out`` also gives an opt-out signal, unless the adapter gave its own
  for that channel (:func:`producers.tools.records.with_opt_outs`);
- every problem of every item that does not fit the standard, with its index and field.

What to do with problems is the caller's: the gateway refuses the whole request (422), an
importer reports the row and goes on. Either way the opt-ins and opt-outs that do fit are
prepared even then (``signals``, nothing else): an explicit opt-out is a compliance fact,
recorded whatever else about its payload fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from producers.tools.base import Item, Shift, Signal, Unmapped
from producers.tools.records import is_consent, with_opt_outs
from schemas import CONTACT_EVENT, DEAD_LETTER, AvroCodec
from schemas.deadletter import dead_letter_record
from schemas.ids import event_id_for
from schemas.jsonconv import ContactJson
from schemas.recordjson import PERSON_SIGNAL, VOLUNTEER_SHIFT, RecordJson

STAGE = "gateway"


@dataclass(frozen=True)
class Origin:
    """Where items came from: the source (bound to one org), the tool, and where a dead
    letter's reader finds the original: ``gateway:<source id>`` or ``import:<file>`` as the
    topic, and the export's line (or -1) as the offset."""

    source_id: str
    org_id: str
    source_system: str
    topic: str
    offset: int = -1
    partition: int = -1
    hold_partial: bool = False  # the source's partial_contacts policy is "hold"


@dataclass(frozen=True)
class ItemProblem:
    index: int
    field: str
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "problem": self.problem}


@dataclass
class Prepared:
    raw: list[tuple[bytes, bytes]] = field(default_factory=list)
    dlq: list[tuple[bytes, bytes]] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)
    events: int = 0  # items that were events (good or not)
    signals: list[tuple[bytes, bytes]] = field(default_factory=list)  # for person.signals
    shifts: list[tuple[bytes, bytes]] = field(default_factory=list)  # for volunteer.shifts
    partial: int = 0  # partial contacts counted (their unmapped answers held)

    @property
    def bad_events(self) -> int:
        return len({p.index for p in self.problems})


class Hallway:
    """Converts and encodes; one per process (the converters are compiled once)."""

    def __init__(self, codec: AvroCodec, max_future_s: int = 86_400) -> None:
        self.codec = codec
        self.converter = ContactJson(max_future_s)
        self.records = {
            Signal: RecordJson(PERSON_SIGNAL, max_future_s),
            Shift: RecordJson(VOLUNTEER_SHIFT, max_future_s),
        }

    def prepare(
        self,
        items: list[Item],
        origin: Origin,
        original: bytes,
        received_ms: int,
        attach: dict[str, Any] | None = None,
        failed_ms: int | None = None,
    ) -> Prepared:
        """``received_ms``: when the items arrived (events' received_at); ``attach``: fields
        only fieldstream sets (the VAN route's ``van_request``), added to every converted event
        after the sender's JSON was checked; ``failed_ms``: when their dead letters were
        refused, when that is not the same time (a replay)."""
        out = Prepared()
        records = []
        others: list[tuple[Signal | Shift, dict[str, Any]]] = []
        unmapped_at: list[tuple[int, bool]] = []  # (index, counted)
        for i, item in enumerate(with_opt_outs(items)):
            event: Any = item
            if isinstance(item, Unmapped):
                out.unmapped.append(item)
                counted = item.partial is not None and not origin.hold_partial
                unmapped_at.append((i, counted))
                if not counted:
                    continue
                out.partial += 1
                event = item.partial
            if isinstance(item, Signal | Shift):
                record, found = self.records[type(item)].convert(item.record, received_ms)
                out.problems.extend(ItemProblem(i, p.field, p.problem) for p in found)
                if record is not None:
                    others.append((item, record))
                continue
            out.events += 1
            record, found = self.converter.convert(event, received_ms)
            out.problems.extend(ItemProblem(i, p.field, p.problem) for p in found)
            if record is not None:
                records.append(record | (attach or {}))
        encode = self.codec.encode
        for item, record in others:
            if isinstance(item, Signal) and (is_consent(item) or not out.problems):
                out.signals.append((record["event_id"].encode(), encode(PERSON_SIGNAL, record)))
            elif isinstance(item, Shift) and not out.problems:
                out.shifts.append((record["event_id"].encode(), encode(VOLUNTEER_SHIFT, record)))
        if out.problems:
            return out
        for record in records:
            out.raw.append((record["event_id"].encode(), encode(CONTACT_EVENT, record)))
            out.event_ids.append(record["event_id"])
        at = received_ms if failed_ms is None else failed_ms
        for (i, counted), item in zip(unmapped_at, out.unmapped, strict=True):
            letter = unmapped_letter(original, item, origin, at, i, counted=counted)
            out.dlq.append((letter["dead_letter_id"].encode(), encode(DEAD_LETTER, letter)))
        return out


def unmapped_letter(
    original: bytes,
    unmapped: Unmapped,
    origin: Origin,
    now_ms: int,
    index: int = 0,
    *,
    counted: bool = False,
) -> dict[str, Any]:
    """The Avro-ready DeadLetter of an item the source's code map could not place;
    ``counted``: its contact went to contacts.raw and only its unmapped answers are held."""
    event_id = (
        event_id_for(origin.org_id, origin.source_system, unmapped.source_event_id)
        if unmapped.source_event_id
        else None
    )
    return dead_letter_record(
        original,
        stage=STAGE,
        code=unmapped.reason_code,
        reason=unmapped.reason,
        where=(origin.topic, origin.partition, origin.offset),
        event_id=event_id,
        org_id=origin.org_id,
        source_system=origin.source_system,
        failed_at=now_ms,
        index=index,
        counted=counted,
    )


def gateway_topic(source_id: str) -> str:
    """The dead letter's ``source_topic`` of items posted by a source to the gateway."""
    return f"gateway:{source_id}"


def import_topic(file_name: str) -> str:
    """The dead letter's ``source_topic`` of rows read from a file (or an API) by an importer."""
    return f"import:{file_name}"

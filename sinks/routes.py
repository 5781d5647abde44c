"""What the sink does with each topic: a table of routes, topic -> (decode, row, table).

The pipeline's own topics are registered by :func:`pipeline_routes`; other parts register
theirs (the data exchange: sinks/exchange_rows.py) with :meth:`Routes.add`. The consumer looks
a message's topic up here and nowhere else, so a new record type is one registration: its
topic, its row builder and its table's columns.

A route turns one message value into a :class:`Routed` (the table and row to insert, and when
the event was received, for the freshness histogram), or None when the message carries
nothing to store (a voter tombstone). It raises SchemaError, InputError, KeyError, TypeError,
ValueError or AttributeError on a message it cannot read; the consumer makes that a dead
letter (stage 'sink').
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import schemas
from core.settings import TopicNames
from schemas.codec import AvroCodec
from schemas.recordjson import PERSON_SIGNAL, VOLUNTEER_SHIFT
from sinks.corrections import CORRECTION_COLUMNS, correction_row
from sinks.people_rows import SHIFT_COLUMNS, SIGNAL_COLUMNS, shift_row, signal_row
from sinks.rows import (
    CONTACT_COLUMNS,
    DEAD_LETTER_COLUMNS,
    VOTER_COLUMNS,
    WRITEBACK_COLUMNS,
    Row,
    contact_ledger_key,
    contact_row,
    dead_letter_row,
    voter_row,
    writeback_row,
)

Where = tuple[str, int, int]
"""(topic, partition, offset) of a message."""


@dataclass(frozen=True, slots=True)
class Routed:
    table: str
    row: Row
    received_at: datetime | None = None


Route = Callable[[bytes | None, Where], Routed | None]


@dataclass
class Routes:
    """The sink's routing table and the columns of every table it writes."""

    by_topic: dict[str, Route] = field(default_factory=dict)
    columns: dict[str, Sequence[str]] = field(default_factory=dict)
    ledgered: dict[str, Callable[[Row], str]] = field(default_factory=dict)
    """Tables whose rows the sink checks against the ledger (sinks/ledger.py) before it
    inserts: table -> the row's ledger key (for contacts: the event id, and for a partial
    contact its held answers: schemas.ids.dedupe_key). Their last column is the batch token
    that stored the row (``stored_by``), which the consumer appends."""

    def add(
        self,
        topic: str,
        route: Route,
        columns: dict[str, Sequence[str]],
        ledgered: dict[str, Callable[[Row], str]] | None = None,
    ) -> None:
        """Route ``topic`` through ``route``, which writes the tables in ``columns``."""
        if topic in self.by_topic:
            raise ValueError(f"topic {topic} is routed twice")
        self.by_topic[topic] = route
        self.columns.update(columns)
        self.ledgered.update(ledgered or {})

    def topics(self) -> list[str]:
        return list(self.by_topic)


def utc(org_id: str, campaign_id: str) -> str:
    return "UTC"


def pipeline_routes(
    topics: TopicNames, codec: AvroCodec, zone_of: Callable[[str, str], str] = utc
) -> Routes:
    """The routes of contacts.enriched (and its bulk lane), contacts.dlq, voters,
    contacts.corrections, person.signals, volunteer.shifts and the write-back's states;
    ``zone_of(org, campaign)`` is each contact's clock (sinks/zones.py: programs.yaml)."""
    routes = Routes()

    def enriched(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=schemas.ENRICHED_CONTACT)
        c = rec["contact"]
        row = contact_row(rec, zone_of(c["org_id"], c["campaign_id"]))
        return Routed("contact_events", row, c["received_at"])

    def dead(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=schemas.DEAD_LETTER)
        return Routed("dead_letters", dead_letter_row(rec))

    def voter(value: bytes | None, where: Where) -> Routed | None:
        if value is None:  # a tombstone: the stream forgets the voter; the table keeps it
            return None
        _, rec = codec.decode(value, expect=schemas.VOTER)
        return Routed("voters", voter_row(rec))

    def signal(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=PERSON_SIGNAL)
        return Routed("person_signals", signal_row(rec), rec["received_at"])

    def shift(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=VOLUNTEER_SHIFT)
        return Routed("volunteer_shifts", shift_row(rec), rec["received_at"])

    for topic in (topics.enriched, topics.enriched_bulk):  # the live lane and the bulk lane
        routes.add(
            topic,
            enriched,
            {"contact_events": [*CONTACT_COLUMNS, "stored_by"]},
            ledgered={"contact_events": contact_ledger_key},
        )
    routes.add(topics.dlq, dead, {"dead_letters": DEAD_LETTER_COLUMNS})

    def correction(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=schemas.CORRECTION)
        return Routed("corrections", correction_row(rec))

    routes.add(topics.voters, voter, {"voters": VOTER_COLUMNS})
    routes.add(topics.corrections, correction, {"corrections": CORRECTION_COLUMNS})
    routes.add(topics.signals, signal, {"person_signals": SIGNAL_COLUMNS})
    routes.add(topics.shifts, shift, {"volunteer_shifts": SHIFT_COLUMNS})

    def writeback(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=schemas.WRITEBACK_STATUS)
        return Routed("van_writeback", writeback_row(rec))

    routes.add(topics.writeback, writeback, {"van_writeback": WRITEBACK_COLUMNS})
    return routes

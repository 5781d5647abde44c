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
from sinks.corrections import CORRECTION_COLUMNS, correction_row
from sinks.rows import (
    CONTACT_COLUMNS,
    DEAD_LETTER_COLUMNS,
    VOTER_COLUMNS,
    Row,
    contact_row,
    dead_letter_row,
    voter_row,
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

    def add(self, topic: str, route: Route, columns: dict[str, Sequence[str]]) -> None:
        """Route ``topic`` through ``route``, which writes the tables in ``columns``."""
        if topic in self.by_topic:
            raise ValueError(f"topic {topic} is routed twice")
        self.by_topic[topic] = route
        self.columns.update(columns)

    def topics(self) -> list[str]:
        return list(self.by_topic)


def utc(org_id: str, campaign_id: str) -> str:
    return "UTC"


def pipeline_routes(
    topics: TopicNames, codec: AvroCodec, zone_of: Callable[[str, str], str] = utc
) -> Routes:
    """The routes of contacts.enriched, contacts.dlq and voters; ``zone_of(org, campaign)``
    is each contact's clock (sinks/zones.py: programs.yaml)."""
    routes = Routes()

    def enriched(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=schemas.ENRICHED_CONTACT)
        c = rec["contact"]
        row = contact_row(rec, zone_of(c["org_id"], c["campaign_id"]))
        return Routed("contact_events", row, c["received_at"])

    def dead(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=schemas.DEAD_LETTER)
        return Routed("dead_letters", dead_letter_row(rec, where))

    def voter(value: bytes | None, where: Where) -> Routed | None:
        if value is None:  # a tombstone: the stream forgets the voter; the table keeps it
            return None
        _, rec = codec.decode(value, expect=schemas.VOTER)
        return Routed("voters", voter_row(rec))

    routes.add(topics.enriched, enriched, {"contact_events": CONTACT_COLUMNS})
    routes.add(topics.dlq, dead, {"dead_letters": DEAD_LETTER_COLUMNS})

    def correction(value: bytes | None, where: Where) -> Routed:
        _, rec = codec.decode(value or b"", expect=schemas.CORRECTION)
        return Routed("corrections", correction_row(rec))

    routes.add(topics.voters, voter, {"voters": VOTER_COLUMNS})
    routes.add(topics.corrections, correction, {"corrections": CORRECTION_COLUMNS})
    return routes

"""Held contacts, again: a dead letter's kept payload through the maps as they are now.

``fieldstream dlq replay`` reads the held contacts from the store (fieldstream/dlq.py) and
hands each one's letter here, as a :class:`HeldLetter`. :class:`Readmitter` turns it back
into adapter items the way it first came in, and the one intake hallway (producers/intake.py)
turns those into messages:

- ``gateway:<source id>``: the source's tool adapts what its route kept (VAN: the path and
  body; a webhook tool: the body) with the source's current codes, as of the time the
  contact first arrived (so a VAN body without ``dateCanvassed`` keeps its event id);
- ``import:<name>``: the import's recorded spec (its checkpoint in the data directory)
  rebuilds the tool's row adapter with today's codes or mapping file;
- a stream topic (the stream refused the event: an unknown campaign, say): the event as it
  was, since its tool's map already read it.

The event ids are the ones the contacts had (derived from the same tool ids), so a replay
adds nothing that landed before, and replaying twice sends the same messages twice: the
stream drops the second copy and the sink keeps one row per event id. What still does not map
goes back to the dead-letter topic under its same key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from core.config import SourceConfig
from core.errors import FieldstreamError, InputError, SchemaError
from core.producer import KafkaWriter
from core.settings import TopicNames
from producers.importers import checkpoint as cp
from producers.importers.runner import import_context
from producers.intake import Hallway, Origin, Prepared, gateway_topic, import_topic
from producers.tools import registry
from producers.tools.base import AdapterContext, Item
from schemas import CONTACT_EVENT, AvroCodec
from schemas.jsonconv import SET_BY_GATEWAY, record_json

SENT, PARTIAL, HELD, REFUSED, SKIPPED = "landing", "partial", "held", "refused", "skipped"
# fields only fieldstream's routes set on an event (VAN's van_request), not the sender's JSON
ATTACHED = frozenset(SET_BY_GATEWAY) - {"event_id", "received_at"}
# (items, origin, when the contact first arrived, the fields its route attaches to its events)
Readmitted = tuple[list[Item], Origin, int, dict[str, Any] | None]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class HeldLetter:
    """What a replay needs of one held contact's dead letter, and nothing more."""

    held_key: str  # the contact (its event id, or the letter's own position)
    event_id: str
    stage: str  # the stage that refused it: gateway (a map), or a stream stage
    origin: str  # gateway:<source id>, import:<name>, or the stream's topic
    received_ms: int  # when the contact first arrived
    original: bytes  # what the route, importer or stream kept of it


@dataclass
class Replayed:
    """What became of one held contact."""

    held_key: str
    status: str  # SENT, PARTIAL, HELD, REFUSED or SKIPPED
    detail: str = ""  # the reason still held, or why it was refused or skipped
    event_ids: list[str] = field(default_factory=list)


class Readmitter:
    """Held letters -> hallway messages, with the current sources, imports and maps."""

    def __init__(
        self, sources: Mapping[str, SourceConfig], data_dir: Path, codec: AvroCodec
    ) -> None:
        self.sources, self.data_dir, self.codec = sources, data_dir, codec
        self.hallway = Hallway(codec)
        self._imports: dict[str, tuple[Any, Any, bool]] = {}
        self._contexts: dict[str, AdapterContext] = {}  # a source's codes are read once

    def prepare(self, letter: HeldLetter, now_ms: int) -> Prepared:
        """The letter's messages; FieldstreamError (or a tool's InputError) when it cannot be
        adapted again, saying why."""
        items, origin, received_ms, attach = self._items(letter)
        return self.hallway.prepare(
            items, origin, letter.original, received_ms, attach, failed_ms=now_ms
        )

    def _items(self, letter: HeldLetter) -> Readmitted:
        kind, _, name = letter.origin.partition(":")
        if letter.stage == "gateway" and kind == "gateway":
            return self._from_source(name, letter)
        if letter.stage == "gateway" and kind == "import":
            return self._from_import(name, letter)
        if letter.stage != "gateway":
            return self._from_stream(letter)
        raise FieldstreamError(f"a letter from {letter.origin!r} cannot be replayed")

    def _from_source(self, source_id: str, letter: HeldLetter) -> Readmitted:
        source = self.sources.get(source_id)
        if source is None:
            raise FieldstreamError(f"source {source_id!r} is no longer in sources.yaml")
        tool = registry.tool(source.tool)
        received_at = _iso(letter.received_ms)
        if source_id not in self._contexts:
            self._contexts[source_id] = registry.context_for(source)
        ctx = dataclasses.replace(self._contexts[source_id], received_at=received_at)
        payload = _json(letter.original)
        attach = None
        if tool.readmit is not None:
            items, attach = tool.readmit(payload, ctx, received_at)
        elif tool.hook is not None:
            items = tool.hook(payload, ctx)
        else:
            raise FieldstreamError(f"tool {tool.name} has nothing to adapt a kept payload again")
        origin = Origin(
            source.id,
            source.org_id,
            source.tool,
            gateway_topic(source.id),
            hold_partial=source.partial_contacts == "hold",
        )
        return items, origin, letter.received_ms, attach

    def _from_import(self, name: str, letter: HeldLetter) -> Readmitted:
        if name not in self._imports:
            spec = cp.read_spec(self.data_dir, name)
            build = registry.tool(str(spec["tool"])).import_adapter
            if build is None:
                raise FieldstreamError(f"tool {spec['tool']} cannot replay its imports")
            hold = spec.get("partial_contacts") == "hold"
            self._imports[name] = (build(spec), import_context(spec), hold)
        adapt, ctx, hold = self._imports[name]
        row = _json(letter.original)
        if not isinstance(row, dict):
            raise FieldstreamError("the kept import row is not a JSON object")
        origin = Origin(
            ctx.source_id, ctx.org_id, ctx.source_system, import_topic(name), hold_partial=hold
        )
        return adapt(row, ctx), origin, letter.received_ms, None

    def _from_stream(self, letter: HeldLetter) -> Readmitted:
        try:
            record = self.codec.decode(letter.original, expect=CONTACT_EVENT)[1]
        except SchemaError as exc:
            raise FieldstreamError(f"the kept event cannot be decoded: {exc}") from exc
        received = record["received_at"]
        received_ms = (
            (received - _EPOCH) // dt.timedelta(milliseconds=1)
            if isinstance(received, dt.datetime)
            else 0
        )
        origin = Origin(
            f"stream:{letter.origin}",
            str(record["org_id"]),
            str(record["source_system"]),
            letter.origin,
        )
        # fields only fieldstream sets (VAN's van_request) are not part of the sender's JSON:
        # they ride along as they were
        attach = {k: record[k] for k in ATTACHED if record.get(k) is not None}
        return [record_json(record)], origin, received_ms or letter.received_ms, attach or None


def replay(
    letters: Iterable[HeldLetter],
    readmitter: Readmitter,
    writer: KafkaWriter,
    topics: TopicNames,
    now_ms: int,
) -> list[Replayed]:
    """Send every held letter's messages (events to ``topics.raw``, what still does not map to
    ``topics.dlq``) and wait until Kafka acked them all; what became of each letter."""
    out: list[Replayed] = []
    for letter in letters:
        try:
            prepared = readmitter.prepare(letter, now_ms)
        except FieldstreamError as exc:  # InputError (a tool's PayloadError), ConfigError...
            status = REFUSED if isinstance(exc, InputError) else SKIPPED
            out.append(Replayed(letter.held_key, status, str(exc)))
            continue
        if prepared.problems:
            problems = "; ".join(f"{p.field}: {p.problem}" for p in prepared.problems)
            out.append(Replayed(letter.held_key, REFUSED, problems))
            continue
        for key, value in prepared.raw:
            writer.send(topics.raw, key, value)
        for key, value in prepared.dlq:
            writer.send(topics.dlq, key, value)
        writer.poll(0)
        if len(prepared.unmapped) > prepared.partial:  # some of it still held whole
            held = [u for u in prepared.unmapped if u.partial is None] or prepared.unmapped
            status, detail = HELD, held[0].reason
        elif prepared.partial:
            status, detail = PARTIAL, prepared.unmapped[0].reason
        else:
            status, detail = SENT, ""
        out.append(Replayed(letter.held_key, status, detail, list(prepared.event_ids)))
    writer.flush(noun="replayed messages")
    return out


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


def _json(original: bytes) -> Any:
    try:
        return orjson.loads(original)
    except orjson.JSONDecodeError as exc:
        raise FieldstreamError(f"the kept payload is not JSON: {exc}") from exc

"""Keeping the gateway's journal (producers/journal.py): replay it to the broker, trim what the
store holds.

- :func:`replay` puts every journaled message back on its topic. ``fieldstream up`` runs it
  at start (a previous run may have died with acknowledged events only in the broker's
  memory) and whenever it restarted the broker. What the store already holds is dropped by
  the sink (sinks/ledger.py) and by the stream's dedupe, so a replay adds only what was lost.
- :func:`trim` deletes each closed segment once the store holds every message in it: raw
  events as contacts or dead letters (by event id), the gateway's dead letters by their id.
  A segment that is still not stored after ``max_age_s`` is deleted with a warning naming how
  many of its messages never reached the store (so the journal cannot grow for ever).

Both read the store and write to Kafka, which only the roof may do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.kafka import producer_config
from core.producer import KafkaWriter
from core.settings import Settings
from producers.journal import Entry, close_orphans, read_segment, replay_records, segments
from sinks.remote import StoreAccess
from sinks.sql import string_literal

log = logging.getLogger(__name__)

CHUNK = 500


@dataclass
class TrimReport:
    trimmed: int = 0
    kept: int = 0
    pending: int = 0  # messages of kept segments the store does not hold yet
    expired: int = 0  # segments deleted unstored after max_age_s


def replay(settings: Settings, writer: KafkaWriter | None = None) -> int:
    """Put every journaled message back on its topic; returns how many (once Kafka acked)."""
    directory = settings.gateway.journal_dir
    close_orphans(directory)
    out = writer or KafkaWriter(producer_config(settings.kafka))
    total = 0
    for path, entries in replay_records(directory):
        if entries:
            out.deliver_blocking((e.topic, None, e.key, e.value) for e in entries)
            total += len(entries)
            log.info("journal: replayed %d messages of %s", len(entries), path.name)
    return total


def _present(store: StoreAccess, sql: str, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        listed = ", ".join(string_literal(k) for k in keys[i : i + CHUNK])
        _, rows = store.query(sql.format(keys=listed))
        found.update(str(r[0]) for r in rows)
    return found


# where each journaled topic's messages end up, by their key
HELD_BY = {
    "raw": "SELECT event_id FROM contact_events WHERE event_id IN ({keys}) "
    "UNION ALL SELECT event_id FROM dead_letters WHERE event_id IN ({keys})",
    "dlq": "SELECT dead_letter_id FROM dead_letters WHERE dead_letter_id IN ({keys})",
    "signals": "SELECT event_id FROM person_signals WHERE event_id IN ({keys})",
    "shifts": "SELECT event_id FROM volunteer_shifts WHERE event_id IN ({keys})",
}


def unstored(store: StoreAccess, entries: Iterable[Entry], settings: Settings) -> int:
    """How many of ``entries`` the store does not hold (a message of a topic the journal does
    not know counts as not held: its segment is kept until it expires)."""
    topics = settings.kafka.topics
    by_topic = {getattr(topics, name): sql for name, sql in HELD_BY.items()}
    keys: dict[str, set[str]] = {}
    missing = 0
    for e in entries:
        if e.topic in by_topic and e.key:
            keys.setdefault(e.topic, set()).add(e.key.decode())
        else:
            missing += 1
    for topic, wanted in keys.items():
        held = _present(store, by_topic[topic], sorted(wanted))
        missing += len(wanted - held)
    return missing


def trim(
    settings: Settings,
    store: StoreAccess,
    *,
    max_age_s: float = 7 * 24 * 3600,
    now: float | None = None,
) -> TrimReport:
    """Delete the closed segments the store holds in full (see the module doc)."""
    report = TrimReport()
    at = time.time() if now is None else now
    for path in segments(settings.gateway.journal_dir):
        missing = unstored(store, read_segment(path), settings)
        if missing == 0:
            path.unlink(missing_ok=True)
            report.trimmed += 1
            continue
        if at - _created(path) > max_age_s:
            log.warning(
                "journal: %s is older than %.0f days and %d of its messages never reached "
                "the store; deleting it",
                path.name,
                max_age_s / 86400,
                missing,
            )
            path.unlink(missing_ok=True)
            report.expired += 1
            continue
        report.kept += 1
        report.pending += missing
    return report


def _created(path: Path) -> float:
    return int(path.stem.split("-", 1)[0]) / 1000

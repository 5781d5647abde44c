"""The voters topic again from the store, after the broker lost it.

The embedded broker keeps nothing across a restart; the stream enriches from the compacted
``voters`` topic. The store is the ledger: when the sink starts and finds the voters topic
empty while its ``voters`` table is not, it puts the table's voters back on the topic (the
latest version of each, in key order, in chunks), so the stream's voters come back without a
data manager loading the file again. In production the topic is durable and never empty once
loaded, so this never runs there.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from core.errors import BrokerError
from core.kafka import producer_config
from core.producer import KafkaWriter
from core.settings import KafkaSettings
from schemas import VOTER, AvroCodec
from schemas.ids import voter_key
from sinks.ledger import Query
from sinks.rows import VOTER_COLUMNS
from sinks.sql import string_literal

log = logging.getLogger(__name__)

CHUNK = 50_000
_GEOGRAPHY = {"county", "precinct", "congressional_district", "state_senate_district"}
_GEOGRAPHY |= {"state_house_district"}
_FIELDS = [c for c in VOTER_COLUMNS if c != "age_band"]


def topic_is_empty(kafka: KafkaSettings, topic: str) -> bool:
    """Whether every partition of ``topic`` has nothing to read (low == high watermark)."""
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": "fieldstream-sink-probe"}
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return True
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                return False
        return True
    except KafkaException as exc:
        raise BrokerError(f"cannot read the watermarks of {topic}: {exc}") from exc
    finally:
        consumer.close()


def voter_record(row: dict[str, Any]) -> dict[str, Any]:
    """A voters table row (as queried) -> the Voter record it was stored from."""
    rec = {name: row[name] for name in _FIELDS}
    for name in _GEOGRAPHY:
        rec[name] = rec[name] or None
    for name in ("birth_year", "age"):
        rec[name] = None if rec[name] is None else int(rec[name])
    return rec


def republish_voters(query: Query, kafka: KafkaSettings, codec: AvroCodec) -> int:
    """Put the store's voters on the voters topic when the topic is empty; returns how many."""
    topic = kafka.topics.voters
    if not topic_is_empty(kafka, topic):
        return 0
    started = time.monotonic()
    writer = KafkaWriter(producer_config(kafka))
    sent, after = 0, ""
    columns = ", ".join(_FIELDS)
    while True:
        where = f"WHERE (state, voter_id) > {after}" if after else ""
        rows = query(
            f"SELECT {columns} FROM voters FINAL {where} ORDER BY state, voter_id LIMIT {CHUNK}"
        )
        if not rows:
            break
        for values in rows:
            rec = voter_record(dict(zip(_FIELDS, values, strict=True)))
            key = voter_key(rec["state"], rec["voter_id"]).encode()
            writer.send(topic, key, codec.encode(VOTER, rec))
        writer.poll(0)
        sent += len(rows)
        last = dict(zip(_FIELDS, rows[-1], strict=True))
        after = f"({string_literal(last['state'])}, {string_literal(last['voter_id'])})"
    writer.flush(noun=f"voters on {topic}")
    if sent:
        log.info(
            "voters topic was empty: %d voters republished from the store in %.1fs",
            sent,
            time.monotonic() - started,
        )
    return sent

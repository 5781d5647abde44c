"""Shared Kafka plumbing: client configs, topic creation, waiting for the broker.

Used by every service; business logic never lives here.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from core.errors import BrokerError
from core.settings import KafkaSettings


def producer_config(kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """acks=all, idempotent, compressed: the only producer config the pipeline uses."""
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": kafka.compression,
        "linger.ms": 5,
        "batch.num.messages": 10000,
    }
    conf.update(overrides)
    return conf


def consumer_config(
    kafka: KafkaSettings,
    group_id: str,
    *,
    fetch_wait_ms: int,
    session_timeout_s: float,
    **overrides: Any,
) -> dict[str, Any]:
    """Manual commits, earliest reset, short fetch wait (Tansu holds fetches the full wait)."""
    conf: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": fetch_wait_ms,
        "session.timeout.ms": int(session_timeout_s * 1000),
        "heartbeat.interval.ms": max(100, int(session_timeout_s * 1000 / 6)),
    }
    conf.update(overrides)
    return conf


def wait_for_broker(bootstrap_servers: str, timeout_s: float = 30.0) -> None:
    """Block until the broker answers a metadata request."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0})
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=2)
            return
        except KafkaException as exc:
            last = exc
            time.sleep(0.2)
    raise BrokerError(f"Kafka at {bootstrap_servers} did not answer in {timeout_s:.0f}s") from last


def ensure_topics(kafka: KafkaSettings) -> list[str]:
    """Create the pipeline's topics if missing; returns the names created."""
    t = kafka.topics
    wanted = {
        t.raw: NewTopic(t.raw, kafka.partitions, 1),
        t.enriched: NewTopic(t.enriched, kafka.partitions, 1),
        t.dlq: NewTopic(t.dlq, 1, 1),
        t.corrections: NewTopic(t.corrections, 1, 1),
        t.suppressions: NewTopic(t.suppressions, 1, 1, config={"cleanup.policy": "compact"}),
        t.writeback: NewTopic(t.writeback, 1, 1),
        t.voters: NewTopic(t.voters, kafka.partitions, 1, config={"cleanup.policy": "compact"}),
        # the bulk lane, co-partitioned with the live one (the dedupe table covers both)
        t.raw_bulk: NewTopic(t.raw_bulk, kafka.partitions, 1),
        t.enriched_bulk: NewTopic(t.enriched_bulk, kafka.partitions, 1),
        t.signals: NewTopic(t.signals, kafka.partitions, 1),
        t.shifts: NewTopic(t.shifts, kafka.partitions, 1),
        t.quality_flags: NewTopic(t.quality_flags, 1, 1),
    }
    return create_missing_topics(kafka.bootstrap_servers, list(wanted.values()))


def create_missing_topics(bootstrap: str, topics: list[NewTopic]) -> list[str]:
    """Create those of ``topics`` the broker lacks (it may not auto-create them); returns the
    names created. A topic another process created meanwhile is fine."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except KafkaException as exc:
        raise BrokerError(f"cannot list topics at {bootstrap}: {exc}") from exc
    missing = [t for t in topics if t.topic not in existing]
    if not missing:
        return []
    created = []
    for name, fut in admin.create_topics(missing).items():
        try:
            fut.result(timeout=15)
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise BrokerError(f"cannot create topic {name}: {exc}") from exc
    return created

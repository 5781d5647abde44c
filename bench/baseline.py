"""The raw baseline for bench/pipeline.py: plain confluent-kafka produce -> consume -> chDB
insert, no logic. Run in its own process (chDB: one process per data directory).

    python -m bench.baseline BOOTSTRAP TOPIC N CHDB_DIR  -> prints one JSON line

The consumer inserts the raw bytes (hex) with the key: no decoding, no logic.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import threading
import time

import clickhouse_connect
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.events import BenchState, good_events
from core.kafka import consumer_config, producer_config
from core.settings import KafkaSettings
from schemas import CONTACT_EVENT, AvroCodec
from schemas.jsonconv import ContactJson


def run(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    chdb_dir: str,
    batch: int = 10_000,
    flush_interval_s: float = 0.25,
) -> dict[str, float]:
    """Producer thread and consumer loop run at once, like the pipeline's stages; batches are
    inserted at ``batch`` rows or ``flush_interval_s`` (the sink's defaults)."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, kafka.partitions, 1)])[topic].result(15)
    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_dir}")
    client.command(
        "CREATE TABLE IF NOT EXISTS raw_baseline (k String, v String) ENGINE = MergeTree ORDER BY k"
    )
    consumer = Consumer(
        consumer_config(
            kafka,
            f"baseline-{time.time_ns()}",
            fetch_wait_ms=20,
            session_timeout_s=6,
            **{"enable.auto.offset.store": True},
        )
    )
    consumer.subscribe([topic])
    joined = time.monotonic() + 60
    while not consumer.assignment() and time.monotonic() < joined:
        consumer.consume(1, 0.2)  # join the group before the clock starts

    def produce() -> None:
        producer = Producer(producer_config(kafka))
        for i, value in enumerate(values):
            producer.produce(topic, key=str(i).encode(), value=value)
            if i % 1000 == 0:
                producer.poll(0)
        producer.flush(60)

    start = time.perf_counter()
    producer_thread = threading.Thread(target=produce)
    producer_thread.start()
    inserted = 0
    rows: list[list[bytes]] = []
    first_row_at = 0.0
    deadline = time.monotonic() + 300
    while inserted < len(values) and time.monotonic() < deadline:
        for m in consumer.consume(batch, 0.02):
            key, data = m.key(), m.value()
            if m.error() is None and key is not None and data is not None:
                if not rows:
                    first_row_at = time.monotonic()
                rows.append([key, data])
        due = time.monotonic() - first_row_at >= flush_interval_s
        if rows and (len(rows) >= batch or due or inserted + len(rows) >= len(values)):
            client.insert(
                "raw_baseline", rows, column_names=["k", "v"], settings={"async_insert": 0}
            )
            consumer.commit(asynchronous=False)
            inserted += len(rows)
            rows = []
    end = time.perf_counter()
    producer_thread.join()
    consumer.close()
    return {"events": inserted, "seconds": end - start}


def encoded_events(n: int) -> list[bytes]:
    """The same kind of events the pipeline run sends, as the gateway would put them on Kafka."""
    now = dt.datetime.now(dt.UTC)
    state = BenchState(headers={}, voter_ids=[f"B{i:07d}" for i in range(5000)])
    converter, codec = ContactJson(), AvroCodec()
    values = []
    for event in good_events(state, random.Random(3), n, now, "baseline"):
        record, problems = converter.convert(event, int(now.timestamp() * 1000))
        if record is None:
            raise SystemExit(f"bench event does not fit the standard: {problems}")
        values.append(codec.encode(CONTACT_EVENT, record))
    return values


if __name__ == "__main__":
    bootstrap, topic, n, chdb_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    print(json.dumps(run(bootstrap, topic, encoded_events(n), chdb_dir)))

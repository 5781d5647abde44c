"""Build the Faust app from settings (the agents, tables and pages are added by
:func:`streams.agents.contacts.register`)."""

from __future__ import annotations

import faust

from core.settings import Settings
from streams import transport


def create_app(settings: Settings) -> faust.App:
    s, kafka = settings.stream, settings.kafka
    datadir = settings.data_dir / "stream"  # faust keeps little here with the memory store
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        s.app_id,
        broker=f"kafka://{kafka.bootstrap_servers}",
        store="memory://",
        topic_partitions=kafka.partitions,
        topic_disable_leader=True,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=s.session_timeout_s,
        broker_heartbeat_interval=max(0.1, s.session_timeout_s / 6),
        broker_rebalance_timeout=max(2 * s.session_timeout_s, 10.0),
        producer_compression_type=kafka.compression,
        web_enabled=True,
        web_bind=s.web_host,
        web_host=s.web_host,
        web_port=s.web_port,
        datadir=str(datadir),
        # contacts.raw and its bulk lane arrive as whole fetched batches (streams/batches.py):
        # a fetch returns at most batch_max records, and a few batches queued are plenty
        broker_max_poll_records=s.batch_max,
        stream_buffer_maxsize=8,
    )
    transport.install(app, s.fetch_wait_ms, frozenset({kafka.topics.raw, kafka.topics.raw_bulk}))
    return app

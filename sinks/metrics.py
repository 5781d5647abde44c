"""The sink's Prometheus metrics (served on its /metrics page)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from core.metrics import Metrics


class SinkMetrics(Metrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        self.rows = self.counter(
            "fieldstream_sink_rows_inserted",
            "Rows inserted, by table",
            ["table"],
        )
        self.insert_seconds = self.histogram(
            "fieldstream_sink_insert_seconds",
            "Time to insert one batch (all its tables)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.freshness = self.histogram(
            "fieldstream_sink_freshness_seconds",
            "From gateway receipt (received_at) to insert into ClickHouse",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.last_insert = self.gauge(
            "fieldstream_sink_last_insert_timestamp_seconds",
            "Unix time of the last successful insert",
        )
        self.insert_failures = self.counter(
            "fieldstream_sink_insert_failures",
            "Failed insert attempts (retried)",
        )
        self.undecodable = self.counter(
            "fieldstream_sink_undecodable",
            "Messages the sink could not decode (written to dead_letters)",
            ["topic"],
        )
        self.without_row = self.counter(
            "fieldstream_sink_messages_without_row",
            "Messages with nothing to store (voter tombstones), by topic",
            ["topic"],
        )
        self.already_stored = self.counter(
            "fieldstream_sink_already_stored",
            "Rows not inserted because the store already held them from another batch",
            ["table"],
        )
        self.healed = self.counter(
            "fieldstream_sink_rollups_fed_again",
            "Stored contacts whose rollups were fed again (stored before a restart, sent again)",
            ["table"],
        )
        self.paused = self.gauge(
            "fieldstream_sink_paused_partitions",
            "Partitions paused because their batch's insert failed (retried with backoff)",
        )
        self.lag = self.gauge(
            "fieldstream_sink_consumer_lag",
            "Messages on the broker the sink has not read yet (high watermark - position)",
            ["topic", "partition"],
        )
